"""Why does BN help? The note's covariate-shift intuition beside Santurkar et al. (2018).

The note's intuition: the parameters of the layers below change while a network trains, so
the input of a deeper layer drifts ("covariance drift"); BN at least keeps its mean and
variance fixed. Santurkar, Tsipras, Ilyas & Madry, "How Does Batch Normalization Help
Optimization?" (NeurIPS 2018), test that intuition two ways, and this module repeats both
on bnviz's small network:

(a) **Noisy BN.** After BN, each unit's z̃ becomes s·z̃ + d with a fresh random scale s and
    shift d at every training step (``Settings.bn_noise``; inference adds none). The
    distribution of every deeper layer's input now moves at every step, far more than
    without BN, yet in the paper the network trains about as well as with plain BN.
    :func:`noise_settings` are the three runs (BN, noisy BN, no BN); :func:`noisy_drift`
    measures the covariate-shift view's drift of the sigmoid's input with the noise in it.
(b) **The loss landscape along training.** At probe steps t, on step t's mini-batch in
    training mode, with the gradient g of that batch's loss at the weights θ_t::

        loss variation        max_η L(θ_t − η g) − min_η L(θ_t − η g)
        gradient change       ‖∇L(θ_t) − ∇L(θ_t − η g)‖   for each η
        effective smoothness  max_η ‖∇L(θ_t) − ∇L(θ_t − η g)‖ / ‖η g‖

    over step sizes η = lr × ``STEP_MULTIPLIERS``. The paper finds all three smaller with
    BN: the loss changes less, and the gradient predicts the next gradient better, along
    the direction the optimizer moves. :class:`LandscapeRecorder` measures them in the
    engine's own loop (``engine.Recorder.on_step``, after step t's update); the probe
    moves along −g, which is the optimizer's step (times η/lr) for plain SGD only:
    momentum and Adam step elsewhere, and the probe still moves along −g.

No Streamlit and no Plotly here: the "Why does BN help?" page places what these return.
pandas and :mod:`bnviz.teach` (which imports pandas) are imported where they are used: the
server computes :func:`landscape` in a worker process (``bnviz.workers.Trainer.call``), and
a worker imports NumPy and the core only (pandas would be most of its memory).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import DTypeLike, NDArray

from . import engine, nn
from .settings import Settings
from .train import PERCENTILES, Run

if TYPE_CHECKING:
    import pandas as pd

PROBES = 20  # probe steps per run: every 5 % of training
STEP_MULTIPLIERS = (0.25, 0.5, 1.0, 2.0, 4.0)  # the probe's step sizes η, in units of lr
NOISE_CHOICES = (0.5, 1.0, 2.0, 3.0)  # the page's choices of Settings.bn_noise
DEFAULT_NOISE = 1.0
# The two networks the view trains, both with plain SGD (its step is −lr·g, so the probe's
# η = lr is the step training took): the covariate-shift view's experiment (its BN and no-BN
# runs are that view's, shared in the run cache) and the Explorer's network.
NETWORKS = {
    "covariate": "the covariate-shift view's: 8×8 digits, 3 × 100 sigmoid units, m = 60",
    "explorer": "the Explorer's: moons, 4 × 12 sigmoid units, m = 32",
}
DEFAULT_NETWORK = "covariate"


def base_settings(network: str = DEFAULT_NETWORK) -> Settings:
    """The view's network ``network`` (a key of NETWORKS), with BN and no noise."""
    if network == "covariate":
        from . import teach

        return teach.covariate_settings(True)
    if network == "explorer":
        return Settings(optimizer="sgd", lr=0.5)
    raise ValueError(f"network must be one of {tuple(NETWORKS)}, got {network!r}")


def noise_settings(base: Settings, noise: float) -> tuple[Settings, Settings, Settings]:
    """The noisy-BN experiment's three runs: plain BN, BN with ``noise`` after it, no BN."""
    return (
        base.replace(use_bn=True, bn_noise=0.0),
        base.replace(use_bn=True, bn_noise=noise),
        base.replace(use_bn=False, bn_noise=0.0),
    )


def probe_steps(steps: int, probes: int = PROBES) -> NDArray[np.int64]:
    """About ``probes`` evenly spaced steps from steps/probes to ``steps`` (each ≥ 1)."""
    return np.unique(np.maximum(np.linspace(steps / probes, steps, probes).round(), 1).astype(np.int64))


# --------------------------------------------------------------------------------------
# (b) The loss landscape along training
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Landscape:
    """What the probes measured for one model (``settings``), at ``steps``.

    ``eta[j]`` = lr × STEP_MULTIPLIERS[j]. Probes after the model stopped (diverged) are NaN.
    """

    settings: Settings
    steps: NDArray[np.int64]  # (n,) the probe steps
    eta: NDArray[np.float64]  # (J,) the step sizes
    loss: NDArray[np.float64]  # (n,) L(θ_t) on step t's mini-batch
    grad_norm: NDArray[np.float64]  # (n,) ‖∇L(θ_t)‖
    probe_loss: NDArray[np.float64]  # (n, J) L(θ_t − η_j g)
    grad_change: NDArray[np.float64]  # (n, J) ‖∇L(θ_t) − ∇L(θ_t − η_j g)‖

    @property
    def loss_variation(self) -> NDArray[np.float64]:
        """(n,) max − min over η of L(θ_t − η g): how much the loss varies along the gradient."""
        return np.ptp(self.probe_loss, axis=1)

    @property
    def max_grad_change(self) -> NDArray[np.float64]:
        """(n,) the largest ‖∇L(θ_t) − ∇L(θ_t − η g)‖ over η: how badly g predicts the next gradient."""
        return self.grad_change.max(axis=1)

    @property
    def smoothness(self) -> NDArray[np.float64]:
        """(n,) max over η of ‖∇L(θ_t) − ∇L(θ_t − η g)‖ / ‖η g‖: the paper's "effective
        β-smoothness", a step-size-free measure (NaN where g = 0)."""
        moved = self.eta[None, :] * self.grad_norm[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = self.grad_change / moved
        ok = np.isfinite(ratio) & (moved > 0)
        largest = np.where(ok, ratio, -np.inf).max(axis=1)
        return np.where(ok.any(axis=1), largest, np.nan)

    def table(self) -> pd.DataFrame:
        """One row per probe step: its loss, the band of L(θ_t − η g), and the gradient's change."""
        import pandas as pd

        return pd.DataFrame({
            "step": self.steps,
            "loss": self.loss,
            "loss_min": self.probe_loss.min(axis=1),
            "loss_max": self.probe_loss.max(axis=1),
            "loss_variation": self.loss_variation,
            "grad_norm": self.grad_norm,
            "grad_change_min": self.grad_change.min(axis=1),
            "grad_change_max": self.max_grad_change,
            "smoothness": self.smoothness,
        })


@dataclass(frozen=True)
class Summary:
    """One number per measure for a run: the median over its probe steps."""

    loss_variation: float
    grad_change: float
    smoothness: float
    grad_norm: float


def summary(ls: Landscape) -> Summary:
    """The medians over the probe steps (NaN probes of a stopped model left out)."""

    def med(values: NDArray) -> float:
        ok = values[np.isfinite(values)]
        return float(np.median(ok)) if len(ok) else float("nan")

    return Summary(med(ls.loss_variation), med(ls.max_grad_change), med(ls.smoothness), med(ls.grad_norm))


class LandscapeRecorder(engine.Recorder):
    """Probes the loss landscape of every model of a stack at ``steps``.

    ``on_step(t, ...)`` comes after step t's update, so the weights are θ_t. Step t's
    mini-batch is the input of hidden layer 1 (``taps[0].a_prev``); its labels are found by
    its rows (each model's training rows are distinct or share their label, checked here).
    The probe runs on a copy of the network, so training goes on untouched.
    """

    def __init__(self, stack: engine.Stack, steps: NDArray[np.int64] | Sequence[int],
                 multipliers: Sequence[float] = STEP_MULTIPLIERS) -> None:
        self.steps = np.asarray(steps, np.int64)
        self.index = {int(t): i for i, t in enumerate(self.steps)}
        K, n, J = stack.K, len(self.steps), len(multipliers)
        self.lr = np.array([s.lr for s in stack.settings], np.float64)
        self.eta = self.lr[:, None] * np.asarray(multipliers, np.float64)[None, :]  # (K, J)
        self.loss = np.full((K, n), np.nan)
        self.grad_norm = np.full((K, n), np.nan)
        self.probe_loss = np.full((K, n, J), np.nan)
        self.grad_change = np.full((K, n, J), np.nan)
        like = stack.net
        self.net = nn.create(like.sizes, like.activation, like.use_bn, np.asarray(like.eps).copy(),
                             lead=(K,), dtype=like.theta.dtype.type)  # fmt: skip
        self.rows = [_row_index(stack.X_train[k], stack.y_train[k]) for k in range(K)]
        self.C = stack.Y_train.shape[-1]

    def labels(self, X: NDArray) -> NDArray:
        """One-hot labels (K, m, C) of each model's mini-batch X (K, m, d), by its rows."""
        K, m = X.shape[:2]
        y = np.empty((K, m), np.intp)
        for k in range(K):
            index = self.rows[k]
            for i in range(m):
                y[k, i] = index[X[k, i].tobytes()]
        return np.eye(self.C, dtype=X.dtype)[y]

    def on_step(self, t: int, loss: NDArray, taps: list[nn.Tap], stack: engine.Stack) -> None:
        i = self.index.get(t)
        if i is None:
            return
        X = taps[0].a_prev
        Y = self.labels(X)
        theta = stack.net.theta.copy()
        loss0, g0 = loss_and_gradient(self.net, theta, X, Y)
        alive = stack.alive.copy()
        self.loss[alive, i] = loss0[alive]
        self.grad_norm[alive, i] = np.linalg.norm(g0, axis=1)[alive]
        for j in range(self.eta.shape[1]):
            loss_j, g_j = loss_and_gradient(self.net, theta - self.eta[:, j : j + 1] * g0, X, Y)
            self.probe_loss[alive, i, j] = loss_j[alive]
            self.grad_change[alive, i, j] = np.linalg.norm(g0 - g_j, axis=1)[alive]

    def landscapes(self, stack: engine.Stack) -> list[Landscape]:
        return [
            Landscape(settings=s, steps=self.steps, eta=self.eta[k], loss=self.loss[k],
                      grad_norm=self.grad_norm[k], probe_loss=self.probe_loss[k],
                      grad_change=self.grad_change[k])
            for k, s in enumerate(stack.settings)
        ]  # fmt: skip


def _row_index(X: NDArray, y: NDArray) -> dict[bytes, int]:
    """Each training row's bytes -> its label; rows that repeat must share their label."""
    index: dict[bytes, int] = {}
    for row, label in zip(X, y):
        key = row.tobytes()
        if index.setdefault(key, int(label)) != label:
            raise ValueError("two training examples with equal features have different labels")
    return index


def loss_and_gradient(net: nn.MLP, theta: NDArray, X: NDArray, Y: NDArray) -> tuple[NDArray, NDArray]:
    """Training-mode loss (K,) and gradient (K, P) of ``net`` at weights ``theta`` on (X, Y)."""
    net.theta[...] = theta
    with np.errstate(all="ignore"):
        logits, taps = nn.forward(net, X)
        loss = nn.backward(net, logits, taps, Y)
    return np.asarray(loss, np.float64), net.grad.astype(np.float64)


def landscape(
    settings: Sequence[Settings],
    probes: int = PROBES,
    multipliers: Sequence[float] = STEP_MULTIPLIERS,
    dtype: DTypeLike = np.float64,
) -> list[Landscape]:
    """Train each of ``settings`` (one stack: they must share ``engine.GROUP_FIELDS``, e.g.
    seeds of one network) and probe the landscape at ``probe_steps(steps, probes)``."""
    stack = engine.Stack.create(list(settings), dtype)
    recorder = LandscapeRecorder(stack, probe_steps(stack.settings[0].steps, probes), multipliers)
    engine.train(stack, recorder)
    return recorder.landscapes(stack)


def landscape_pair(
    base: Settings, seeds: int = 1, probes: int = PROBES
) -> tuple[list[Landscape], list[Landscape]]:
    """The landscapes of ``base`` with BN and without (no noise), ``seeds`` seeds each from base.seed."""
    out = []
    for use_bn in (True, False):
        s = base.replace(use_bn=use_bn, bn_noise=0.0)
        out.append(landscape([s.replace(seed=s.seed + k) for k in range(seeds)], probes))
    return out[0], out[1]


# --------------------------------------------------------------------------------------
# (a) Noisy BN: the covariate-shift view's drift, with the noise in it
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoiseResult:
    """The noisy-BN experiment's numbers for the three runs."""

    labels: tuple[str, str, str]
    final_test_acc: tuple[float, float, float]
    drift: tuple[float, float, float]  # the median over units of the p50 range of the sigmoid input
    spread: tuple[float, float, float]  # the median over units of the change of its 15–85 width


def step_noise(settings: Settings, steps: Sequence[int] | NDArray[np.integer]) -> tuple[NDArray, NDArray]:
    """The noise after BN (s, d) that training with ``settings`` draws at each of ``steps``:
    arrays (len(steps), depth, width); s = 1, d = 0 without noise.

    Replays the engine's documented draws (``bnviz.engine``): the generator
    ``np.random.default_rng([seed, 2])`` draws, at every step 1, 2, ..., all layers' s ~
    U(1/(1+n), 1+n), then all layers' d ~ U(−n, n). Steps after the run's last are the
    draws training would have made next.
    """
    steps = np.asarray(steps, np.int64)
    shape = (settings.depth, settings.width)
    s = np.ones((len(steps), *shape))
    d = np.zeros((len(steps), *shape))
    n = settings.bn_noise if settings.use_bn else 0.0
    if n == 0 or not len(steps):
        return s, d
    rng = np.random.default_rng([settings.seed, 2])
    want = {int(t): i for i, t in enumerate(steps)}
    for t in range(1, int(steps.max()) + 1):
        scale = rng.uniform(1 / (1 + n), 1 + n, shape)
        shift = rng.uniform(-n, n, shape)
        if t in want:
            s[want[t]], d[want[t]] = scale, shift
    return s, d


def noisy_percentiles(run: Run, layer: int = -1) -> NDArray[np.float64]:
    """The 15th/50th/85th percentiles of hidden layer ``layer``'s sigmoid input over the
    training set at every checkpoint, (k, 3, units), with noise after BN in them: at the
    checkpoint of step t, the noise of step t + 1, the one the next forward pass at these
    weights adds.

    The run records the percentiles of z̃ without noise; with s > 0 (s ~ U(1/(1+n), 1+n))
    the percentiles of s·z̃ + d are s·(those of z̃) + d, exactly.
    """
    from . import teach

    q = run.quantities.index(teach.sigmoid_input(run))
    p = run.layers[layer].percentiles[:, q].astype(np.float64)  # (k, 3, units)
    if not run.settings.use_bn or run.settings.bn_noise == 0:
        return p
    s, d = step_noise(run.settings, run.ckpt_steps.astype(np.int64) + 1)
    return p * s[:, None, layer, :] + d[:, None, layer, :]


def drift_of(percentiles: NDArray) -> tuple[float, float]:
    """The covariate-shift view's drift (``teach.percentile_drift``, ``teach.median_drift``) of
    percentiles (k, 3, units): the median over units of how far the median moved (max − min
    over the checkpoints) and of how much the 15–85 width changed."""
    width = percentiles[:, 2] - percentiles[:, 0]
    return float(np.median(np.ptp(percentiles[:, 1], axis=0))), float(np.median(np.ptp(width, axis=0)))


def noise_result(runs: Sequence[Run], labels: tuple[str, str, str]) -> NoiseResult:
    """Final test accuracy and drift of the sigmoid input of the last hidden layer, per run."""
    accs, drifts, spreads = [], [], []
    for run in runs:
        accs.append(float(run.curves["test_acc"].iloc[-1]))
        drift, spread = drift_of(noisy_percentiles(run))
        drifts.append(drift)
        spreads.append(spread)
    return NoiseResult(labels, tuple(accs), tuple(drifts), tuple(spreads))  # type: ignore[arg-type]


def percentile_tracks(run: Run, unit: int, layer: int = -1) -> pd.DataFrame:
    """One unit's percentiles (with the noise in them) at every checkpoint, as
    ``teach.percentile_track`` lays them out: step, p15, p50, p85."""
    import pandas as pd

    p = noisy_percentiles(run, layer)[:, :, unit]
    df = pd.DataFrame({"step": run.ckpt_steps.astype(int)})
    for i, pct in enumerate(PERCENTILES):
        df[f"p{pct}"] = p[:, i]
    return df

"""Many configurations trained at once, vectorized across models.

Configurations that share every shape (dataset, batch size, depth, width, activation,
BN on/off, optimizer, steps) form a *group*. A group's K models are stacked along a
leading axis -- ``theta`` of shape ``(K, P)``, ``W[l]`` of shape ``(K, n_in, n_out)``,
mini-batches of shape ``(K, m, n_in)`` -- so one batched NumPy computation trains all
of them. Everything else (ε, γ/β init, frozen γ/β, EWA decay, bias correction,
learning rate, noise, seed) may differ from model to model.

Each model follows exactly what :func:`bnviz.train.train` does for its Settings: the
same data (``data.load(dataset, noise, seed)``), the same generator
(``np.random.default_rng([seed, 1])`` for the initial weights, then one permutation
per epoch), the same running estimates and the same checkpoints. Its final metrics
are the last checkpoint row ``train(settings).curves`` would show, plus a few the
sweep adds (steps to a target accuracy, error of the running estimates, the
mini-batch-vs-inference gap).

A model whose loss explodes (not ``<= train.DIVERGED_LOSS``) or whose weights stop
being finite at a checkpoint is *diverged*: its results freeze at its last checkpoint,
as ``train`` stops there, and it keeps being computed on its last good weights (so no NaN reaches any
arithmetic) without affecting the others.

Usage::

    from bnviz import Settings
    from bnviz.sweep import SweepSpec, run, summarize
    spec = SweepSpec(params=(("batch_size", (4, 16, 64)), ("lr", (0.01, 0.1))), seeds=3)
    table = run(spec)                                   # one row per config and seed
    summarize(table, spec.names, "test_acc")            # mean and spread over seeds
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import DTypeLike, NDArray

from . import data, nn
from .optim import Optimizer
from .settings import Settings
from .train import DIVERGED_LOSS, checkpoint_steps

Progress = Callable[[int, int], None]

# Settings that fix array shapes or code paths: models differing in them cannot be stacked.
GROUP_FIELDS = ("dataset", "batch_size", "depth", "width", "activation", "use_bn", "optimizer", "steps")
# Settings that may differ between the stacked models of one group.
MODEL_FIELDS = (
    "noise",
    "eps",
    "gamma_init",
    "beta_init",
    "freeze_affine",
    "decay",
    "bias_correction",
    "lr",
    "seed",
)
# What a sweep may vary (the seed is varied by ``SweepSpec.seeds`` instead).
SWEEPABLE = (
    "batch_size",
    "eps",
    "decay",
    "lr",
    "gamma_init",
    "beta_init",
    "use_bn",
    "activation",
    "bias_correction",
    "freeze_affine",
    "optimizer",
    "depth",
    "width",
    "dataset",
    "noise",
    "steps",
)
MEMORY_BUDGET = 256 * 2**20  # bytes of activations one stacked chunk may use


@dataclass(frozen=True)
class Metric:
    label: str
    help: str
    higher_is_better: bool | None  # None: neither (a signed difference)
    fmt: str = ".1%"


METRICS: dict[str, Metric] = {
    "test_acc": Metric(
        "Test accuracy",
        "Final test accuracy with the statistics the explorer uses "
        "(running estimates; bias-corrected when that switch is on).",
        True,
    ),
    "test_acc_running": Metric(
        "Test accuracy, running statistics", "Inference with the EWA running estimates of μ and σ².", True
    ),
    "test_acc_corrected": Metric(
        "Test accuracy, bias-corrected running statistics",
        "Inference with the running estimates divided by 1 − decayᵗ.",
        True,
    ),
    "test_acc_population": Metric(
        "Test accuracy, population statistics",
        "Inference with μ and σ² of the whole training set under the final weights.",
        True,
    ),
    "test_acc_batch": Metric(
        "Test accuracy, batch statistics", "The whole test set normalized with its own μ and σ².", True
    ),
    "train_acc": Metric("Train accuracy", "Final training-set accuracy (explorer's statistics).", True),
    "gap": Metric(
        "Train/test gap", "Train accuracy minus test accuracy: how much the network overfits.", None
    ),
    "train_acc_minibatch": Metric(
        "Train accuracy in training mode",
        "Training set cut into mini-batches of m, each normalized with its own μ_B and σ²_B, "
        "as during training.",
        True,
    ),
    "mode_gap": Metric(
        "Training-mode vs inference gap",
        "Train accuracy with mini-batch statistics minus train accuracy with the running estimates: "
        "the train/inference mismatch Batch Renormalization was designed to remove.",
        None,
    ),
    "loss": Metric(
        "Final loss", "Mean mini-batch cross-entropy over the last checkpoint interval.", False, ".3f"
    ),
    "steps_to_target": Metric(
        "Steps to target accuracy",
        "First checkpoint step at which the test accuracy reaches the target (empty when it never does).",
        False,
        ".0f",
    ),
    "running_mu_err": Metric(
        "Running μ error",
        "Mean over BN units of |running μ − population μ| / √(population σ² + ε): "
        "how many standard deviations the inference-time mean is off.",
        False,
        ".3f",
    ),
    "running_var_err": Metric(
        "Running σ² error",
        "Mean over BN units of |running σ² − population σ²| / (population σ² + ε): "
        "the relative error of the inference-time variance.",
        False,
        ".3f",
    ),
    "diverged": Metric(
        "Diverged", "Share of seeds whose loss exploded (training stopped early).", False, ".0%"
    ),
}

SETTINGS_COLUMNS = tuple(f.name for f in dataclasses.fields(Settings))
RESULT_COLUMNS = (*METRICS, "diverged_at", "steps_done")


@dataclass(frozen=True)
class SweepSpec:
    """One or more settings, each over a list of values; every combination, several seeds.

    ``params`` is ``((name, (value, ...)), ...)``; all other settings come from ``base``.
    Seeds are ``base.seed, base.seed + 1, ...``. Hashable, so it can key a cache.
    """

    params: tuple[tuple[str, tuple[Any, ...]], ...]
    base: Settings = field(default_factory=Settings)
    seeds: int = 1
    target: float = 0.9

    def __post_init__(self) -> None:
        if not self.params:
            raise ValueError("params: name at least one setting to sweep")
        names = [name for name, _ in self.params]
        for name, values in self.params:
            if name not in SWEEPABLE:
                raise ValueError(
                    f"{name}: not a setting a sweep can vary; choose from {', '.join(SWEEPABLE)}"
                )
            if not values:
                raise ValueError(f"{name}: give at least one value")
        if len(set(names)) != len(names):
            raise ValueError("params: each setting may be swept only once")
        if not isinstance(self.seeds, int) or not 1 <= self.seeds <= 100:
            raise ValueError(f"seeds: must be a whole number from 1 to 100, got {self.seeds!r}")
        if not 0.0 <= self.target <= 1.0:
            raise ValueError(f"target: must be an accuracy between 0 and 1, got {self.target!r}")
        if self.base.seed + self.seeds - 1 > Settings.spec("seed").hi:  # type: ignore[operator]
            raise ValueError("seeds: base seed + seeds runs past the largest seed")
        self.configs()  # every combination must be valid Settings

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.params)

    def configs(self) -> list[Settings]:
        """Every combination of the swept values (seed = ``base.seed``), first parameter slowest."""
        out = []
        for combo in itertools.product(*(values for _, values in self.params)):
            out.append(self.base.replace(**dict(zip(self.names, combo))))
        return out

    def runs(self) -> list[Settings]:
        """Every configuration times every seed."""
        return [c.replace(seed=c.seed + i) for c in self.configs() for i in range(self.seeds)]

    def size(self) -> int:
        """Models to train (configurations x seeds)."""
        return int(np.prod([len(v) for _, v in self.params])) * self.seeds


def group_key(s: Settings) -> tuple:
    """Models with equal keys share every array shape and code path, so they stack."""
    return tuple(getattr(s, name) for name in GROUP_FIELDS)


def groups(settings: Sequence[Settings]) -> dict[tuple, list[int]]:
    """Indices of ``settings`` by group, in first-appearance order."""
    out: dict[tuple, list[int]] = {}
    for i, s in enumerate(settings):
        out.setdefault(group_key(s), []).append(i)
    return out


def run(spec: SweepSpec, progress: Progress | None = None, max_stack: int | None = None) -> pd.DataFrame:
    """Train every configuration and seed of ``spec``: one row each (settings, then metrics).

    The column ``config`` numbers the configurations (equal for all seeds of one).
    """
    runs = spec.runs()
    table = train_many(runs, target=spec.target, progress=progress, max_stack=max_stack)
    table.insert(0, "config", np.repeat(np.arange(len(runs) // spec.seeds), spec.seeds))
    return table


def train_many(
    settings: Sequence[Settings],
    target: float | None = 0.9,
    progress: Progress | None = None,
    max_stack: int | None = None,
    dtype: DTypeLike = np.float64,
) -> pd.DataFrame:
    """Train each Settings (grouped and stacked); one row per Settings, in the given order.

    ``progress(done, total)`` is called now and then with model-steps done so far.
    ``max_stack`` caps the models stacked in one computation (default: by memory).
    ``target``: the test accuracy ``steps_to_target`` waits for (None: skip that metric).
    """
    for s in settings:
        s.validate()
    by_group = groups(settings)
    total = sum(s.steps for s in settings)
    done = 0
    results: list[dict[str, Any] | None] = [None] * len(settings)
    for members in by_group.values():
        chunk = max_stack or _stack_limit(settings[members[0]])
        for start in range(0, len(members), chunk):
            part = members[start : start + chunk]

            def tick(model_steps: int, _base: int = done) -> None:
                if progress is not None:
                    progress(_base + model_steps, total)

            metrics = _train_group([settings[i] for i in part], target, tick, dtype)
            for j, i in enumerate(part):
                results[i] = {key: values[j] for key, values in metrics.items()}
            done += sum(settings[i].steps for i in part)
    if progress is not None:
        progress(total, total)
    rows = [{**dataclasses.asdict(s), **r} for s, r in zip(settings, results) if r is not None]
    table = pd.DataFrame(rows, columns=[*SETTINGS_COLUMNS, *RESULT_COLUMNS])
    for col in ("steps_to_target", "diverged_at"):
        table[col] = table[col].astype("Int64")
    table["steps_done"] = table["steps_done"].astype(np.int64)
    table["diverged"] = table["diverged"].astype(bool)
    return table


def summarize(table: pd.DataFrame, by: Iterable[str], metric: str) -> pd.DataFrame:
    """Mean and spread of ``metric`` over seeds, one row per configuration.

    Columns: ``by``..., mean, std (0 for one seed), min, max, n (seeds with a value),
    seeds, n_diverged, config (the first row's config number, when present).
    """
    by = list(by)
    values = table[metric].astype(float)
    frame = table[by].copy()
    frame["_v"] = values
    frame["_d"] = table["diverged"].astype(int)
    g = frame.groupby(by, sort=False, dropna=False)
    out = g["_v"].agg(mean="mean", std="std", min="min", max="max", n="count")
    out["std"] = out["std"].fillna(0.0)
    out["seeds"] = g["_v"].size()
    out["n_diverged"] = g["_d"].sum()
    if "config" in table.columns:
        out["config"] = table.groupby(by, sort=False, dropna=False)["config"].first()
    return out.reset_index()


# --------------------------------------------------------------------------- the engine


def _stack_limit(s: Settings) -> int:
    n = data.n_train(s.dataset)
    n_in = 64 if s.dataset == "digits" else 2
    per_model = 8 * n * (n_in + s.width * (5 * s.depth + 2) + 10)
    return max(1, min(1024, MEMORY_BUDGET // per_model))


def _accuracy(net: nn.MLP, X: NDArray, y: NDArray, stats: list | None) -> NDArray[np.float64]:
    """Per-model accuracy, computed as ``train._accuracy`` does for one model."""
    return (nn.predict(net, X, stats) == y).mean(axis=-1)


def _corrections(decays: Sequence[float], steps: NDArray) -> NDArray[np.float64]:
    """1 - decay^t per model (1 where t = 0), with Python floats exactly as ``train`` computes it."""
    return np.array([[1.0 - d ** int(t) if t > 0 else 1.0] for d, t in zip(decays, steps)])


def _train_group(
    group: list[Settings], target: float | None, tick: Callable[[int], None], dtype: DTypeLike
) -> dict[str, NDArray]:
    s0 = group[0]
    K, m, T = len(group), s0.batch_size, s0.steps
    use_bn = s0.use_bn

    # Data: one copy per distinct (noise, seed); each model indexes its own.
    keys = [(s.noise, s.seed) for s in group]
    unique = list(dict.fromkeys(keys))
    sets = [data.load(s0.dataset, noise, seed) for noise, seed in unique]
    which = np.array([unique.index(k) for k in keys])
    rows = which[:, None]
    X_train = np.stack([d.X_train for d in sets]).astype(dtype)  # (U, n, d)
    X_test = np.stack([d.X_test for d in sets]).astype(dtype)
    y_train = np.stack([d.y_train for d in sets])
    y_test = np.stack([d.y_test for d in sets])
    C = sets[0].n_classes
    Y_train = np.eye(C, dtype=dtype)[y_train]
    n = X_train.shape[1]
    sizes = (sets[0].n_features,) + (s0.width,) * s0.depth + (C,)

    # Parameters: each model initialized from its own generator, as train() does.
    col = lambda name: np.array([[getattr(s, name)] for s in group], dtype=dtype)  # noqa: E731
    eps, decay, lr = col("eps"), col("decay"), col("lr")
    net = nn.create(sizes, s0.activation, use_bn, eps, lead=(K,), dtype=dtype)
    rngs = []
    for k, s in enumerate(group):
        rng = np.random.default_rng([s.seed, 1])
        one = nn.create(sizes, s.activation, use_bn, s.eps, dtype=dtype)
        net.theta[k] = nn.init(one, rng, s.gamma_init, s.beta_init).theta
        rngs.append(rng)
    frozen_models = np.array([k for k, s in enumerate(group) if s.freeze_affine and use_bn], dtype=np.intp)
    affine = np.concatenate(
        [np.arange(sl.start, sl.stop) for name in ("gamma", "beta") for sl in net.slices[name]]
        or [np.zeros(0, np.intp)]
    )
    frozen_ix = np.ix_(frozen_models, affine)
    opt = Optimizer(s0.optimizer, lr, net.theta)
    one_minus_decay = 1 - decay
    decays = [s.decay for s in group]
    corrected = np.array([[s.bias_correction] for s in group])
    width = s0.width
    running = [(np.zeros((K, width), dtype), np.zeros((K, width), dtype)) for _ in range(s0.depth)]

    # The last checkpoint of each model: what its results are computed from.
    snap_theta = net.theta.copy()
    snap_running = [(mu.copy(), var.copy()) for mu, var in running]
    snap_t = np.zeros(K, np.int64)
    snap_loss = np.full(K, np.nan)  # t = 0: the whole-training-set loss, filled in at the end
    alive = np.ones(K, bool)
    diverged_at = np.full(K, -1, np.int64)
    steps_done = np.full(K, T, np.int64)
    reached = np.full(K, -1, np.int64)
    X_test_k, y_test_k = X_test[which], y_test[which]

    def check_target(t: int) -> None:
        """Test accuracy with the explorer's statistics (train.stats_for(chosen, t)), for the
        models still short of the target: the first step it is reached is their result."""
        todo = np.flatnonzero(alive & (reached < 0))
        if target is None or not len(todo):
            return
        sub = net
        if len(todo) < K:
            sub = nn.create(sizes, s0.activation, use_bn, eps[todo], lead=(len(todo),), dtype=dtype)
            sub.theta[...] = net.theta[todo]
        stats = None
        if use_bn:
            c = _corrections([decays[k] for k in todo], np.full(len(todo), t))
            bc = corrected[todo]
            stats = [
                (np.where(bc, mu[todo] / c, mu[todo]), np.where(bc, var[todo] / c, var[todo]))
                for mu, var in running
            ]
        acc = _accuracy(sub, X_test_k[todo], y_test_k[todo], stats)
        reached[todo[acc >= target]] = t

    def die(bad: NDArray[np.bool_], t: int) -> None:
        alive[bad] = False
        diverged_at[bad] = t
        steps_done[bad] = t - 1

    ckpts = checkpoint_steps(T)
    with np.errstate(all="ignore"):
        check_target(0)
        order = np.stack([r.permutation(n) for r in rngs])
        pos, k_next = 0, 1
        since_sum, since_n = np.zeros(K), 0
        for t in range(1, T + 1):
            if pos + m > n:
                order, pos = np.stack([r.permutation(n) for r in rngs]), 0
            idx = order[:, pos : pos + m]
            pos += m
            logits, taps = nn.forward(net, X_train[rows, idx])
            loss = nn.backward(net, logits, taps, Y_train[rows, idx])
            bad = alive & ~(loss <= DIVERGED_LOSS)  # train.diverged, per model
            if bad.any():
                die(bad, t)
            since_sum += loss
            since_n += 1
            if use_bn:
                for (rmu, rvar), tap in zip(running, taps):
                    c = tap.cache
                    assert c is not None
                    rmu *= decay
                    rmu += one_minus_decay * c.mu
                    rvar *= decay
                    rvar += one_minus_decay * c.var
            if len(frozen_models):
                net.grad[frozen_ix] = 0
            dead = ~alive
            if dead.any():
                net.grad[dead] = 0
            opt.step(net.theta, net.grad)
            if t == ckpts[k_next]:
                bad = alive & ~np.all(np.isfinite(net.theta), axis=1)
                if bad.any():
                    die(bad, t)
                snap_theta[alive] = net.theta[alive]
                for (smu, svar), (rmu, rvar) in zip(snap_running, running):
                    smu[alive], svar[alive] = rmu[alive], rvar[alive]
                snap_t[alive] = t
                snap_loss[alive] = since_sum[alive] / max(since_n, 1)
                since_sum[:], since_n = 0.0, 0
                check_target(t)
                k_next += 1
                tick(t * K)
            if not alive.all():  # keep the diverged on finite, frozen weights
                dead = ~alive
                net.theta[dead] = snap_theta[dead]
                for (rmu, rvar), (smu, svar) in zip(running, snap_running):
                    rmu[dead], rvar[dead] = smu[dead], svar[dead]

        out = _evaluate(
            group,
            sizes,
            snap_theta,
            snap_running,
            snap_t,
            eps,
            corrected,
            X_train[which],
            y_train[which],
            Y_train[which],
            X_test_k,
            y_test_k,
        )
    loss_at_0 = out.pop("_loss_at_0")
    out["loss"] = np.where(snap_t == 0, loss_at_0, snap_loss)
    out["steps_to_target"] = np.where(reached >= 0, reached, np.nan)
    out["diverged"] = ~alive
    out["diverged_at"] = np.where(alive, np.nan, diverged_at)
    out["steps_done"] = steps_done
    return out


def _evaluate(
    group: list[Settings],
    sizes: tuple[int, ...],
    theta: NDArray,
    running: list[tuple[NDArray, NDArray]],
    t: NDArray,
    eps: NDArray,
    corrected: NDArray,
    X_train: NDArray,
    y_train: NDArray,
    Y_train: NDArray,
    X_test: NDArray,
    y_test: NDArray,
) -> dict[str, NDArray]:
    """Every final metric of the K stacked models at their last checkpoints (step ``t`` each)."""
    s0 = group[0]
    K, dtype = theta.shape[0], theta.dtype
    net = nn.create(sizes, s0.activation, s0.use_bn, eps, lead=(K,), dtype=dtype)
    net.theta[...] = theta
    logits, taps = nn.forward(net, X_train)  # BN over the whole training set
    out: dict[str, NDArray] = {"_loss_at_0": nn.softmax_cross_entropy(logits, Y_train)[0]}
    if s0.use_bn:
        population = [(tap.cache.mu, tap.cache.var) for tap in taps]  # type: ignore[union-attr]
        c = _corrections([s.decay for s in group], t)
        stats = {
            "running": running,
            "corrected": [(mu / c, var / c) for mu, var in running],
            "population": population,
            "batch": None,
        }
        chosen = [
            (np.where(corrected, cmu, rmu), np.where(corrected, cvar, rvar))
            for (rmu, rvar), (cmu, cvar) in zip(running, stats["corrected"])  # type: ignore[arg-type]
        ]
        for which, st in stats.items():
            out[f"test_acc_{which}"] = _accuracy(net, X_test, y_test, st)
        out["test_acc"] = _accuracy(net, X_test, y_test, chosen)
        out["train_acc"] = _accuracy(net, X_train, y_train, chosen)
        mu_err, var_err = [], []
        for (vmu, vvar), (pmu, pvar) in zip(chosen, population):
            scale = np.maximum(pvar + eps, 1e-12)
            mu_err.append(np.abs(vmu - pmu) / np.sqrt(scale))
            var_err.append(np.abs(vvar - pvar) / scale)
        out["running_mu_err"] = np.concatenate(mu_err, axis=1).mean(axis=1)
        out["running_var_err"] = np.concatenate(var_err, axis=1).mean(axis=1)
        # Training mode: the training set in its stored order, cut into mini-batches of m.
        m = s0.batch_size
        B = X_train.shape[1] // m
        stacked = nn.create(sizes, s0.activation, True, eps[:, :, None], lead=(K, 1), dtype=dtype)
        stacked.theta[...] = theta[:, None, :]
        Xb = X_train[:, : B * m].reshape(K, B, m, -1)
        pred = nn.predict(stacked, Xb, None).reshape(K, B * m)
        out["train_acc_minibatch"] = (pred == y_train[:, : B * m]).mean(axis=1)
    else:
        acc = _accuracy(net, X_test, y_test, None)
        for which in nn.STATS:
            out[f"test_acc_{which}"] = acc
        out["test_acc"] = acc
        out["train_acc"] = _accuracy(net, X_train, y_train, None)
        out["running_mu_err"] = out["running_var_err"] = np.full(K, np.nan)
        out["train_acc_minibatch"] = out["train_acc"]
    out["gap"] = out["train_acc"] - out["test_acc"]
    out["mode_gap"] = out["train_acc_minibatch"] - out["train_acc"]
    return out


# --------------------------------------------------------------------------- presets


@dataclass(frozen=True)
class Preset:
    """A sweep that answers one question, the metric to read, and what to look for."""

    title: str
    question: str
    spec: SweepSpec
    metric: str
    look_for: str


_SMALL_BATCH = SweepSpec(
    params=(("batch_size", (2, 4, 8, 16, 32, 64)), ("use_bn", (False, True))),
    base=Settings(steps=300),
    seeds=3,
)

PRESETS: dict[str, Preset] = {
    "small-batch": Preset(
        "Small batches",
        "How much does BN lose as the batch shrinks?",
        _SMALL_BATCH,
        "test_acc",
        "With BN, test accuracy falls sharply below about 8 examples per batch, while the plain "
        "network barely notices: μ_B and σ²_B of a tiny batch are noisy estimates (the Group "
        "Normalization paper's finding). Each run takes the same number of steps, so a small "
        "batch also sees fewer examples: compare BN on against BN off at the same m.",
    ),
    "train-inference-gap": Preset(
        "Train/inference gap",
        "How does the gap between training mode and inference grow as the batch shrinks?",
        _SMALL_BATCH,
        "mode_gap",
        "The training set scored with mini-batch statistics (as the network was trained) minus "
        "scored with the running estimates (as at inference). It is zero without BN and grows as m "
        "shrinks: the train/inference mismatch Batch Renormalization was designed to remove. "
        "Switch the metric to 'Train/test gap' for the usual generalization gap.",
    ),
    "decay": Preset(
        "Running estimates",
        "Which EWA decay makes the running estimates trustworthy after 200 steps?",
        SweepSpec(
            params=(
                ("decay", (0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)),
                ("bias_correction", (False, True)),
            ),
            base=Settings(steps=200),
            seeds=3,
        ),
        "running_var_err",
        "The running σ² against the population σ² at step 200. A decay near 1 averages over "
        "about 1/(1 − decay) steps: at 0.999 the estimate has covered only 1 − 0.999²⁰⁰ ≈ 18 % "
        "of its way up from 0, so inference uses a far too small variance — unless bias "
        "correction divides that start-up bias away. Too small a decay is noisy instead.",
    ),
    "learning-rate": Preset(
        "Learning rate",
        "Does BN let me use a 10× larger learning rate?",
        SweepSpec(
            params=(("lr", (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)), ("use_bn", (False, True))),
            base=Settings(steps=300, optimizer="sgd", depth=4),
            seeds=3,
        ),
        "test_acc",
        "Plain SGD on a 4-layer ReLU network: without BN, training breaks down from lr = 1 on "
        "(and diverges at 3); with BN it still trains at lr = 3, at least 10× above the plain "
        "network's best. BN keeps each layer's input scale fixed, so a large step cannot blow "
        "the activations up layer after layer.",
    ),
}


def cli_command(spec: SweepSpec, out: str = "results.csv") -> str:
    """The ``python -m bnviz sweep`` command line that runs ``spec``."""

    def text(name: str, v: Any) -> str:
        return ("on" if v else "off") if isinstance(v, bool) else repr(v) if isinstance(v, float) else str(v)

    parts = ["python -m bnviz sweep"]
    for name, values in spec.params:
        parts.append(f"--param {name}={','.join(text(name, v) for v in values)}")
    parts.append(f"--seeds {spec.seeds}")
    default = Settings()
    for f in dataclasses.fields(Settings):
        v = getattr(spec.base, f.name)
        if f.name not in spec.names and v != getattr(default, f.name):
            parts.append(f"--steps {v}" if f.name == "steps" else f"--set {f.name}={text(f.name, v)}")
    if spec.target != 0.9:
        parts.append(f"--target {spec.target!r}")
    parts.append(f"--out {out}")
    return " ".join(parts)

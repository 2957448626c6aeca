"""The training loop: Settings in, a compact :class:`Run` record out.

Each step draws a mini-batch (reshuffled every epoch, last partial batch dropped),
runs the training-mode forward pass (BN with this batch's mu_B and sigma²_B),
back-propagates, updates the running EWA estimates

    v_mu  <- decay * v_mu  + (1 - decay) * mu_B
    v_var <- decay * v_var + (1 - decay) * sigma²_B        (v_0 = 0)

and takes an optimizer step. At ~50 checkpoints it passes the whole training set
through the current weights (BN over that one big batch: the population
statistics), histograms Z, Z_norm and Z~ per unit, and measures accuracy in
inference mode with each choice of statistics. Training stops at the first
non-finite or exploded loss (see :func:`diverged`) and says so in ``Run.diverged``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import DTypeLike, NDArray

from . import data, nn
from .optim import Optimizer
from .settings import Settings

N_CHECKPOINTS = 50
MAX_RECORDED_STEPS = 1000
# Per-step statistics kept per quantity (steps x units x layers): wide, deep networks record
# every few steps instead, so a Run stays a few MB (width 128 x depth 4 was 11 MB).
MAX_RECORDED_VALUES = 64_000
HIST_BINS = 30
HIST_SAMPLE = 512  # histograms and percentiles use the first 512 training examples at most
GRID = 32  # decision-boundary resolution for 2-D datasets
PERCENTILES = (15, 50, 85)
# A cross-entropy this large means the right class's logit trails by thousands: the run
# has blown up even if the numbers are still finite (ReLU nets often "recover" into
# all-dead units afterwards). Training stops there, as it does at inf or NaN.
DIVERGED_LOSS = 1e4
STATS_COLUMNS = {s: f"test_acc_{s}" for s in nn.STATS}

__all__ = ["LayerRecord", "Run", "Settings", "checkpoint_steps", "train"]


@dataclass
class LayerRecord:
    """Everything recorded for one hidden layer (units = columns)."""

    batch_mu: NDArray[np.float32]  # (n_rec, width): mu_B at each recorded step
    batch_var: NDArray[np.float32]  # (n_rec, width): sigma²_B
    running_mu: NDArray[np.float32]  # (n_rec, width): EWA after that step (uncorrected)
    running_var: NDArray[np.float32]
    pop_mu: NDArray[np.float32]  # (n_ckpt, width): whole training set, current weights
    pop_var: NDArray[np.float32]
    gamma: NDArray[np.float32]  # (n_ckpt, width)
    beta: NDArray[np.float32]
    hist_counts: NDArray[np.uint16]  # (n_ckpt, n_quantities, width + 1, bins); last unit = all pooled
    hist_lo: NDArray[np.float32]  # (n_ckpt, n_quantities, width + 1) left edge of bin 0
    hist_hi: NDArray[np.float32]  # right edge of the last bin
    percentiles: NDArray[np.float32]  # (n_ckpt, n_quantities, len(PERCENTILES), width)

    def hist_edges(self, k: int, q: int, unit: int) -> NDArray[np.float64]:
        """Bin edges of checkpoint k, quantity q, unit (``-1`` = all units pooled)."""
        return np.linspace(self.hist_lo[k, q, unit], self.hist_hi[k, q, unit], HIST_BINS + 1)


@dataclass
class Run:
    settings: Settings
    curves: pd.DataFrame  # one row per checkpoint
    loss: NDArray[np.float64]  # (steps_done,) mini-batch loss at every step
    stat_steps: NDArray[np.int32]  # (n_rec,) the steps at which batch stats were recorded
    ckpt_steps: NDArray[np.int32]  # (n_ckpt,)
    layers: list[LayerRecord]
    quantities: tuple[str, ...]  # ("z", "z_norm", "z_tilde") with BN, ("z",) without
    boundary: NDArray[np.uint8] | None  # (n_ckpt, GRID, GRID): P(class 1) * 255, 2-D sets only
    boundary_extent: tuple[float, float, float, float] | None  # x0, x1, y0, y1 (standardized)
    net: nn.MLP  # the final network
    running: list[tuple[NDArray, NDArray]]  # final (uncorrected) running mu, var per layer
    population: list[tuple[NDArray, NDArray]]  # final population mu, var per layer
    dataset: data.Dataset = field(repr=False)
    diverged: str | None = None  # a sentence for the user, when training stopped early

    @property
    def steps_done(self) -> int:
        return len(self.loss)

    def corrected(self, layer: int) -> tuple[NDArray, NDArray]:
        """Bias-corrected running mu and var at every recorded step: v_t / (1 - decay^t)."""
        rec = self.layers[layer]
        c = (1.0 - self.settings.decay ** self.stat_steps.astype(np.float64))[:, None]
        return rec.running_mu / c, rec.running_var / c

    def inference_stats(self, which: str) -> list[tuple[NDArray, NDArray]] | None:
        """The final statistics for inference: running, corrected, population, or batch (None)."""
        if which == "running":
            return self.running
        if which == "corrected":
            t = self.steps_done
            c = 1.0 - self.settings.decay**t if t else 1.0
            return [(mu / c, var / c) for mu, var in self.running]
        if which == "population":
            return self.population
        if which == "batch":
            return None
        raise ValueError(f"statistics must be one of {nn.STATS}, got {which!r}")

    def nbytes(self) -> int:
        """Memory held by the recorded arrays (not counting the shared dataset)."""
        total = self.curves.memory_usage(deep=True).sum() + self.loss.nbytes
        total += self.stat_steps.nbytes + self.ckpt_steps.nbytes + self.net.theta.nbytes
        for rec in self.layers:
            total += sum(a.nbytes for a in dataclasses.astuple(rec))
        if self.boundary is not None:
            total += self.boundary.nbytes
        return int(total)


def diverged(loss: float) -> bool:
    """True when a mini-batch loss is inf, NaN or above DIVERGED_LOSS."""
    return not loss <= DIVERGED_LOSS


def checkpoint_steps(steps: int) -> NDArray[np.int32]:
    """About N_CHECKPOINTS + 1 evenly spaced steps from 0 to ``steps``, both included."""
    return np.unique(np.linspace(0, steps, N_CHECKPOINTS + 1).round().astype(np.int32))


def _one_hot(y: NDArray, n_classes: int, dtype: DTypeLike) -> NDArray:
    return np.eye(n_classes, dtype=dtype)[y]


def _summaries(values: NDArray) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """Per-column histograms (plus one pooled over all columns) and percentiles.

    ``values`` is (N, U). Returns counts (U + 1, HIST_BINS), lo (U + 1,), hi (U + 1,)
    and the PERCENTILES per column (len(PERCENTILES), U), linearly interpolated as
    ``np.percentile`` does. One sort serves the extremes and the percentiles.
    """
    n, u = values.shape
    srt = np.sort(values, axis=0)
    pos = np.asarray(PERCENTILES) / 100 * (n - 1)
    below = np.floor(pos).astype(np.int64)
    frac = (pos - below)[:, None]
    above = np.minimum(below + 1, n - 1)
    pct = srt[below] * (1 - frac) + srt[above] * frac
    lo = np.append(srt[0], srt[0].min())
    hi = np.append(srt[-1], srt[-1].max())
    flat_range = hi - lo <= 1e-12 * np.maximum(1.0, np.abs(lo))
    lo = np.where(flat_range, lo - 0.5, lo)
    hi = np.where(flat_range, hi + 0.5, hi)
    scale = HIST_BINS / (hi - lo)
    idx = ((values - lo[:u]) * scale[:u]).astype(np.int64)
    np.clip(idx, 0, HIST_BINS - 1, out=idx)
    counts = np.bincount((idx + np.arange(u) * HIST_BINS).ravel(), minlength=u * HIST_BINS)
    pooled_idx = np.clip(((values - lo[u]) * scale[u]).astype(np.int64), 0, HIST_BINS - 1)
    pooled = np.bincount(pooled_idx.ravel(), minlength=HIST_BINS)
    return np.vstack([counts.reshape(u, HIST_BINS), pooled]), lo, hi, pct


def _boundary_grid(ds: data.Dataset) -> tuple[NDArray, tuple[float, float, float, float]]:
    X = np.vstack([ds.X_train, ds.X_test])
    (x0, y0), (x1, y1) = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    gx, gy = np.meshgrid(np.linspace(x0, x1, GRID), np.linspace(y0, y1, GRID))
    return np.c_[gx.ravel(), gy.ravel()], (float(x0), float(x1), float(y0), float(y1))


def train_step(
    net: nn.MLP,
    opt: Optimizer,
    X: NDArray,
    Y: NDArray,
    running: list[tuple[NDArray, NDArray]],
    decay: float,
    frozen: list[slice] | tuple[()] = (),
) -> tuple[float, list[nn.Tap]]:
    """One mini-batch step, in place; returns the loss and the layers' taps.

    Forward with this batch's statistics, backward, then (unless the loss
    diverged, when nothing changes) update the running estimates
    v <- decay*v + (1 - decay)*x and take an optimizer step. Gradients of the
    ``frozen`` parameter slices are zeroed first.
    """
    logits, taps = nn.forward(net, X)
    loss = float(nn.backward(net, logits, taps, Y))
    if diverged(loss):
        return loss, taps
    if net.use_bn:
        for (mu, var), tap in zip(running, taps):
            c = tap.cache
            assert c is not None
            mu *= decay
            mu += (1 - decay) * c.mu
            var *= decay
            var += (1 - decay) * c.var
    for sl in frozen:
        net.grad[..., sl] = 0
    opt.step(net.theta, net.grad)
    return loss, taps


def _accuracy(net: nn.MLP, X: NDArray, y: NDArray, stats: list | None) -> float:
    return float((nn.predict(net, X, stats) == y).mean())


def train(settings: Settings, dtype: DTypeLike = np.float64) -> Run:
    """Train the network ``settings`` describe and record what the app draws."""
    s = settings
    s.validate()
    ds = data.load(s.dataset, s.noise, s.seed)
    rng = np.random.default_rng([s.seed, 1])
    sizes = (ds.n_features,) + (s.width,) * s.depth + (ds.n_classes,)
    net = nn.init(
        nn.create(sizes, s.activation, s.use_bn, s.eps, dtype=dtype), rng, s.gamma_init, s.beta_init
    )
    frozen = [sl for name in ("gamma", "beta") for sl in net.slices[name]] if s.freeze_affine else []
    opt = Optimizer(s.optimizer, s.lr, net.theta)
    X_train: NDArray = ds.X_train.astype(dtype)
    X_test: NDArray = ds.X_test.astype(dtype)
    Y_train = _one_hot(ds.y_train, ds.n_classes, dtype)
    n, m, L, W = len(X_train), s.batch_size, s.depth, s.width

    most = max(1, min(MAX_RECORDED_STEPS, MAX_RECORDED_VALUES // (s.width * s.depth)))
    stride = -(-s.steps // most)
    stat_steps = np.arange(stride, s.steps + 1, stride, dtype=np.int32)
    n_rec = len(stat_steps)
    ckpts = checkpoint_steps(s.steps)
    quantities = ("z", "z_norm", "z_tilde") if s.use_bn else ("z",)
    nq, nk = len(quantities), len(ckpts)

    def zeros(*shape: int, dt: type = np.float32) -> NDArray:
        return np.zeros(shape, dtype=dt)

    layers = [
        LayerRecord(
            zeros(n_rec, W),
            zeros(n_rec, W),
            zeros(n_rec, W),
            zeros(n_rec, W),
            zeros(nk, W),
            zeros(nk, W),
            zeros(nk, W),
            zeros(nk, W),
            zeros(nk, nq, W + 1, HIST_BINS, dt=np.uint16),
            zeros(nk, nq, W + 1),
            zeros(nk, nq, W + 1),
            zeros(nk, nq, len(PERCENTILES), W),
        )
        for _ in range(L)
    ]
    running: list[tuple[NDArray, NDArray]] = [(np.zeros(W, dtype), np.zeros(W, dtype)) for _ in range(L)]
    population: list[tuple[NDArray, NDArray]] = [(np.zeros(W, dtype), np.ones(W, dtype))] * L
    is_2d = ds.n_features == 2
    grid, extent = _boundary_grid(ds) if is_2d else (None, None)
    boundary = np.zeros((nk, GRID, GRID), np.uint8) if is_2d else None
    losses = np.zeros(s.steps)
    rows: list[dict] = []
    message = None

    def correction_matters(t: int) -> bool:
        """False when 1 - decay^t rounds to 1: corrected and raw estimates then agree."""
        return t > 0 and s.decay**t > 1e-12

    def stats_for(which: str, t: int) -> list | None:
        if not s.use_bn or which == "batch":
            return None
        if which == "population":
            return population
        if which == "corrected" and correction_matters(t):
            c = 1.0 - s.decay**t
            return [(mu / c, var / c) for mu, var in running]
        return running

    chosen = "corrected" if s.bias_correction else "running"

    def checkpoint(k: int, t: int, loss_since: float) -> None:
        nonlocal population
        logits, taps = nn.forward(net, X_train)  # BN over the whole training set
        if s.use_bn:
            population = [(tap.cache.mu.copy(), tap.cache.var.copy()) for tap in taps]  # type: ignore[union-attr]
        for l, (tap, rec) in enumerate(zip(taps, layers)):
            if s.use_bn:
                rec.pop_mu[k], rec.pop_var[k] = population[l]
                rec.gamma[k], rec.beta[k] = net.gamma[l], net.beta[l]
            else:
                rec.pop_mu[k], rec.pop_var[k] = tap.z.mean(axis=0), tap.z.var(axis=0)
            for q, name in enumerate(quantities):
                (rec.hist_counts[k, q], rec.hist_lo[k, q], rec.hist_hi[k, q], rec.percentiles[k, q]) = (
                    _summaries(getattr(tap, name)[:HIST_SAMPLE])
                )
        if t == 0:
            loss_since = float(nn.softmax_cross_entropy(logits, Y_train)[0])
        row = {"step": t, "loss": loss_since}
        if s.use_bn:
            accs = {
                w: _accuracy(net, X_test, ds.y_test, stats_for(w, t)) for w in nn.STATS if w != "corrected"
            }
            accs["corrected"] = (
                _accuracy(net, X_test, ds.y_test, stats_for("corrected", t))
                if correction_matters(t)
                else accs["running"]
            )
        else:  # no statistics to choose: one number for every column
            accs = dict.fromkeys(nn.STATS, _accuracy(net, X_test, ds.y_test, None))
        row["train_acc"] = _accuracy(net, X_train, ds.y_train, stats_for(chosen, t))
        row["test_acc"] = accs[chosen]
        row.update({STATS_COLUMNS[w]: accs[w] for w in nn.STATS})
        rows.append(row)
        if boundary is not None and grid is not None:
            logits_grid, _ = nn.forward(net, grid.astype(dtype), stats_for(chosen, t))
            p = np.exp(logits_grid - logits_grid.max(axis=1, keepdims=True))
            p1 = p[:, 1] / p.sum(axis=1)
            boundary[k] = np.round(np.nan_to_num(p1) * 255).reshape(GRID, GRID)

    with np.errstate(all="ignore"):
        checkpoint(0, 0, float("nan"))
        order = rng.permutation(n)
        pos, k_next, rec_i, since_sum, since_n = 0, 1, 0, 0.0, 0
        for t in range(1, s.steps + 1):
            if pos + m > n:
                order, pos = rng.permutation(n), 0
            idx = order[pos : pos + m]
            pos += m
            loss, taps = train_step(net, opt, X_train[idx], Y_train[idx], running, s.decay, frozen)
            if diverged(loss):
                message = (
                    f"Training diverged at step {t}: the loss became {loss:.3g}. "
                    "Lower the learning rate (or raise ε); the charts show the steps before."
                )
                break
            losses[t - 1] = loss
            since_sum += loss
            since_n += 1
            if s.use_bn:
                record = rec_i < n_rec and stat_steps[rec_i] == t
                if record:
                    for l, tap in enumerate(taps):
                        rec, c = layers[l], tap.cache
                        assert c is not None
                        rec.batch_mu[rec_i], rec.batch_var[rec_i] = c.mu, c.var
                        rec.running_mu[rec_i], rec.running_var[rec_i] = running[l]
                if record:
                    rec_i += 1
            if t == ckpts[k_next]:
                if not np.all(np.isfinite(net.theta)):
                    message = (
                        f"Training diverged by step {t}: some weights became infinite or NaN. "
                        "Lower the learning rate; the charts show the steps before."
                    )
                    break
                checkpoint(k_next, t, since_sum / max(since_n, 1))
                k_next += 1
                since_sum, since_n = 0.0, 0

    steps_done = t - 1 if message else s.steps
    k_done = k_next
    rec_done = int(np.searchsorted(stat_steps, steps_done, side="right"))
    for rec in layers:
        for f in dataclasses.fields(rec):
            arr = getattr(rec, f.name)
            setattr(rec, f.name, arr[:rec_done] if f.name.startswith(("batch", "running")) else arr[:k_done])
    return Run(
        settings=s,
        curves=pd.DataFrame(rows),
        loss=losses[:steps_done],
        stat_steps=stat_steps[:rec_done],
        ckpt_steps=ckpts[:k_done],
        layers=layers,
        quantities=quantities,
        boundary=None if boundary is None else boundary[:k_done],
        boundary_extent=extent,
        net=net,
        running=running,
        population=population,
        dataset=ds,
        diverged=message,
    )

"""train(settings) -> Run: one network through the engine (K = 1), and what the app draws.

:func:`bnviz.engine.train` does the training (mini-batches, forward, backward, the running
EWA estimates, the optimizer step, divergence). The recorder here keeps, at every step, the
mini-batch loss and (at up to MAX_RECORDED_STEPS steps) each layer's mu_B, sigma²_B and
running estimates after that step; at each of the ~50 checkpoints it passes the whole
training set through the current weights (BN over that one big batch: the population
statistics), histograms Z, Z_norm and Z~ per unit, measures accuracy in inference mode
with each choice of statistics (``engine.evaluate``) and, for 2-D data, the decision
boundary. At each checkpoint it also keeps the mini-batch shown beside those
histograms (``LayerRecord.shown_*``): the batch the checkpoint's step trained on, as its
forward pass computed it. Training stops at the first non-finite or exploded loss and says
so in ``Run.diverged``.

With ``normalization`` "layer" or "group" (each example normalized over its own units: no batch
statistics, no running estimates) the per-step mu_B and sigma²_B and the shown mini-batch's
``shown_mu``, ``shown_var`` are the 1/m per-unit mean and variance of that batch's z,
computed from z, and ``shown_z_norm`` the z_norm BN would compute from them, as without
normalization; the running estimates stay 0. With "renorm" they are the batch statistics
its forward pass computed, and ``shown_z_norm`` BN's z_norm before r and d: in every case
z = mu_B + z_norm * sqrt(sigma²_B + eps) gives the batch's z back. What the forward pass
normalized the shown rows with is kept beside them: LayerNorm's and GroupNorm's per-example
mean and variance (``shown_ex_mu``, ``shown_ex_var``: over each example's units, or over each
of its groups) and the z_norm they computed (``shown_ex_z_norm``, (z - shown_ex_mu) /
sqrt(shown_ex_var + eps), each unit with its group's: kept as computed, since rebuilding it
from z loses the digits of a small group's variance), Batch Renorm's r and d (``shown_r``,
``shown_d``: its z_norm is r * shown_z_norm + d). With ``bn_position``
"after" (Z' -> g -> BN) everything recorded as z (its histograms, mu_B, sigma²_B, the
population statistics, the shown batch) is the activation's output g(Z'), which is what the
normalization normalizes there; z_tilde is the layer's output.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from . import bn, data, engine, fmt, nn, norms
from .engine import DIVERGED_LOSS, N_CHECKPOINTS, STATS_COLUMNS, checkpoint_steps
from .settings import Settings

if TYPE_CHECKING:
    import pandas as pd

MAX_RECORDED_STEPS = 1000
# Per-step statistics kept per quantity (steps x units x layers): wide, deep networks record
# every few steps instead, so a Run stays a few MB (width 128 x depth 4 would hold 11 MB
# if every step were kept; `Run.nbytes()` measures it).
MAX_RECORDED_VALUES = 64_000
HIST_BINS = 30
HIST_SAMPLE = 512  # histograms and percentiles use the first 512 training examples at most
GRID = 32  # decision-boundary resolution for 2-D datasets
PERCENTILES = (15, 50, 85)
# The mini-batch kept at each checkpoint: the z_norm of its first BATCH_SHOWN examples (its
# mu_B and sigma²_B are over all m). z_norm is kept in float16: it is bounded (|z_norm| <=
# sqrt(m - 1)), so float16's 3 digits are the figure's precision and nothing overflows, and
# z = mu_B + z_norm * sqrt(sigma²_B + eps) comes back to the same 3 digits. Wide, deep
# networks keep fewer examples, so these arrays hold at most MAX_BATCH_VALUES values (4 MB;
# LayerNorm and GroupNorm keep their own z_norm too, in the same budget: half the rows).
# A Run grows by about a fifth at the defaults (1.11 -> 1.33 MB) and by 30 % at width 128 x
# depth 8 on moons, the widest and deepest run the budget allows (15.4 -> 20.0 MB; measured
# with `Run.nbytes()`, tests/core/test_minibatch.py keeps it under double).
BATCH_SHOWN = 64
MAX_BATCH_VALUES = 2_000_000
# The decision boundaries are computed a few checkpoints at a time, in one stacked pass whose
# arrays stay under this many bytes (see _RunRecorder._boundaries).
BOUNDARY_BYTES = 32_000_000

__all__ = [
    "DIVERGED_LOSS",
    "N_CHECKPOINTS",
    "STATS_COLUMNS",
    "LayerRecord",
    "Run",
    "Settings",
    "checkpoint_steps",
    "train",
]


# LayerRecord's fields kept per recorded step (``Run.stat_steps``); every other is per checkpoint.
STEP_FIELDS = frozenset({"batch_mu", "batch_var", "running_mu", "running_var"})


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
    # The mini-batch shown at each checkpoint (see _RunRecorder.on_step): the one step t
    # trained on, or step 1's at the checkpoint of step 0 (the initial weights normalized it).
    shown_z_norm: NDArray[np.float16]  # (n_ckpt, rows, width): z_norm of its first rows
    shown_mu: NDArray[np.float32]  # (n_ckpt, width): mu_B over all m examples (1/m)
    shown_var: NDArray[np.float32]  # (n_ckpt, width): sigma²_B (1/m)
    shown_gamma: NDArray[np.float32]  # (n_ckpt, width): the gamma its forward pass used
    shown_beta: NDArray[np.float32]  # (n_ckpt, width): before that step's update
    # What that forward pass normalized each shown row with (see the module docstring):
    # LayerNorm (groups = 1), GroupNorm (groups): each example's mean and 1/n variance over
    # its units, or over each group of them; no columns (groups = 0) for the other choices.
    shown_ex_mu: NDArray[np.float32]  # (n_ckpt, rows, groups)
    shown_ex_var: NDArray[np.float32]  # (n_ckpt, rows, groups)
    shown_ex_z_norm: NDArray[np.float16]  # (n_ckpt, rows or 0, width): the z_norm they computed
    shown_r: NDArray[np.float32]  # (n_ckpt, width): Batch Renorm's r; (n_ckpt, 0) for the others
    shown_d: NDArray[np.float32]  # (n_ckpt, width): Batch Renorm's d; (n_ckpt, 0) for the others
    ckpt_running_mu: NDArray[np.float32]  # (n_ckpt, width): EWA at the checkpoint (uncorrected)
    ckpt_running_var: NDArray[np.float32]

    @classmethod
    def empty(
        cls, n_rec: int, n_ckpt: int, width: int, nq: int, rows: int = 0, groups: int = 0,
        renorm: bool = False,
    ) -> LayerRecord:
        """Zeros for ``n_rec`` recorded steps, ``n_ckpt`` checkpoints, ``nq`` quantities,
        ``rows`` examples of each shown mini-batch, ``groups`` per-example statistics of each
        (1 for LayerNorm, ``Settings.groups`` for GroupNorm, else 0) and, with ``renorm``,
        Batch Renorm's r (ones) and d per unit."""

        def zeros(*shape: int) -> NDArray[np.float32]:
            return np.zeros(shape, np.float32)

        return cls(
            batch_mu=zeros(n_rec, width),
            batch_var=zeros(n_rec, width),
            running_mu=zeros(n_rec, width),
            running_var=zeros(n_rec, width),
            pop_mu=zeros(n_ckpt, width),
            pop_var=zeros(n_ckpt, width),
            gamma=zeros(n_ckpt, width),
            beta=zeros(n_ckpt, width),
            hist_counts=np.zeros((n_ckpt, nq, width + 1, HIST_BINS), np.uint16),
            hist_lo=zeros(n_ckpt, nq, width + 1),
            hist_hi=zeros(n_ckpt, nq, width + 1),
            percentiles=zeros(n_ckpt, nq, len(PERCENTILES), width),
            shown_z_norm=np.zeros((n_ckpt, rows, width), np.float16),
            shown_mu=zeros(n_ckpt, width),
            shown_var=zeros(n_ckpt, width),
            shown_gamma=zeros(n_ckpt, width),
            shown_beta=zeros(n_ckpt, width),
            shown_ex_mu=zeros(n_ckpt, rows, groups),
            shown_ex_var=zeros(n_ckpt, rows, groups),
            shown_ex_z_norm=np.zeros((n_ckpt, rows if groups else 0, width), np.float16),
            shown_r=np.ones((n_ckpt, width if renorm else 0), np.float32),
            shown_d=zeros(n_ckpt, width if renorm else 0),
            ckpt_running_mu=zeros(n_ckpt, width),
            ckpt_running_var=zeros(n_ckpt, width),
        )

    def trimmed(self, n_rec: int, n_ckpt: int) -> LayerRecord:
        """The first ``n_rec`` recorded steps and ``n_ckpt`` checkpoints (views)."""
        return LayerRecord(**{
            f.name: getattr(self, f.name)[: n_rec if f.name in STEP_FIELDS else n_ckpt]
            for f in dataclasses.fields(self)
        })

    def nbytes(self) -> int:
        return sum(getattr(self, f.name).nbytes for f in dataclasses.fields(self))

    def hist_edges(self, k: int, q: int, unit: int) -> NDArray[np.float64]:
        """Bin edges of checkpoint k, quantity q, unit (``-1`` = all units pooled)."""
        return np.linspace(self.hist_lo[k, q, unit], self.hist_hi[k, q, unit], HIST_BINS + 1)


@dataclass
class Run:
    """One trained network and what the app draws of it.

    The per-checkpoint numbers are ``curve_columns`` (column name -> one value per
    checkpoint: ``step`` int64, the others float64); ``curves`` is their DataFrame, built on
    first read and kept. A worker process (``bnviz.workers``) thus trains and pickles a Run
    without importing pandas, which is most of a worker's memory (pickles leave ``curves``
    out: see ``__getstate__``).
    """

    settings: Settings
    curve_columns: dict[str, NDArray]  # one value per checkpoint (see the class docstring)
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
    # (n_ckpt,) the step whose mini-batch each checkpoint shows (LayerRecord.shown_*):
    # t, or 1 at step 0; 0 where none was recorded (training stopped at step 1)
    shown_steps: NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))

    @functools.cached_property
    def curves(self) -> pd.DataFrame:
        """One row per checkpoint: ``step``, ``loss`` and each accuracy (``engine.evaluate``)."""
        import pandas as pd

        return pd.DataFrame(self.curve_columns)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("curves", None)  # the cached DataFrame: rebuilt from curve_columns
        return state

    @property
    def steps_done(self) -> int:
        return len(self.loss)

    def corrected(self, layer: int) -> tuple[NDArray, NDArray]:
        """Bias-corrected running mu and var at every recorded step, in float64."""
        rec, t = self.layers[layer], self.stat_steps[:, None]
        decay = self.settings.decay
        return (
            bn.bias_corrected(rec.running_mu.astype(np.float64), decay, t),
            bn.bias_corrected(rec.running_var.astype(np.float64), decay, t),
        )

    def inference_stats(self, which: str) -> list[tuple[NDArray, NDArray]] | None:
        """The final statistics for inference: running, corrected, population, or batch (None)."""
        return engine.final_stats(which, self.running, self.population, self.settings.decay, self.steps_done)

    def nbytes(self) -> int:
        """Memory held by the recorded arrays (not counting the shared dataset)."""
        total = sum(c.nbytes for c in self.curve_columns.values()) + self.loss.nbytes
        total += self.stat_steps.nbytes + self.ckpt_steps.nbytes + self.net.theta.nbytes
        total += self.shown_steps.nbytes
        total += sum(rec.nbytes() for rec in self.layers)
        if self.boundary is not None:
            total += self.boundary.nbytes
        return int(total)


def _summaries(values: NDArray) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """Per-unit histograms (plus one pooled over each group's units) and percentiles.

    ``values`` is (G, U, N): G groups (a layer's z, z_norm or z_tilde) of U units with N
    values each, a unit's values contiguous. Returns counts (G, U + 1, HIST_BINS), lo
    (G, U + 1), hi (G, U + 1) and the PERCENTILES per unit (G, len(PERCENTILES), U),
    linearly interpolated as ``np.percentile`` does. One sort serves the extremes and the
    percentiles, and one call serves every group of a checkpoint: each value goes through
    the same arithmetic as it would alone, so each group's numbers are those of a call with
    that group only (tests/core/test_train.py checks this).
    """
    g, u, n = values.shape
    srt = np.sort(values, axis=-1)
    pos = np.asarray(PERCENTILES) / 100 * (n - 1)
    below = np.floor(pos).astype(np.int64)
    frac = pos - below
    above = np.minimum(below + 1, n - 1)
    pct = srt[..., below] * (1 - frac) + srt[..., above] * frac  # (G, U, P)
    first, last = srt[..., 0], srt[..., -1]
    lo = np.concatenate([first, first.min(axis=1, keepdims=True)], axis=1)
    hi = np.concatenate([last, last.max(axis=1, keepdims=True)], axis=1)
    flat_range = hi - lo <= 1e-12 * np.maximum(1.0, np.abs(lo))
    lo = np.where(flat_range, lo - 0.5, lo)
    hi = np.where(flat_range, hi + 0.5, hi)
    scale = HIST_BINS / (hi - lo)
    idx = _bin(values, lo[:, :u, None], scale[:, :u, None])
    idx += (np.arange(g * u) * HIST_BINS).reshape(g, u, 1)  # each unit its own bins
    counts = np.bincount(idx.ravel(), minlength=g * u * HIST_BINS).reshape(g, u, HIST_BINS)
    pooled_idx = _bin(values, lo[:, u, None, None], scale[:, u, None, None])
    pooled_idx += (np.arange(g) * HIST_BINS)[:, None, None]
    pooled = np.bincount(pooled_idx.ravel(), minlength=g * HIST_BINS).reshape(g, 1, HIST_BINS)
    return np.concatenate([counts, pooled], axis=1), lo, hi, pct.transpose(0, 2, 1)


def _bin(values: NDArray, lo: NDArray, scale: NDArray) -> NDArray[np.int64]:
    """The histogram bin of each value, values outside [lo, hi] in the first or last bin."""
    idx = ((values - lo) * scale).astype(np.int64)
    np.maximum(idx, 0, out=idx)  # two ufuncs: np.clip adds a Python wrapper around them
    return np.minimum(idx, HIST_BINS - 1, out=idx)


def _boundary_grid(ds: data.Dataset) -> tuple[NDArray, tuple[float, float, float, float]]:
    X = np.vstack([ds.X_train, ds.X_test])
    (x0, y0), (x1, y1) = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    gx, gy = np.meshgrid(np.linspace(x0, x1, GRID), np.linspace(y0, y1, GRID))
    return np.c_[gx.ravel(), gy.ravel()], (float(x0), float(x1), float(y0), float(y1))


class _RunRecorder(engine.Recorder):
    """What the app draws of the one model of a stack (index 0 of every stacked array).

    The mini-batch shown at checkpoint k (``LayerRecord.shown_*``) is the one step t of that
    checkpoint trained on, as its forward pass computed it, with the gamma and beta of that
    pass (before step t's update). The checkpoint of step 0 shows step 1's batch: the batch
    the initial weights normalized.
    """

    def __init__(self, stack: engine.Stack) -> None:
        s, ds = stack.settings[0], stack.datasets[0]
        dtype = stack.net.theta.dtype
        most = max(1, min(MAX_RECORDED_STEPS, MAX_RECORDED_VALUES // (s.width * s.depth)))
        stride = -(-s.steps // most)
        self.stat_steps = np.arange(stride, s.steps + 1, stride, dtype=np.int32)
        self.ckpt_steps = checkpoint_steps(s.steps)
        self.quantities = ("z", "z_norm", "z_tilde") if s.use_bn else ("z",)
        n_rec, n_ckpt = len(self.stat_steps), len(self.ckpt_steps)
        per_example = s.use_bn and s.normalization in ("layer", "group")  # two z_norm arrays
        fit = MAX_BATCH_VALUES // (n_ckpt * s.width * s.depth * (2 if per_example else 1))
        self.rows_shown = max(1, min(s.batch_size, BATCH_SHOWN, fit))
        groups = {"layer": 1, "group": s.groups}.get(s.normalization, 0) if s.use_bn else 0
        self.layers = [
            LayerRecord.empty(n_rec, n_ckpt, s.width, len(self.quantities), self.rows_shown, groups,
                              renorm=s.use_bn and s.normalization == "renorm")
            for _ in range(s.depth)
        ]
        # step -> the checkpoints showing its mini-batch: each checkpoint's own step, and
        # step 1 for the checkpoint of step 0
        self.shows: dict[int, list[int]] = {}
        for k, t in enumerate(self.ckpt_steps.tolist()):
            self.shows.setdefault(max(t, 1), []).append(k)
        self.shown_steps = np.zeros(n_ckpt, np.int32)
        self.affine: list[tuple[NDArray, NDArray]] = []  # gamma, beta the next forward pass uses
        self.n_rec = 0  # recorded steps so far
        self.loss = np.zeros(s.steps)
        self.rows: list[dict] = []
        # Without BN the population statistics stay these placeholders (nothing normalizes).
        self.population: list[tuple[NDArray, NDArray]] = [
            (np.zeros(s.width, dtype), np.ones(s.width, dtype))
        ] * s.depth
        self.grid: NDArray | None = None
        self.extent: tuple[float, float, float, float] | None = None
        self.boundary: NDArray[np.uint8] | None = None
        # The boundary of several checkpoints is one stacked pass over the grid (see
        # _boundaries): the weights and statistics of the checkpoints still to draw wait here.
        self.pending: list[int] = []
        if ds.n_features == 2:
            grid, self.extent = _boundary_grid(ds)
            self.grid = grid.astype(dtype)
            self.boundary = np.zeros((n_ckpt, GRID, GRID), np.uint8)
            per_ckpt = GRID * GRID * s.width * s.depth * 4 * np.dtype(dtype).itemsize  # 4 arrays a layer
            chunk = max(1, min(n_ckpt, BOUNDARY_BYTES // per_ckpt))
            self.pending_theta = np.zeros((chunk, stack.net.theta.shape[-1]), dtype)
            self.pending_stats = [(np.zeros((chunk, s.width), dtype), np.zeros((chunk, s.width), dtype))
                                  for _ in range(s.depth)]

    def on_step(self, t: int, loss: NDArray, taps: list[nn.Tap], stack: engine.Stack) -> None:
        self.loss[t - 1] = loss[0]
        if t in self.shows:
            self._keep_batch(self.shows[t], t, taps, stack.settings[0].eps)
        if t + 1 in self.shows:
            self._keep_affine(stack.net)
        i = self.n_rec
        if not stack.use_bn or i == len(self.stat_steps) or self.stat_steps[i] != t:
            return
        for rec, tap, (mu, var) in zip(self.layers, taps, stack.now.running):
            rec.batch_mu[i], rec.batch_var[i] = _batch_stats(tap)  # (1, width) into a (width,) row
            rec.running_mu[i], rec.running_var[i] = mu, var
        self.n_rec += 1

    def _keep_affine(self, net: nn.MLP) -> None:
        """Copies of gamma and beta now: the ones the next step's forward pass uses (the
        taps reach ``on_step`` after the update, and ``Cache.gamma`` is a view of the weights)."""
        self.affine = [(g[0].copy(), b[0].copy()) for g, b in zip(net.gamma, net.beta)]

    def _keep_batch(self, slots: list[int], t: int, taps: list[nn.Tap], eps: float) -> None:
        """Step t's mini-batch at checkpoints ``slots``: the z_norm of its first rows exactly
        as its forward pass computed them (so m = 1 gives exact zeros), mu_B and sigma²_B over
        all m rows, and the gamma, beta that forward pass used. Without BN: the 1/m mean and
        variance of z, and the z_norm BN would have computed from them. LayerNorm, GroupNorm:
        likewise, and each shown row's own mean and variance (per group) that normalized it;
        Batch Renorm: its r and d."""
        rows = self.rows_shown
        for l, (rec, tap) in enumerate(zip(self.layers, taps)):
            z, c = tap.z[0], tap.cache
            if isinstance(c, bn.Cache):
                mu, var, z_norm = c.mu[0], c.var[0], c.z_norm[0, :rows]
            elif isinstance(c, norms.BatchRenormCache):
                mu, var, z_norm = c.mu[0], c.var[0], c.z_norm_bn[0, :rows]
                rec.shown_r[slots], rec.shown_d[slots] = c.r[0], c.d[0]
            else:  # no normalization, LayerNorm, GroupNorm: per-unit statistics of z
                mu, var = z.mean(axis=0), z.var(axis=0)
                z_norm = (z[:rows] - mu) * bn.inv_sqrt(var, eps)
            if isinstance(c, norms.LayerNormCache | norms.GroupNormCache):
                ex_mu, ex_var = c.mu[0, :rows], c.var[0, :rows]  # (rows,) or (rows, groups)
                rec.shown_ex_mu[slots] = ex_mu.reshape(len(ex_mu), -1)
                rec.shown_ex_var[slots] = ex_var.reshape(len(ex_var), -1)
                rec.shown_ex_z_norm[slots] = c.z_norm[0, :rows]
            for k in slots:
                rec.shown_z_norm[k], rec.shown_mu[k], rec.shown_var[k] = z_norm, mu, var
                if self.affine:
                    rec.shown_gamma[k], rec.shown_beta[k] = self.affine[l]
        self.shown_steps[slots] = t

    def on_checkpoint(self, k: int, t: int, stack: engine.Stack) -> None:
        net = stack.net
        if t == 0 and net.use_bn:
            self._keep_affine(net)  # step 1's forward pass uses the initial gamma, beta
        for rec, (mu, var) in zip(self.layers, stack.now.running if net.batch_stats else []):
            rec.ckpt_running_mu[k], rec.ckpt_running_var[k] = mu[0], var[0]
        _, taps, population = engine.population(net, stack.X_train)
        if population is not None:
            self.population = [(mu[0].copy(), var[0].copy()) for mu, var in population]
        for l, (tap, rec) in enumerate(zip(taps, self.layers)):
            if population is not None:
                rec.pop_mu[k], rec.pop_var[k] = self.population[l]
            else:
                rec.pop_mu[k], rec.pop_var[k] = tap.z[0].mean(axis=0), tap.z[0].var(axis=0)
            if net.use_bn:
                rec.gamma[k], rec.beta[k] = net.gamma[l][0], net.beta[l][0]
        # every layer's every quantity in one call, each unit's values a contiguous row
        nq = len(self.quantities)
        counts, lo, hi, pct = _summaries(
            np.stack([getattr(tap, name)[0, :HIST_SAMPLE].T for tap in taps for name in self.quantities])
        )
        for l, rec in enumerate(self.layers):
            g = slice(l * nq, (l + 1) * nq)
            rec.hist_counts[k], rec.hist_lo[k], rec.hist_hi[k] = counts[g], lo[g], hi[g]
            rec.percentiles[k] = pct[g]
        accuracies = engine.evaluate(stack, stack.now, population)
        row: dict = {"step": t, "loss": float(stack.last_loss[0])}
        row.update({name: float(acc[0]) for name, acc in accuracies.items()})
        self.rows.append(row)
        if self.boundary is not None:
            i = len(self.pending)
            self.pending_theta[i] = net.theta[0]
            chosen = stack.now.chosen() if net.batch_stats else []
            for (mu, var), (cmu, cvar) in zip(self.pending_stats, chosen):
                mu[i], var[i] = cmu[0], cvar[0]
            self.pending.append(k)
            if len(self.pending) == len(self.pending_theta):
                self._boundaries(net)

    def _boundaries(self, net: nn.MLP) -> None:
        """The decision boundaries of the pending checkpoints: P(class 1) over the grid in
        inference mode, with the statistics the model predicts with (its running estimates,
        bias-corrected with bias correction). One forward pass of those checkpoints' networks
        stacked along the lead axis: each checkpoint's numbers are those of a pass of its own
        (tests/core/test_train.py), in fewer NumPy calls; `.venv/bin/python bench/retrain.py`
        times the recorder's parts. Its arrays are larger than one checkpoint's: in a worker
        process they come from the heap (``bnviz.workers.keep_freed_memory``)."""
        n = len(self.pending)
        if self.boundary is None or self.grid is None or not n:
            return
        many = nn.like(net, lead=(n,))
        many.theta[...] = self.pending_theta[:n]
        stats = [(mu[:n], var[:n]) for mu, var in self.pending_stats] if net.batch_stats else None
        logits, _ = nn.forward(many, self.grid, stats)  # (n, GRID², classes)
        p = np.exp(logits - logits.max(axis=-1, keepdims=True))
        p1 = p[..., 1] / p.sum(axis=-1)
        self.boundary[self.pending] = np.round(np.nan_to_num(p1) * 255).reshape(n, GRID, GRID)
        self.pending = []

    def run(self, stack: engine.Stack) -> Run:
        """The Run of what was recorded, cut to the steps done."""
        s = stack.settings[0]
        self._boundaries(stack.net)
        steps_done = int(stack.steps_done()[0])
        n_ckpt = len(self.rows)
        n_rec = int(np.searchsorted(self.stat_steps, steps_done, side="right"))
        net = nn.like(stack.net, s.eps, (), r_max=s.renorm_r_max, d_max=s.renorm_d_max)
        net.theta[...], net.grad[...] = stack.net.theta[0], stack.net.grad[0]
        return Run(
            settings=s,
            curve_columns=_columns(self.rows),
            loss=self.loss[:steps_done],
            stat_steps=self.stat_steps[:n_rec],
            ckpt_steps=self.ckpt_steps[:n_ckpt],
            layers=[rec.trimmed(n_rec, n_ckpt) for rec in self.layers],
            quantities=self.quantities,
            boundary=None if self.boundary is None else self.boundary[:n_ckpt],
            boundary_extent=self.extent,
            net=net,
            running=[(mu[0], var[0]) for mu, var in stack.now.running],
            population=self.population,
            dataset=stack.datasets[0],
            diverged=_message(stack.divergence[0], s.use_bn),
            shown_steps=self.shown_steps[:n_ckpt],
        )


def _columns(rows: list[dict]) -> dict[str, NDArray]:
    """The checkpoint rows as columns, in the rows' key order: ``step`` (Python ints) as
    int64, the losses and accuracies (Python floats) as float64: the dtypes
    ``pd.DataFrame(rows)`` gives them."""
    return {name: np.array([row[name] for row in rows]) for name in (rows[0] if rows else ())}


def _batch_stats(tap: nn.Tap) -> tuple[NDArray, NDArray]:
    """The per-unit mu_B, sigma²_B (1/m) of a training forward's batch: BN's and Batch
    Renorm's from their cache, LayerNorm's and GroupNorm's computed from z (see the module
    docstring). Shape (K, width)."""
    c = tap.cache
    if isinstance(c, bn.Cache | norms.BatchRenormCache):
        return c.mu, c.var
    return tap.z.mean(axis=-2), tap.z.var(axis=-2)


def _message(d: engine.Divergence | None, use_bn: bool) -> str | None:
    """What to tell the user when training stopped early; ε is a remedy only with BN on."""
    if d is None:
        return None
    if d.loss is None:
        return (
            f"Training diverged by step {d.step}: some weights became infinite or NaN. "
            "Lower the learning rate; the charts show the steps before."
        )
    return (
        f"Training diverged at step {d.step}: the loss became {fmt.number(d.loss)}. "
        + ("Lower the learning rate (or raise ε)" if use_bn else "Lower the learning rate")
        + "; the charts show the steps before."
    )


def train(settings: Settings, dtype: DTypeLike = np.float64, watch: engine.Watch | None = None) -> Run:
    """Train the network ``settings`` describe and record what the app draws.

    ``watch`` (see ``engine.train``) is told the step before each one and may stop the run.
    """
    settings.validate()
    stack = engine.Stack.create([settings], dtype)
    recorder = _RunRecorder(stack)
    engine.train(stack, recorder, watch)
    return recorder.run(stack)

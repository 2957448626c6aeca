"""The numbers the Explorer shows: what its equations, panel titles and markers read off a Run.

No Streamlit and no Plotly here. Everything comes from what ``bnviz.train`` recorded;
the arithmetic is the step from one unit to "all units pooled" (``unit == -1``) and
the quantities the note derives from μ, σ², ε, γ, β (the spread of z_norm, what γ and
β imply for z̃). ``bnviz.charts.explorer`` draws these numbers and the Explorer page
writes them into its equations, so the two always agree.

``layer`` is 0-based, ``unit`` is 0-based or ``-1`` for all units pooled, ``k`` is a
checkpoint index into ``run.ckpt_steps``.

``normalize`` (display only) is the statistics the histograms normalize with
(:data:`NORMALIZE`): ``"batch"``, the mini-batch the checkpoint's step trained on (its μ_B,
σ²_B: training mode, exactly as training computed); ``"running"``, the EWA estimates at the
checkpoint, bias-corrected when ``settings.bias_correction`` is on (test time; not defined at
step 0, where nothing has been averaged yet); ``"population"``, the whole training set
through the checkpoint's weights. Without BN nothing keeps running estimates: ``"running"``
means the population there. LayerNorm and GroupNorm normalize each example with its own
statistics, in training and at test time alike, and keep no running estimates: every choice
means :data:`EXAMPLE` for them (the one :func:`normalize_choices` offers), what their forward
pass computed. Batch Renorm's ``"batch"`` is its training forward pass, r and d included.

Frame k of the Explorer shows two things: the network at checkpoint k (after step t), whose
training sample is the background histogram, and the mini-batch of step t as its forward
pass computed it (:func:`batch_points`), drawn as points. The histograms of Z_norm and Z̃ use
the checkpoint's γ, β; the points use the γ, β of their forward pass (before step t's
update): the two differ by one optimizer step.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from . import bn, fmt
from .settings import Settings, fitting_groups
from .train import HIST_BINS, LayerRecord, Run

Array = NDArray[np.floating]
NORMALIZE = ("batch", "running", "population")
# LayerNorm's and GroupNorm's only statistics: each example's own, over its units (or group)
EXAMPLE = "example"
# The short name of each normalization (Settings.normalization), for headers and legends
NORM_NAMES = {"batch": "BN", "layer": "LayerNorm", "group": "GroupNorm", "renorm": "Batch Renorm"}
# "All units pooled" draws the shown mini-batch's first rows of every unit, at most this
# many points in all (the figure sends them once per checkpoint).
POOLED_POINTS = 128


@dataclass(frozen=True)
class UnitNumbers:
    """The statistics behind the histograms of one checkpoint, for one unit or all pooled.

    ``stats`` is what ``mu`` and ``var`` are (:data:`NORMALIZE`): the shown mini-batch's μ_B,
    σ²_B over its ``m`` examples; the running estimates (``m``: the mini-batch size they
    average over); or the whole training set's (``m`` examples); with :data:`EXAMPLE` the
    unit's mean and variance over the shown mini-batch, for comparison only (LayerNorm and
    GroupNorm do not normalize with them). ``defined`` is False for the
    running estimates at step 0 (then ``mu`` = ``var`` = 0, the starting value v₀).
    ``sd_norm`` = √(σ²/(σ²+ε)) is the standard deviation of z_norm of the values these
    statistics describe; ``implied_mean`` and ``implied_sd`` are what the checkpoint's γ and
    β make of it for z̃ (β and |γ|·sd_norm); ``norm_mean`` is z_norm's mean (0). Batch
    Renorm's ``"batch"``: its z_norm r·(z − μ_B)/σ_B + d has mean d and sd r·sd_norm, and z̃
    mean γ·d + β. With :data:`EXAMPLE`, z_norm's and z̃'s mean and sd are those of the
    training sample's histograms the panels draw (to within half a bin).
    Pooled, ``mu`` and ``var`` are the mean and
    variance of all units' values together, ``gamma`` and ``beta`` the means over units, and
    the implied values those of all units' z̃ together.
    """

    step: int
    m: int
    mu: float
    var: float
    sd: float
    eps: float
    sd_norm: float
    gamma: float
    beta: float
    implied_mean: float
    implied_sd: float
    stats: str = "batch"
    defined: bool = True
    norm_mean: float = 0.0


def run_identity(run: Run) -> tuple[object, ...]:
    """What tells two runs apart, for caches of what is drawn from a run (figures shared by
    every session): its settings (a run is a deterministic function of them), the steps it
    trained and a hash of its loss at every step, so two runs that differ in any step
    never share a cache entry."""
    loss = np.ascontiguousarray(run.loss)
    return (run.settings, run.steps_done, hashlib.blake2b(loss.tobytes(), digest_size=16).hexdigest())


UNIT_BLOCK = 16  # the units of a layer whose histograms the Explorer's chart holds at a time


def unit_label(j: int) -> str:
    """The Explorer's name of unit ``j`` in its Unit box (-1: every unit pooled)."""
    return "all units pooled" if j < 0 else f"unit {j + 1}"


def unit_block(width: int, unit: int) -> list[int]:
    """"All" (-1) and the block of ``UNIT_BLOCK`` units that holds ``unit`` (the first block
    for "all"): the views the Explorer's histograms switch between in the browser."""
    start = max(unit, 0) // UNIT_BLOCK * UNIT_BLOCK
    return [-1, *range(start, min(start + UNIT_BLOCK, width))]


def pooled_mean_var(mu: Array, var: Array) -> tuple[float, float]:
    """Mean and variance of all units' values together, from each unit's μ and σ² (1/m).

    Every unit has the same number of values, so the pooled mean is the mean of the
    μ and the pooled variance is the mean of the second moments σ² + μ² minus the
    squared pooled mean.
    """
    mu = np.asarray(mu, dtype=np.float64)
    var = np.asarray(var, dtype=np.float64)
    mean = float(mu.mean())
    return mean, float((var + mu**2).mean() - mean**2)


def norm_names(settings: Settings) -> tuple[str, str]:
    """The short names of the normalized network ``settings`` describe and of its baseline
    (the same network without normalization): ("BN", "no BN") for the note's BN,
    ("LayerNorm", "none"), ("GroupNorm", "none"), ("Batch Renorm", "none") for the others."""
    name = NORM_NAMES[settings.normalization]
    return name, "no BN" if settings.normalization == "batch" else "none"


def setting_notes(settings: Settings) -> tuple[str, ...]:
    """One line each on settings that change what the Explorer's panels mean or whether the
    network can learn: the normalization after the activation (the Z panels then show g's
    output), noise after it (training only), and LayerNorm or GroupNorm over sets of one unit
    (z_norm = 0: nothing passes) or two (z_norm of two values is ±√(σ²/(σ²+ε)), about ±1: a
    sign, nearly no gradient; the default sigmoid network with 8 units in 4 groups ends at
    46.5 % test accuracy, 2 groups of 4 at 86.5 %, tests/core/test_setting_notes.py)."""
    s = settings
    if not s.use_bn:
        return ()
    name = norm_names(s)[0]
    notes = []
    if s.bn_position == "after":
        notes.append(f"{name} after g: Z′ = W·A + b → g → Z → {name} → Z̃ = A, the next layer's input. "
                     f"The Z panels show g's output, which is what {name} normalizes here.")
    if s.bn_noise > 0:
        n = fmt.number(s.bn_noise, 3)
        notes.append(f"Noise after {name}, n = {n}: at every training step each unit's z̃ becomes s·z̃ + d, "
                     f"s ~ U(1/(1+n), 1+n), d ~ U(−n, n) drawn afresh (Santurkar et al. 2018). The panels "
                     "show z̃ without it, as inference computes it.")
    size = {"layer": s.width, "group": s.width // s.groups}.get(s.normalization, 0)
    fewer = fitting_groups(s.width, max(1, s.width // 3)) if s.normalization == "group" else 0
    remedy = (f" Choose fewer groups (e.g. {fewer}, of {s.width // fewer} units)." if 0 < fewer < s.groups
              else " Use more units per layer.")
    units = f"{size} unit{'s' if size > 1 else ''}"
    over = f"groups of {units}" if s.normalization == "group" else f"its {units}"
    if size == 1:
        notes.append(f"{name} over {over}: z − μ = 0, so z_norm = 0 and z̃ = β whatever the "
                     "input; no signal passes and the network cannot learn." + remedy)
    elif size == 2:
        notes.append(f"{name} over {over}: the z_norm of two values is ±√(σ²/(σ²+ε)), about ±1 "
                     "whatever they are (a sign), so almost no gradient passes and the network usually "
                     "does not learn." + remedy)
    return tuple(notes)


def per_example(settings: Settings) -> bool:
    """The normalization uses each example's own statistics (LayerNorm, GroupNorm)."""
    return settings.use_bn and settings.normalization in ("layer", "group")


def normalize_choices(settings: Settings) -> tuple[str, ...]:
    """The "Normalize with" choices that exist for a run: :data:`EXAMPLE` alone for LayerNorm
    and GroupNorm (no running estimates, no batch statistics), else :data:`NORMALIZE`."""
    return (EXAMPLE,) if per_example(settings) else NORMALIZE


def normalized_with(run: Run, normalize: str) -> str:
    """The statistics ``normalize`` means for this run (without BN: no running estimates;
    LayerNorm, GroupNorm: each example's own, whatever is asked)."""
    if normalize not in (*NORMALIZE, EXAMPLE):
        raise ValueError(f"normalize must be one of {(*NORMALIZE, EXAMPLE)}, got {normalize!r}")
    if per_example(run.settings):
        return EXAMPLE
    if normalize == EXAMPLE:
        return "batch"
    if normalize == "running" and not run.settings.use_bn:
        return "population"
    return normalize


def all_statistics(
    run: Run, layer: int, normalize: str = "batch"
) -> tuple[Array, Array, NDArray[np.bool_]]:
    """:func:`statistics` of every checkpoint: μ, σ² (n_ckpt, width) and defined (n_ckpt,)."""
    rec, which = run.layers[layer], normalized_with(run, normalize)
    nk = len(run.ckpt_steps)
    if which in ("batch", EXAMPLE):
        return rec.shown_mu.astype(np.float64), rec.shown_var.astype(np.float64), np.ones(nk, bool)
    if which == "population":
        return rec.pop_mu.astype(np.float64), rec.pop_var.astype(np.float64), np.ones(nk, bool)
    mu: Array = rec.ckpt_running_mu.astype(np.float64)
    var: Array = rec.ckpt_running_var.astype(np.float64)
    t = run.ckpt_steps.astype(np.int64)[:, None]
    if run.settings.bias_correction:
        t1 = np.maximum(t, 1)  # step 0 is not defined either way
        decay = run.settings.decay
        mu, var = bn.bias_corrected(mu, decay, t1), bn.bias_corrected(var, decay, t1)
    return mu, var, t[:, 0] > 0


def mean_sd(
    run: Run, layer: int, unit: int, normalize: str = "batch"
) -> tuple[Array, Array, NDArray[np.bool_]]:
    """:class:`UnitNumbers`' ``mu`` and ``sd`` at every checkpoint (n_ckpt,) each, and
    whether they are defined: the Z panel's marks, all at once."""
    mu, var, defined = all_statistics(run, layer, normalize)
    if unit >= 0:
        m, v = mu[:, unit], var[:, unit]
    else:  # pooled_mean_var of each checkpoint
        m = mu.mean(axis=1)
        v = (var + mu**2).mean(axis=1) - m**2
    return m, np.sqrt(np.maximum(v, 0.0)), defined


def unit_numbers(run: Run, layer: int, unit: int, k: int, normalize: str = "batch") -> UnitNumbers:
    """The numbers the histograms of checkpoint ``k`` show (see :class:`UnitNumbers`)."""
    return all_unit_numbers(run, layer, unit, normalize)[k]


def all_unit_numbers(run: Run, layer: int, unit: int, normalize: str = "batch") -> list[UnitNumbers]:
    """:func:`unit_numbers` of every checkpoint, computed together: the arrays over units for
    all checkpoints at once, and each checkpoint's few scalars in Python floats, as for one
    checkpoint alone (a Python float's ``x**2`` is C's ``pow``, which may differ from NumPy's
    ``x*x`` in the last bit, and the figure sends these numbers in full)."""
    rec = run.layers[layer]
    eps = float(run.settings.eps)
    which = normalized_with(run, normalize)
    mu_u, var_u, defined = all_statistics(run, layer, which)  # (nk, width), (nk,)
    vn_u = np.divide(var_u, var_u + eps, out=np.zeros_like(var_u), where=(var_u + eps) > 0)
    nm_u = np.zeros_like(vn_u)  # each unit's z_norm: mean and variance
    if which == "batch" and run.settings.use_bn and run.settings.normalization == "renorm":
        r_u, d_u = rec.shown_r.astype(np.float64), rec.shown_d.astype(np.float64)
        nm_u, vn_u = d_u, r_u**2 * vn_u
    g_u = rec.gamma.astype(np.float64)
    b_u = rec.beta.astype(np.float64)
    if unit >= 0:
        mu, var, nm, vn, gamma, beta = (a[:, unit].tolist() for a in (mu_u, var_u, nm_u, vn_u, g_u, b_u))
        zt_mean = [g * n + b for g, n, b in zip(gamma, nm, beta)]
        zt_var = [g**2 * v for g, v in zip(gamma, vn)]
    else:
        mu, var = _pooled_rows(mu_u, var_u)
        nm, vn = _pooled_rows(nm_u, vn_u)
        gamma, beta = g_u.mean(axis=1).tolist(), b_u.mean(axis=1).tolist()
        # z̃ of unit j has mean γ_j·mean_j + β_j and variance γ_j²·sd_norm_j²: pooled the same way
        zt_mean, zt_var = _pooled_rows(g_u * nm_u + b_u, g_u**2 * vn_u)
    if which == EXAMPLE:  # what the forward pass computed: the drawn histograms' moments
        nm, vn = _all_moments(rec, 1, unit)
        zt_mean, zt_var = _all_moments(rec, 2, unit)
    m = len(run.dataset.y_train) if which == "population" else run.settings.batch_size
    return [
        UnitNumbers(
            step=step,
            m=m,
            mu=mu[k],
            var=max(var[k], 0.0),
            sd=math.sqrt(max(var[k], 0.0)),
            eps=eps,
            sd_norm=math.sqrt(max(vn[k], 0.0)),
            gamma=gamma[k],
            beta=beta[k],
            implied_mean=zt_mean[k],
            implied_sd=math.sqrt(max(zt_var[k], 0.0)),
            stats=which,
            defined=ok,
            norm_mean=nm[k],
        )
        for k, (step, ok) in enumerate(zip(run.ckpt_steps.tolist(), defined.tolist()))
    ]


def _pooled_rows(mu: Array, var: Array) -> tuple[list[float], list[float]]:
    """:func:`pooled_mean_var` of each row of (n_ckpt, width) ``mu`` and ``var``: NumPy sums
    a C-contiguous array's rows as it sums one row alone, so each row's numbers are the same
    to the last bit (tests/core/test_explorer_numbers.py)."""
    mean = mu.mean(axis=1).tolist()
    second = (var + mu**2).mean(axis=1).tolist()
    return mean, [s - m**2 for s, m in zip(second, mean)]


def _moments(edges: Array, counts: NDArray) -> tuple[float, float]:
    """Mean and variance of a histogram's values, each at its bin's centre (0, 0 if empty)."""
    counts = counts.astype(np.float64)
    if not counts.sum() > 0:
        return 0.0, 0.0
    centres = (edges[:-1] + edges[1:]) / 2
    mean = float(np.average(centres, weights=counts))
    return mean, float(np.average((centres - mean) ** 2, weights=counts))


def _all_moments(rec: LayerRecord, q: int, unit: int) -> tuple[list[float], list[float]]:
    """:func:`_moments` of quantity ``q``'s recorded histogram of ``unit`` at every checkpoint,
    computed together, with the same operations in the same types (float32 bin centres)."""
    edges = _edge_rows(rec.hist_lo[:, q, unit], rec.hist_hi[:, q, unit])  # rec.hist_edges of each
    counts = rec.hist_counts[:, q, unit].astype(np.float64)
    total = counts.sum(axis=1)
    some = total > 0
    scale = np.where(some, total, 1.0)
    centres = (edges[:, :-1] + edges[:, 1:]) / 2
    mean = np.multiply(centres, counts, dtype=np.float64).sum(axis=1) / scale
    dev = (centres - mean.astype(centres.dtype)[:, None]) ** 2  # as centres - a Python float
    var = np.multiply(dev, counts, dtype=np.float64).sum(axis=1) / scale
    return np.where(some, mean, 0.0).tolist(), np.where(some, var, 0.0).tolist()


def _edge_rows(lo: NDArray, hi: NDArray) -> NDArray:
    """``np.linspace(lo[k], hi[k], HIST_BINS + 1)`` of each k (``LayerRecord.hist_edges``),
    to the last bit: ``np.linspace`` of all rows at once would take the formula it uses for a
    zero step in every row as soon as one row has a zero step."""
    index = np.arange(HIST_BINS + 1, dtype=lo.dtype)
    delta = (hi - lo)[:, None]
    step = delta / HIST_BINS
    edges = np.where(step == 0, index / HIST_BINS * delta, index * step) + lo[:, None]
    edges[:, -1] = hi
    return edges


# What Z's μ and σ in a summary are, by the statistics the histograms normalize with.
SUMMARY_STATS = {"batch": "Z of this mini-batch has", "population": "Z of the whole training set has",
                 "running": "Z normalized with the running EWA estimates of",
                 EXAMPLE: "Z of this mini-batch has"}


def movie_summary(run: Run, layer: int, unit: int, k: int, normalize: str = "batch") -> str:
    """The histograms of checkpoint ``k`` in one line, the chart's text alternative: the
    numbers of its panel titles (:func:`unit_numbers`), written by ``bnviz.fmt``.

    "Histograms at step 300, layer 1, unit 1: Z of this mini-batch has mean 0.12 and sd
    0.63; Z_norm sd 1; Z̃ mean β = 0.01, sd 0.98". Without BN only Z is drawn; at step 0
    the running estimates are not defined (v₀ = 0) and the line says so.
    """
    n = unit_numbers(run, layer, unit, k, normalize)
    who = f"unit {unit + 1}" if unit >= 0 else "all units pooled"
    head = f"Histograms at step {n.step}, layer {layer + 1}, {who}: "

    def num(x: float) -> str:
        return fmt.number(x, 3, zero_below=1e-9)

    if not n.defined:
        return head + f"the running EWA estimates are not defined at step {n.step} (v₀ = 0)"
    text = head + f"{SUMMARY_STATS[n.stats]} mean {num(n.mu)} and sd {num(n.sd)}"
    if len(run.quantities) == 1:  # no BN: Z alone
        return text
    if n.stats == EXAMPLE or n.norm_mean != 0:
        return text + (f"; Z_norm mean {num(n.norm_mean)}, sd {num(n.sd_norm)}; "
                       f"Z̃ mean {num(n.implied_mean)}, sd {num(n.implied_sd)}")
    return text + f"; Z_norm sd {num(n.sd_norm)}; Z̃ mean β = {num(n.implied_mean)}, sd {num(n.implied_sd)}"


# ----------------------------------------------------------------------------- the mini-batch


@dataclass(frozen=True)
class BatchPoints:
    """The mini-batch a checkpoint shows, normalized with the chosen statistics.

    ``step`` is the training step whose batch it is (0: none was recorded, training stopped
    at step 1), ``m`` its size; the arrays hold its first examples (``train.BATCH_SHOWN`` at
    most), one unit's, or pooled the first rows of every unit, unit after unit
    (:data:`POOLED_POINTS` at most). ``z`` is what the forward pass computed; ``z_norm`` is
    ``(z - mu)/√(var + ε)`` with ``mu``, ``var`` (each point's unit's) the chosen statistics
    (with ``"batch"``: the forward pass's own z_norm, Batch Renorm's with its r and d); with
    :data:`EXAMPLE` ``(z - mu_i)/√(var_i + ε)`` with example i's own mean and variance over its
    units (or its unit's group), what LayerNorm and GroupNorm computed, while ``mu``, ``var``
    are the unit's over the mini-batch, for comparison; ``z_tilde`` = γ·z_norm + β with the γ,
    β of that forward pass. Both are None without BN, and NaN where the statistics are not
    defined (``defined`` False).
    """

    step: int
    m: int
    stats: str
    defined: bool
    z: Array
    z_norm: Array | None
    z_tilde: Array | None
    mu: Array
    var: Array


def batch_points(run: Run, layer: int, unit: int, k: int, normalize: str = "batch") -> BatchPoints:
    """The shown mini-batch of checkpoint ``k`` (see :class:`BatchPoints`)."""
    return all_batch_points(run, layer, unit, normalize)[k]


def all_batch_points(run: Run, layer: int, unit: int, normalize: str = "batch") -> list[BatchPoints]:
    """:func:`batch_points` of every checkpoint: the rows of :func:`stacked_batch_points`."""
    s = stacked_batch_points(run, layer, unit, normalize)
    return [BatchPoints(step, s.m, s.stats, ok, s.z[k], None if s.z_norm is None else s.z_norm[k],
                        None if s.z_tilde is None else s.z_tilde[k], s.mu[k], s.var[k])
            for k, (step, ok) in enumerate(zip(s.steps.tolist(), s.defined.tolist()))]  # fmt: skip


@dataclass(frozen=True)
class StackedBatchPoints:
    """:class:`BatchPoints` of every checkpoint as arrays, one row per checkpoint: ``steps``
    and ``defined`` (n_ckpt,), ``z``, ``z_norm``, ``z_tilde`` (n_ckpt, points; NaN rows
    where not defined), ``mu``, ``var`` (n_ckpt, units)."""

    steps: NDArray[np.integer]
    m: int
    stats: str
    defined: NDArray[np.bool_]
    z: Array
    z_norm: Array | None
    z_tilde: Array | None
    mu: Array
    var: Array


def stacked_batch_points(run: Run, layer: int, unit: int, normalize: str = "batch") -> StackedBatchPoints:
    """:class:`StackedBatchPoints`: the shown mini-batch of every checkpoint, computed together."""
    rec, s = run.layers[layer], run.settings
    which = normalized_with(run, normalize)
    width = rec.shown_mu.shape[1]
    units = [unit] if unit >= 0 else list(range(width))
    rows = rec.shown_z_norm.shape[1]
    if unit < 0:
        rows = max(1, min(rows, POOLED_POINTS // width))
    z_norm_b = np.swapaxes(rec.shown_z_norm[:, :rows][:, :, units], 1, 2).astype(np.float64)  # (nk, U, rows)
    mu_b, var_b = rec.shown_mu[:, units].astype(np.float64), rec.shown_var[:, units].astype(np.float64)
    z = mu_b[..., None] + z_norm_b * np.sqrt(var_b + s.eps)[..., None]  # the forward pass's z
    mu_all, var_all, defined = all_statistics(run, layer, which)
    mu, var = mu_all[:, units], var_all[:, units]
    nk = len(run.ckpt_steps)
    steps = run.shown_steps if len(run.shown_steps) == nk else np.zeros(nk, np.int32)
    flat = z.reshape(nk, -1)
    if not s.use_bn:
        return StackedBatchPoints(steps, s.batch_size, which, defined, flat, None, None, mu, var)
    if which == EXAMPLE:  # each row with its own mean and variance: as the forward pass computed it
        z_norm = np.swapaxes(rec.shown_ex_z_norm[:, :rows][:, :, units], 1, 2).astype(np.float64)
    elif which == "batch":
        z_norm = z_norm_b
        if s.normalization == "renorm":  # Batch Renorm: r·(z − μ_B)/σ_B + d
            z_norm = z_norm * rec.shown_r[:, units, None] + rec.shown_d[:, units, None]
    else:
        z_norm = (z - mu[..., None]) * bn.inv_sqrt(var, s.eps)[..., None]
    gamma = rec.shown_gamma[:, units].astype(np.float64)[..., None]
    beta = rec.shown_beta[:, units].astype(np.float64)[..., None]
    z_tilde = (gamma * z_norm + beta).reshape(nk, -1)
    z_norm = z_norm.reshape(nk, -1)
    shown = defined & (steps > 0)
    z_norm, z_tilde = (np.where(shown[:, None], a, np.nan) for a in (z_norm, z_tilde))
    return StackedBatchPoints(steps, s.batch_size, which, shown, flat, z_norm, z_tilde, mu, var)


# ----------------------------------------------------------------------------- the histograms


def histogram(
    run: Run, layer: int, unit: int, k: int, q: int, normalize: str = "batch"
) -> tuple[Array, Array] | None:
    """Bin edges (HIST_BINS + 1,) and counts (HIST_BINS,) of quantity ``q`` (of
    ``run.quantities``) of checkpoint ``k``'s training sample, normalized with ``normalize``;
    None where those statistics are not defined (see :func:`stacked_histograms`)."""
    return histograms(run, layer, unit, q, normalize)[k]


def histograms(
    run: Run, layer: int, unit: int, q: int, normalize: str = "batch"
) -> list[tuple[Array, Array] | None]:
    """:func:`histogram` of every checkpoint: the rows of :func:`stacked_histograms`, None
    where the statistics are not defined."""
    h = stacked_histograms(run, layer, unit, q, normalize)
    return [(e, c) if ok else None for e, c, ok in zip(h.edges, h.counts, h.defined.tolist())]


@dataclass(frozen=True)
class StackedHistograms:
    """:func:`histogram` of every checkpoint as arrays: bin edges (n_ckpt, HIST_BINS + 1),
    counts (n_ckpt, HIST_BINS), and ``defined`` (n_ckpt,), False where the statistics are not
    (the running estimates at step 0): those rows are not a histogram of anything."""

    edges: Array
    counts: Array
    defined: NDArray[np.bool_]


def stacked_histograms(
    run: Run, layer: int, unit: int, q: int, normalize: str = "batch"
) -> StackedHistograms:
    """:class:`StackedHistograms` of quantity ``q``, computed for all checkpoints at once.

    Z does not depend on the statistics: its recorded histogram. With the population
    statistics, and with :data:`EXAMPLE` (LayerNorm, GroupNorm: what their forward pass
    computed), the recorded Z_norm and Z̃ histograms. Otherwise, per unit, z_norm = a·z + c
    is affine in z (a = 1/√(σ² + ε) > 0, and z̃ = γ·z_norm + β, a = γ/√(σ² + ε)), so the Z
    histogram with its bin edges moved is that unit's histogram exactly (reversed when a < 0;
    a = 0 puts every value at c, drawn as one narrow bar). Pooled, each unit's moved
    histogram is spread over HIST_BINS shared bins spanning all of them, its values taken as
    uniform within each of its own bins: an approximation within one bin width of each unit.
    """
    rec = run.layers[layer]
    nk = len(run.ckpt_steps)
    which = normalized_with(run, normalize)
    if q == 0 or which in ("population", EXAMPLE):
        lo, hi = rec.hist_lo[:, q, unit].astype(np.float64), rec.hist_hi[:, q, unit].astype(np.float64)
        edges = np.linspace(lo, hi, HIST_BINS + 1, axis=1)  # rec.hist_edges of every checkpoint
        return StackedHistograms(edges, rec.hist_counts[:, q, unit].astype(np.float64), np.ones(nk, bool))
    mu, var, defined = all_statistics(run, layer, normalize)  # (nk, width), (nk,)
    width = mu.shape[1]
    a = bn.inv_sqrt(var, run.settings.eps)
    c = -mu * a
    if which == "batch" and run.settings.use_bn and run.settings.normalization == "renorm":
        r, d = rec.shown_r.astype(np.float64), rec.shown_d.astype(np.float64)
        a, c = r * a, r * c + d  # Batch Renorm's z_norm: r·(z − μ_B)/σ_B + d
    if q == 2:
        gamma, beta = rec.gamma.astype(np.float64), rec.beta.astype(np.float64)
        a, c = gamma * a, gamma * c + beta
    units = slice(unit, unit + 1) if unit >= 0 else slice(0, width)  # only what is drawn
    a, c = a[:, units], c[:, units]
    lo = rec.hist_lo[:, 0, units].astype(np.float64)
    hi = rec.hist_hi[:, 0, units].astype(np.float64)
    counts = rec.hist_counts[:, 0, units].astype(np.float64)  # (nk, units, bins)
    flip = a < 0
    new_lo = np.where(flip, a * hi, a * lo) + c
    step = np.abs(a) * (hi - lo) / HIST_BINS  # bin width after the move
    counts = np.where(flip[..., None], counts[..., ::-1], counts)
    if unit < 0:
        return StackedHistograms(*_rebin(new_lo, step, counts), defined)
    edges, counts = new_lo + step * np.arange(HIST_BINS + 1), counts[:, 0]
    for k in np.flatnonzero(~(step[:, 0] > 0)):
        edges[k], counts[k] = _spike(float(new_lo[k, 0]), float(counts[k].sum()))
    return StackedHistograms(edges, counts, defined)


def _spike(at: float, n: float) -> tuple[Array, Array]:
    """Every value at ``at``: one narrow bar (1/HIST_BINS wide, or relative for large ``at``)."""
    w = max(1.0, abs(at)) / HIST_BINS
    middle = HIST_BINS // 2
    counts = np.zeros(HIST_BINS)
    counts[middle] = n
    return at + w * (np.arange(HIST_BINS + 1) - middle - 0.5), counts


def _rebin(lo: Array, step: Array, counts: Array) -> tuple[Array, Array]:
    """Per checkpoint, unit histograms (nk, U, HIST_BINS) with left edges ``lo`` and bin
    widths ``step`` (nk, U; 0: every value at ``lo``) summed onto HIST_BINS shared bins: each
    unit's cumulative count, linear within its own bins, read at the shared edges. Returns
    edges (nk, HIST_BINS + 1) and counts (nk, HIST_BINS)."""
    x0, x1 = lo.min(axis=1), (lo + step * HIST_BINS).max(axis=1)
    flat = ~(x1 > x0)
    edges = np.linspace(x0, np.where(flat, x0 + 1, x1), HIST_BINS + 1, axis=1)  # (nk, B + 1)
    cum = np.zeros(counts.shape[:2] + (HIST_BINS + 1,))  # (nk, U, B + 1)
    np.cumsum(counts, axis=2, out=cum[..., 1:])
    moving = step > 0
    rel = edges[:, None, :] - lo[..., None]
    pos = np.divide(rel, step[..., None], out=np.zeros_like(rel), where=moving[..., None])
    pos = np.clip(pos, 0, HIST_BINS)
    i = np.minimum(pos.astype(np.int64), HIST_BINS - 1)
    cdf = _along_last(cum, i) + (pos - i) * _along_last(counts, i)
    at_once = (rel >= 0) * cum[..., -1:]  # a unit with every value at lo
    cdf = np.where(moving[..., None], cdf, at_once)
    cdf[..., -1] = cum[..., -1]  # the last edge closes every unit's histogram
    pooled = np.diff(cdf.sum(axis=1), axis=1)
    for k in np.flatnonzero(flat):
        edges[k], pooled[k] = _spike(float(x0[k]), float(counts[k].sum()))
    return edges, pooled


def _along_last(a: Array, i: NDArray[np.int64]) -> Array:
    """``np.take_along_axis(a, i, axis=2)`` for (nk, U, n) ``a`` and (nk, U, n') ``i``, as one
    flat ``take``, without the index arrays ``take_along_axis`` builds for every axis."""
    rows = np.arange(a.shape[0] * a.shape[1]).reshape(a.shape[:2] + (1,))
    return np.ascontiguousarray(a).ravel().take(rows * a.shape[2] + i)


@dataclass(frozen=True)
class StatNumbers:
    """Mini-batch, running and population statistics of one unit at one step.

    ``t`` is the recorded step used (0 before the first one; then ``mu_B``, ``var_B``,
    ``cor_mu``, ``cor_var`` are None and the running estimates are their start, 0).
    ``run_mu``/``run_var`` are the raw EWA, ``cor_mu``/``cor_var`` bias-corrected,
    ``prev_mu``/``prev_var`` the raw EWA one step before (None when that step was not
    recorded), ``pop_mu``/``pop_var`` the population at the last checkpoint ≤ step.
    ``pytorch_momentum`` = 1 − decay, the weight of μ_B in the update (PyTorch's
    ``momentum``; Keras's is the decay itself).
    """

    t: int
    decay: float
    pytorch_momentum: float
    mu_B: float | None
    var_B: float | None
    run_mu: float
    run_var: float
    prev_mu: float | None
    prev_var: float | None
    cor_mu: float | None
    cor_var: float | None
    pop_mu: float
    pop_var: float


def _pick(a: Array, i: int, unit: int) -> float:
    """Row ``i`` of a (steps, units) record at ``unit``, or its mean over units (-1)."""
    row = np.asarray(a[i]).astype(np.float64)
    return float(row[unit] if unit >= 0 else row.mean())


def checkpoint_at(run: Run, step: int) -> int:
    """Index of the last recorded checkpoint at or before ``step`` (0 if none)."""
    return max(int(np.searchsorted(run.ckpt_steps, step, side="right")) - 1, 0)


def stat_numbers(run: Run, layer: int, unit: int, step: int) -> StatNumbers:
    """The statistics of one unit (``-1``: the mean over units) at or just before ``step``."""
    rec = run.layers[layer]
    decay = float(run.settings.decay)
    i = int(np.searchsorted(run.stat_steps, step, side="right")) - 1
    t = 0
    mu_B = var_B = prev_mu = prev_var = cor_mu = cor_var = None
    run_mu = run_var = 0.0
    if i >= 0 and len(rec.batch_mu):
        t = int(run.stat_steps[i])
        cmu, cvar = run.corrected(layer)
        mu_B, var_B = _pick(rec.batch_mu, i, unit), _pick(rec.batch_var, i, unit)
        run_mu, run_var = _pick(rec.running_mu, i, unit), _pick(rec.running_var, i, unit)
        cor_mu, cor_var = _pick(cmu, i, unit), _pick(cvar, i, unit)
        if i >= 1 and run.stat_steps[i - 1] == t - 1:
            prev_mu, prev_var = _pick(rec.running_mu, i - 1, unit), _pick(rec.running_var, i - 1, unit)
        elif i == 0 and t == 1:
            prev_mu, prev_var = 0.0, 0.0
    kk = checkpoint_at(run, step)
    return StatNumbers(
        t=t, decay=decay, pytorch_momentum=1 - decay, mu_B=mu_B, var_B=var_B,
        run_mu=run_mu, run_var=run_var, prev_mu=prev_mu, prev_var=prev_var,
        cor_mu=cor_mu, cor_var=cor_var,
        pop_mu=_pick(rec.pop_mu, kk, unit), pop_var=_pick(rec.pop_var, kk, unit),
    )  # fmt: skip


@dataclass(frozen=True)
class StatSeries:
    """μ and σ² of one unit (or their mean over units) over training.

    ``batch_*``, ``running_*`` (raw EWA) and ``corrected_*`` (bias-corrected) are one
    value per recorded step ``steps``; ``pop_*`` one per checkpoint ``ckpt_steps``.
    """

    steps: NDArray[np.integer]
    ckpt_steps: NDArray[np.integer]
    batch_mu: Array
    batch_var: Array
    running_mu: Array
    running_var: Array
    corrected_mu: Array
    corrected_var: Array
    pop_mu: Array
    pop_var: Array


def stat_series(run: Run, layer: int, unit: int) -> StatSeries:
    """The series the statistics chart draws: column ``unit`` of each record, or the row means."""
    rec = run.layers[layer]
    cmu, cvar = run.corrected(layer)

    def col(a: Array) -> Array:
        a = np.asarray(a)
        if a.ndim < 2 or a.shape[0] == 0:
            return np.zeros(0)
        return a[:, unit] if unit >= 0 else a.mean(axis=1)

    return StatSeries(
        steps=run.stat_steps, ckpt_steps=run.ckpt_steps,
        batch_mu=col(rec.batch_mu), batch_var=col(rec.batch_var),
        running_mu=col(rec.running_mu), running_var=col(rec.running_var),
        corrected_mu=col(cmu), corrected_var=col(cvar),
        pop_mu=col(rec.pop_mu), pop_var=col(rec.pop_var),
    )  # fmt: skip


# ----------------------------------------------------------------------------- what is normalized over


@dataclass(frozen=True)
class NormOver:
    """What one normalization normalizes over, for the Explorer's schematic of the mini-batch.

    ``cells`` (``rows`` examples × ``cols`` units, the first of the mini-batch's m and the
    layer's n) marks with 2 the set of values that share one μ and σ² (the one holding the
    shown unit: its column for BN and Batch Renorm, example 1's row for LayerNorm, example 1's
    group of units for GroupNorm) and the other such sets alternately with 0 and 1, so the
    partition shows. ``title`` names the normalization and its set in a few words,
    ``caption`` says it in one line, ``mu_tex``, ``var_tex`` are its μ and σ² in the note's
    notation (z_j^(i): unit j of example i), ``extra_tex`` Batch Renorm's z_norm, r and d, one
    equation each (none for the others).
    """

    name: str
    title: str
    caption: str
    mu_tex: str
    var_tex: str
    extra_tex: tuple[str, ...]
    cells: NDArray[np.int8]
    m: int
    n: int
    highlight: tuple[int, int]  # (example, unit) 0-based: a cell of the highlighted set


def norm_over(settings: Settings, unit: int = 0, rows: int = 6, cols: int = 12) -> NormOver:
    """:class:`NormOver` of the normalization ``settings`` train with (use_bn on) and
    ``unit`` (0-based; -1, all units pooled: unit 1's set), ``rows`` × ``cols`` cells at most."""
    m, n = settings.batch_size, settings.width
    kind = settings.normalization
    r, c = min(m, rows), min(n, cols)
    i, j = np.arange(r)[:, None], np.arange(c)[None, :]
    j0 = unit if 0 <= unit < c else 0
    name = NORM_NAMES[kind]
    extra: tuple[str, ...] = ()
    if kind in ("batch", "renorm"):
        cells = np.broadcast_to(j % 2, (r, c)).astype(np.int8)
        cells[:, j0] = 2
        at = (0, j0)
        title = f"{name}: one unit over the m = {m} examples"
        caption = (f"{name} normalizes each unit (a column) with the μ and σ² of its m = {m} values in "
                   "the mini-batch, so every example's z_norm depends on the others in its batch.")
        mu_tex = r"\mu_j = \frac1m \sum_{i=1}^{m} z_j^{(i)}"
        var_tex = r"\sigma^2_j = \frac1m \sum_{i=1}^{m} \left(z_j^{(i)} - \mu_j\right)^2"
        if kind == "renorm":
            title = f"{name}: one unit over the m = {m} examples, corrected"
            caption = (f"Batch Renorm normalizes each unit (a column) with the μ_B, σ²_B of its m = {m} "
                       "values, then corrects towards the running estimates μ, σ by r and d (clipped to "
                       f"r max = {fmt.number(settings.renorm_r_max)}, "
                       f"d max = {fmt.number(settings.renorm_d_max)}).")
            extra = (r"z_{norm} = r\,\frac{z_j - \mu_j}{\sqrt{\sigma_j^2+\epsilon}} + d",
                     r"r = \operatorname{clip}\!\left(\frac{\sigma_j}{\sigma},\, "
                     r"\tfrac{1}{r_{max}},\, r_{max}\right)",
                     r"d = \operatorname{clip}\!\left(\frac{\mu_j - \mu}{\sigma},\, \pm d_{max}\right)")
    elif kind == "layer":
        cells = np.broadcast_to(i % 2, (r, c)).astype(np.int8)
        cells[0, :] = 2
        at = (0, j0)
        title = f"{name}: one example over its n = {n} units"
        caption = (f"LayerNorm normalizes each example (a row) with the μ and σ² of its own n = {n} units: "
                   "no other example enters, so a batch of one works and test time computes the same.")
        mu_tex = r"\mu^{(i)} = \frac1n \sum_{j=1}^{n} z_j^{(i)}"
        var_tex = r"\sigma^{2\,(i)} = \frac1n \sum_{j=1}^{n} \left(z_j^{(i)} - \mu^{(i)}\right)^2"
    else:  # group
        g = settings.groups
        size = n // g
        cells = ((i + j // size) % 2).astype(np.int8)
        j_unit = unit if 0 <= unit < n else 0
        first = (j_unit // size) * size if (j_unit // size) * size < c else 0
        cells[0, first:first + size] = 2
        at = (0, first)
        title = f"{name}: one example over a group of {size} units"
        caption = (f"GroupNorm splits the n = {n} units into {g} groups of {size} and normalizes each "
                   "example's group (a row segment) with its own μ and σ²: like LayerNorm, no other "
                   "example enters.")
        mu_tex = rf"\mu^{{(i)}}_g = \frac{{1}}{{{size}}} \sum_{{j \in g}} z_j^{{(i)}}"
        var_tex = (rf"\sigma^{{2\,(i)}}_g = \frac{{1}}{{{size}}} \sum_{{j \in g}} "
                   r"\left(z_j^{(i)} - \mu^{(i)}_g\right)^2")
    return NormOver(name=name, title=title, caption=caption, mu_tex=mu_tex, var_tex=var_tex,
                    extra_tex=extra, cells=np.ascontiguousarray(cells), m=m, n=n, highlight=at)


def example_stats(run: Run, layer: int, unit: int, k: int) -> tuple[float, float] | None:
    """Example 1's own μ and σ² that LayerNorm or GroupNorm normalized it with in the mini-batch
    checkpoint ``k`` shows (over its units, or over the group of ``unit``; -1: unit 1's), from
    ``LayerRecord.shown_ex_mu``, ``shown_ex_var``; None for the other normalizations."""
    rec = run.layers[layer]
    groups = rec.shown_ex_mu.shape[2]
    if not per_example(run.settings) or groups == 0 or rec.shown_ex_mu.shape[1] == 0:
        return None
    g = max(unit, 0) // (rec.shown_mu.shape[1] // groups)
    return float(rec.shown_ex_mu[k, 0, g]), float(rec.shown_ex_var[k, 0, g])

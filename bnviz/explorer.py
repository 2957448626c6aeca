"""The numbers the Explorer shows: what its equations, panel titles and markers read off a Run.

No Streamlit and no Plotly here. Everything comes from what ``bnviz.train`` recorded;
the arithmetic is the step from one unit to "all units pooled" (``unit == -1``) and
the quantities the note derives from μ, σ², ε, γ, β (the spread of z_norm, what γ and
β imply for z̃). ``bnviz.charts.explorer`` draws these numbers and the Explorer page
writes them into its equations, so the two always agree.

``layer`` is 0-based, ``unit`` is 0-based or ``-1`` for all units pooled, ``k`` is a
checkpoint index into ``run.ckpt_steps``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .train import Run

Array = NDArray[np.floating]


@dataclass(frozen=True)
class UnitNumbers:
    """The statistics behind the histograms of one checkpoint, for one unit or all pooled.

    ``mu``, ``var`` are the whole training set's statistics of z (the batch the
    histograms were computed on, ``m`` examples). ``sd_norm`` = √(σ²/(σ²+ε)) is the
    standard deviation of z_norm; ``implied_mean`` and ``implied_sd`` are what γ and
    β make of it for z̃ (β and |γ|·sd_norm). Pooled, ``mu`` and ``var`` are the mean
    and variance of all units' values together, ``gamma`` and ``beta`` the means over
    units, and the implied values those of all units' z̃ together.
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


def unit_numbers(run: Run, layer: int, unit: int, k: int) -> UnitNumbers:
    """The numbers the histograms of checkpoint ``k`` show (see :class:`UnitNumbers`)."""
    rec = run.layers[layer]
    eps = float(run.settings.eps)
    mu_u = rec.pop_mu[k].astype(np.float64)
    var_u = rec.pop_var[k].astype(np.float64)
    vn_u = np.divide(var_u, var_u + eps, out=np.zeros_like(var_u), where=(var_u + eps) > 0)
    g_u = rec.gamma[k].astype(np.float64)
    b_u = rec.beta[k].astype(np.float64)
    if unit >= 0:
        mu, var, vn = float(mu_u[unit]), float(var_u[unit]), float(vn_u[unit])
        gamma, beta = float(g_u[unit]), float(b_u[unit])
        zt_mean, zt_var = beta, gamma**2 * vn
    else:
        mu, var = pooled_mean_var(mu_u, var_u)
        vn = float(vn_u.mean())
        gamma, beta = float(g_u.mean()), float(b_u.mean())
        # z̃ of unit j has mean β_j and variance γ_j²·sd_norm_j²: pool them the same way
        zt_mean, zt_var = pooled_mean_var(b_u, g_u**2 * vn_u)
    return UnitNumbers(
        step=int(run.ckpt_steps[k]),
        m=len(run.dataset.y_train),
        mu=mu,
        var=max(var, 0.0),
        sd=float(np.sqrt(max(var, 0.0))),
        eps=eps,
        sd_norm=float(np.sqrt(vn)),
        gamma=gamma,
        beta=beta,
        implied_mean=zt_mean,
        implied_sd=float(np.sqrt(max(zt_var, 0.0))),
    )


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

"""What bias correction does not correct: small mini-batches make the running σ² too small.

The note's mini-batch variance divides by m, σ²_B = 1/m Σ (z − μ_B)², so over random
mini-batches its mean is (m − 1)/m of the variance σ² of the examples they are drawn from
(times N/(N − 1) for m of N examples drawn without replacement, 1.003 for the 400 training
examples of the 2-D sets). The running estimate averages σ²_B, so it inherits the factor:
at m = 2 it holds about half the population σ². Bias correction divides by 1 − decayᵗ, which
undoes the EWA's start at 0 and nothing else: after 300 steps at decay 0.9 that divisor is 1
to 14 digits, and the corrected estimate is as low as the raw one. PyTorch feeds the
unbiased m/(m − 1)·σ²_B into its running variance instead (while normalizing each training
batch with the 1/m σ²_B), which removes the factor.

:func:`variance_bias` measures all of it on one trained network, per hidden layer. The
clean measurement is hidden layer 1, whose inputs are the data in training and at inference
alike: there raw and corrected are about 0.5 of the population σ² at m = 2 and the unbiased
estimates about 1. Deeper layers add a second effect: in training, the layer below normalized
each mini-batch by itself (at m = 2 every z_norm is ±1), so the σ²_B they see is that of other
inputs than the inference-mode population's, and their ratios are not (m − 1)/m (measured
with SMALL_BATCH, seeds 0-5: raw 0.9 to 1.6, unbiased 1.9 to 3.2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from . import bn
from .settings import Settings
from .train import Run, train

# m = 2, the note's default decay 0.9, 300 steps: the smallest batch that has a variance.
SMALL_BATCH = Settings(batch_size=2, decay=0.9, steps=300)
# What the test-time view shows: the clean measurement, hidden layer 1, of SMALL_BATCH with
# one hidden layer (a quarter of the compute of four), over seeds 0-7: one seed's ratio
# scatters by about ±0.07 around (m − 1)/m (seeds 0-7: raw 0.44 to 0.57, mean 0.51).
SHOWN = tuple(SMALL_BATCH.replace(depth=1, seed=k) for k in range(8))
# The rows of ratio_table: VarianceBias field -> what the view calls it.
ESTIMATES = {
    "raw": "running EWA of σ²_B (the note)",
    "corrected": "bias-corrected EWA",
    "unbiased": "EWA of m/(m − 1)·σ²_B (PyTorch)",
}


@dataclass(frozen=True)
class VarianceBias:
    """Per hidden layer, the mean over its units of each final running σ² / population σ².

    The population σ² is each unit's variance over the whole training set with the final
    weights (``Run.population``), the statistics inference would ideally use.
    """

    settings: Settings
    raw: tuple[float, ...]  # the note's EWA of σ²_B, from v_0 = 0 (``Run.running``)
    corrected: tuple[float, ...]  # that EWA divided by 1 − decayᵗ
    unbiased: tuple[float, ...]  # the note's EWA of m/(m − 1)·σ²_B, from 0
    unbiased_corrected: tuple[float, ...]  # that EWA divided by 1 − decayᵗ


def unbiased_running_var(run: Run, layer: int) -> NDArray[np.float64]:
    """The running σ² of hidden layer ``layer`` (0-based) had it averaged m/(m − 1)·σ²_B.

    PyTorch's input to its running variance, averaged with the note's EWA (``bn.ewa``, from
    0) over the mini-batch σ²_B recorded at every step (``Run.layers[layer].batch_var``).
    Needs a run that recorded every step (``Run.stat_steps`` = 1, 2, ..., steps done).
    """
    m = run.settings.batch_size
    if m < 2:
        raise ValueError("an unbiased variance needs m >= 2: one example has none")
    if not np.array_equal(run.stat_steps, np.arange(1, run.steps_done + 1)):
        raise ValueError("the run recorded only some steps' σ²_B: train a narrower, shallower network")
    decay = run.settings.decay
    v: NDArray[np.float64] = np.zeros(run.net.sizes[layer + 1])
    for var_b in run.layers[layer].batch_var.astype(np.float64):
        v = np.asarray(bn.ewa(v, var_b * (m / (m - 1)), decay), np.float64)
    return v


def variance_bias(settings: Settings = SMALL_BATCH) -> VarianceBias:
    """Train ``settings`` (with BN) and compare each running σ² with the population σ²."""
    return variance_bias_of(train(settings.replace(use_bn=True)))


def variance_bias_of(run: Run) -> VarianceBias:
    """Each running σ² of a trained BN ``run`` against its population σ², per hidden layer."""
    corrected = run.inference_stats("corrected")
    assert corrected is not None
    t, decay = run.steps_done, run.settings.decay
    ratios: dict[str, list[float]] = {"raw": [], "corrected": [], "unbiased": [], "unbiased_corrected": []}
    for l, (_, pop_var) in enumerate(run.population):
        unbiased = unbiased_running_var(run, l)
        for name, var in (
            ("raw", run.running[l][1]),
            ("corrected", corrected[l][1]),
            ("unbiased", unbiased),
            ("unbiased_corrected", bn.bias_corrected(unbiased, decay, t)),
        ):
            ratios[name].append(float(np.mean(np.asarray(var, np.float64) / pop_var)))
    return VarianceBias(settings=run.settings, **{k: tuple(v) for k, v in ratios.items()})


def ratio_table(results: Sequence[VarianceBias], layer: int = 0) -> pd.DataFrame:
    """Per estimate (``ESTIMATES``): its running σ² / population σ² in hidden layer ``layer``,
    the mean over ``results`` (one per seed) with the smallest and the largest, and the ratio
    the (m − 1)/m law expects (1 with the m/(m − 1) factor)."""
    m = results[0].settings.batch_size
    rows = []
    for field, label in ESTIMATES.items():
        values = np.array([getattr(r, field)[layer] for r in results])
        law = 1.0 if field == "unbiased" else (m - 1) / m
        rows.append({"estimate": label, "mean": float(values.mean()), "min": float(values.min()),
                     "max": float(values.max()), "law": law})  # fmt: skip
    return pd.DataFrame(rows)

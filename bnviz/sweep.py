"""Many configurations trained at once, vectorized across models, by the one engine.

Configurations that share every shape and code path (dataset, batch size, depth, width,
activation, BN on/off, the normalization, its groups and position, optimizer, steps:
``GROUP_FIELDS``) form a *group*. A group's K models are
stacked and trained together by :func:`bnviz.engine.train`, the loop
:func:`bnviz.train.train` runs with K = 1; everything else (ε, γ/β init, frozen γ/β, EWA
decay, bias correction, noise after BN, Batch Renorm's r/d limits, learning rate, data
noise, seed) may differ from model to model.
Stacks are cut to fit ``MEMORY_BUDGET``.

So each model gets exactly what ``train(settings)`` gets. Its final metrics are the last
checkpoint row ``train(settings).curves`` would show, plus a few the sweep adds (steps
to a target accuracy, error of the running estimates, the mini-batch-vs-inference gap).
A model whose loss explodes (not ``<= engine.DIVERGED_LOSS``) or whose weights stop
being finite at a checkpoint is *diverged*: its results are those of its last
checkpoint, as ``train`` stops there, and its neighbours train on unaffected.

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

from . import data, engine, nn
from .engine import GROUP_FIELDS, MODEL_FIELDS, group_key
from .settings import Settings

__all__ = [
    "GROUP_FIELDS",
    "MEMORY_BUDGET",
    "METRICS",
    "MODEL_FIELDS",
    "PRESETS",
    "RESULT_COLUMNS",
    "SETTINGS_COLUMNS",
    "SWEEPABLE",
    "Metric",
    "Preset",
    "Progress",
    "SweepSpec",
    "cli_command",
    "group_key",
    "groups",
    "run",
    "summarize",
    "train_many",
]

Progress = Callable[[int, int], None]

# What a sweep may vary (the seed is varied by ``SweepSpec.seeds`` instead).
SWEEPABLE = (
    "batch_size",
    "eps",
    "decay",
    "lr",
    "gamma_init",
    "beta_init",
    "use_bn",
    "normalization",
    "bn_position",
    "groups",
    "renorm_r_max",
    "renorm_d_max",
    "activation",
    "bias_correction",
    "freeze_affine",
    "bn_noise",
    "optimizer",
    "depth",
    "width",
    "dataset",
    "noise",
    "steps",
)
# Bytes of activations one stacked chunk may use: 90 stacked moons networks of 4 x 64 units
# then peak at about 150 MB allocated, within a request's 300 MB (`bench/budget.py`).
MEMORY_BUDGET = 96 * 2**20


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


# --------------------------------------------------------------------------- metrics


def _stack_limit(s: Settings) -> int:
    n = data.n_train(s.dataset)
    n_in = 64 if s.dataset == "digits" else 2
    per_model = 8 * n * (n_in + s.width * (5 * s.depth + 2) + 10)
    return max(1, min(1024, MEMORY_BUDGET // per_model))


class _Metrics(engine.Recorder):
    """A sweep's metrics: the first checkpoint at which each model's test accuracy (with its
    own statistics) reaches ``target``; everything else from each model's last checkpoint."""

    def __init__(self, K: int, target: float | None, tick: Callable[[int], None]) -> None:
        self.target, self.tick = target, tick
        self.reached = np.full(K, -1, np.int64)

    def on_checkpoint(self, k: int, t: int, stack: engine.Stack) -> None:
        todo = np.flatnonzero(stack.alive & (self.reached < 0))
        if self.target is not None and len(todo):
            models = stack.now if len(todo) == stack.K else stack.now.take(todo)
            stats = models.chosen() if models.net.batch_stats else None
            acc = engine.accuracy(models.net, stack.X_test[todo], stack.y_test[todo], stats)
            self.reached[todo[acc >= self.target]] = t
        if k:
            self.tick(t * stack.K)

    def results(self, stack: engine.Stack) -> dict[str, NDArray]:
        last = stack.last
        _, _, population = engine.population(last.net, stack.X_train)
        out: dict[str, NDArray] = dict(engine.evaluate(stack, last, population))
        if population is not None:
            out.update(_estimate_errors(last, population))
            m = stack.settings[0].batch_size
            out["train_acc_minibatch"] = _minibatch_accuracy(last.net, stack.X_train, stack.y_train, m)
        else:  # no statistics to be wrong about, no mini-batch statistics to normalize with
            out["running_mu_err"] = out["running_var_err"] = np.full(stack.K, np.nan)
            out["train_acc_minibatch"] = out["train_acc"]
        out["gap"] = out["train_acc"] - out["test_acc"]
        out["mode_gap"] = out["train_acc_minibatch"] - out["train_acc"]
        out["loss"] = stack.last_loss
        out["steps_to_target"] = np.where(self.reached >= 0, self.reached, np.nan)
        out["diverged"] = ~stack.alive
        out["diverged_at"] = np.array([np.nan if d is None else d.step for d in stack.divergence])
        out["steps_done"] = stack.steps_done()
        return out


def _estimate_errors(models: engine.Models, population: engine.Stats) -> dict[str, NDArray]:
    """How far each model's inference statistics are from its population statistics."""
    eps = np.asarray(models.net.eps)
    mu_err, var_err = [], []
    for (vmu, vvar), (pmu, pvar) in zip(models.chosen(), population):
        scale = np.maximum(pvar + eps, 1e-12)
        mu_err.append(np.abs(vmu - pmu) / np.sqrt(scale))
        var_err.append(np.abs(vvar - pvar) / scale)
    return {
        "running_mu_err": np.concatenate(mu_err, axis=1).mean(axis=1),
        "running_var_err": np.concatenate(var_err, axis=1).mean(axis=1),
    }


def _minibatch_accuracy(net: nn.MLP, X_train: NDArray, y_train: NDArray, m: int) -> NDArray:
    """Training-mode accuracy: each training set in its stored order, cut into batches of m."""
    K, B = net.theta.shape[0], X_train.shape[1] // m

    def column(v: float | NDArray) -> float | NDArray:  # (K, 1) -> (K, 1, 1): per model
        return v[:, :, None] if isinstance(v, np.ndarray) else v

    stacked = nn.like(net, column(net.eps), (K, 1), r_max=column(net.r_max), d_max=column(net.d_max))
    stacked.theta[...] = net.theta[:, None, :]
    Xb = X_train[:, : B * m].reshape(K, B, m, -1)
    pred = nn.predict(stacked, Xb, None).reshape(K, B * m)
    return (pred == y_train[:, : B * m]).mean(axis=1)


def _train_group(
    group: list[Settings], target: float | None, tick: Callable[[int], None], dtype: DTypeLike
) -> dict[str, NDArray]:
    stack = engine.Stack.create(group, dtype)
    metrics = _Metrics(stack.K, target, tick)
    engine.train(stack, metrics)
    return metrics.results(stack)


# --------------------------------------------------------------------------- presets


@dataclass(frozen=True)
class Preset:
    """A sweep that answers one question, the metric to read, and what to look for."""

    title: str
    question: str
    spec: SweepSpec
    metric: str
    look_for: str


# The presets' network, whose results their texts describe: 2 x 16 ReLU units.
_NET: dict[str, Any] = {"depth": 2, "width": 16, "activation": "relu"}

_SMALL_BATCH = SweepSpec(
    params=(("batch_size", (2, 4, 8, 16, 32, 64)), ("use_bn", (False, True))),
    base=Settings(steps=300, **_NET),
    seeds=3,
)

# Wu & He 2018's small-batch finding on one hidden layer of 16 ReLU units (GroupNorm: 4 groups
# of 4), 500 steps: over 5 seeds BN's test accuracy falls from 95 % at m = 16 to 86 % at m = 4
# and 64 % at m = 2, LayerNorm and GroupNorm keep 90-96 % at every m, Batch Renorm has 80 % at
# m = 2, in between, and catches up from m = 4 (`.venv/bin/python bench/small_batch.py`, which
# also trains the network without normalization: 94-97 %; tests/core/test_sweep.py checks the
# finding at m = 2 and 16). Four batch sizes (a range of the page's ladder) of 500 steps keep
# the sweep (16 stacks of 3 seeds, each step's fixed work paid per stack) within one request.
_NORMS = SweepSpec(
    params=(("batch_size", (2, 4, 8, 16)), ("normalization", ("batch", "layer", "group", "renorm"))),
    base=Settings(steps=500, groups=4, depth=1, width=16, activation="relu"),
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
    "normalizations": Preset(
        "Other normalizations",
        "Which normalization still works with tiny batches?",
        _NORMS,
        "test_acc",
        "BN's test accuracy falls at m ≤ 4: its μ_B and σ²_B of 2 or 4 examples are noisy, and the "
        "running estimates inference uses are far from the statistics each batch trained with. "
        "LayerNorm and GroupNorm normalize each example over its own units, so the batch size does "
        "not enter them and they stay nearly flat (the Group Normalization paper's finding); Batch "
        "Renorm corrects BN towards the running estimates and lands in between at m = 2. Every run "
        "takes the same 500 steps, so m = 2 also sees the fewest examples, which costs every "
        "normalization a little.",
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
            base=Settings(steps=200, **_NET),
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
            base=Settings(steps=300, optimizer="sgd", **{**_NET, "depth": 4}),
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

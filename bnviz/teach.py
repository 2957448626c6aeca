"""What the teaching views compute: pure NumPy on top of ``bn``, ``nn`` and ``train``.

One section per view, in the order of the note:

1. glass box      -- one mini-batch of one unit, every intermediate of the note's equations
2. bias           -- the gradient of b with BN is zero; shifting b changes nothing after BN
3. covariate      -- Ioffe & Szegedy (2015) Fig. 1 in the small: percentiles of a sigmoid's input
4. noise          -- spread of mu_B and sigma²_B around the population values against m
5. test time      -- one example at a time: batch statistics vs running / corrected / population
6. conventions    -- the note's EWA, PyTorch's and Keras's running-statistics updates

No Streamlit and no Plotly here: the pages place what these functions return.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from . import bn, engine, fmt, nn, sweep
from .data import Dataset
from .settings import Settings
from .train import PERCENTILES, Run

Array = NDArray[np.floating]

# --------------------------------------------------------------------------------------
# 1. One mini-batch, by hand
# --------------------------------------------------------------------------------------

MAX_GLASS_VALUES = 16
MAX_ABS_VALUE = 1e6
MAX_PROBLEMS = 5  # bad cells named one by one; the rest are counted


def parse_values(cells: Iterable[object], limit: int | None = None) -> tuple[Array, list[str]]:
    """Numbers from table cells or text pieces, and one sentence per thing left out.

    Empty cells (``None``, NaN, blank text) are skipped silently: an editable table
    always has some. Each cell is read by ``fmt.parse_number(typed=True)``: ``"−2"``
    (Unicode minus) and ``"2,5"`` (decimal comma) are -2 and 2.5. A bad cell gets a
    sentence naming its row (the first ``MAX_PROBLEMS`` of them; one more sentence
    counts the rest). With ``limit``, the first ``limit`` numbers are kept and, when
    there were more cells, a last sentence says so: "kept the first 16 of 1000 values".
    """
    values: list[float] = []
    problems: list[str] = []
    bad = 0
    rest = 0  # non-empty cells after the limit was reached: counted, not read
    for row, cell in enumerate(cells, start=1):
        if cell is None or (isinstance(cell, float) and math.isnan(cell)):
            continue
        text = str(cell).strip()
        if not text:
            continue
        if limit is not None and len(values) >= limit:
            rest += 1
            continue
        try:
            x = fmt.parse_number(text, typed=True)
        except fmt.NumberError as err:
            problem = f"row {row}: {text[:20]!r} is {err.reason}"
        else:
            if abs(x) <= MAX_ABS_VALUE:
                values.append(x)
                continue
            problem = f"row {row}: {text[:20]!r} is too large (keep |z| ≤ {MAX_ABS_VALUE:g})"
        bad += 1
        if bad <= MAX_PROBLEMS:
            problems.append(problem)
    if bad > MAX_PROBLEMS:
        more = bad - MAX_PROBLEMS
        problems.append(f"{more} more row{'s' if more > 1 else ''} not read as numbers")
    if rest:
        problems.append(f"kept the first {limit} of {len(values) + rest} values")
    return np.asarray(values, dtype=np.float64), problems


def parse_text(text: str, limit: int | None = None) -> tuple[Array, list[str]]:
    """Numbers from text separated by spaces or semicolons, e.g. a URL's ``z=1;2;4``.

    ``limit`` and the sentences returned are those of :func:`parse_values`.
    """
    pieces = text.replace(";", " ").split()
    return parse_values(pieces, limit)


@dataclass(frozen=True)
class GlassBox:
    """Every intermediate of the note's equations for one unit over one mini-batch."""

    z: Array
    gamma: float
    beta: float
    eps: float
    mu: float
    var: float
    denom: float  # sqrt(var + eps)
    z_norm: Array
    z_tilde: Array
    notes: tuple[str, ...]  # what is special about this batch (m = 1, sigma² + eps = 0, ...)
    # The values differ, yet sigma² is below float64's smallest normal number (2.2e-308):
    # the squares (z − mu)² underflow, so sigma² is 0 or keeps only a few digits.
    var_underflows: bool = False

    @property
    def m(self) -> int:
        return len(self.z)

    @property
    def centred(self) -> Array:
        """z − μ, one value per example."""
        return self.z - self.mu

    @property
    def squared(self) -> Array:
        """(z − μ)², the terms whose mean is σ²."""
        return self.centred**2

    def table(self) -> pd.DataFrame:
        """One row per example: z, z − μ, (z − μ)², z_norm, z̃."""
        return pd.DataFrame(
            {
                "i": np.arange(1, self.m + 1),
                "z": self.z,
                "z − μ": self.centred,
                "(z − μ)²": self.squared,
                "z_norm": self.z_norm,
                "z̃": self.z_tilde,
            }
        )


def glass_box(
    values: Sequence[float] | Array, gamma: float = 1.0, beta: float = 0.0, eps: float = 1e-5
) -> GlassBox:
    """The note's BN for one unit, computed by :func:`bnviz.bn.forward`, with notes.

    Raises ``ValueError`` for an empty batch or a negative ε.
    """
    z = np.asarray(values, dtype=np.float64).reshape(-1)
    if z.size == 0:
        raise ValueError("the mini-batch is empty: enter at least one number")
    if eps < 0 or not math.isfinite(eps):
        raise ValueError(f"ε must be a finite number ≥ 0, got {eps!r}")
    z_tilde, cache = bn.forward(z[:, None], np.array([gamma]), np.array([beta]), eps)
    mu, var = float(cache.mu[0]), float(cache.var[0])
    spread = float(z.max() - z.min())
    underflows = spread > 0 and var < float(np.finfo(np.float64).tiny)
    notes: list[str] = []
    if z.size == 1:
        notes.append(
            "With m = 1 the batch mean is the value itself: μ = z, σ² = 0 and z − μ = 0, so "
            "z_norm = 0 whatever z was, and z̃ = β. The unit forgets its input."
        )
    if underflows and var == 0:
        if eps == 0:
            then = "√(σ² + ε) = 0: bnviz sets z_norm = 0 (in exact arithmetic σ² > 0, z_norm has spread 1)"
        else:
            then = "z_norm = (z − μ) / √ε ≈ 0, as in exact arithmetic: ε dwarfs the true σ²"
        notes.append(
            f"The values differ (by up to {fmt.number(spread)}), but σ² underflows to 0 in float64: the "
            f"squares (z − μ)² are below the smallest float64 number (about 5e-324), so σ² = 0 "
            f"and {then}."
        )
    elif underflows:
        notes.append(
            f"The values differ by up to {fmt.number(spread)} only: σ² = {fmt.number(var)} is below the "
            f"smallest normal float64 number (2.2e-308) and keeps only a few significant digits, "
            f"so σ² and z_norm are rounded coarsely."
        )
    elif var + eps == 0:
        notes.append(
            "σ² + ε = 0: the formula divides 0 by 0. bnviz sets z_norm = 0 (its value for every "
            "ε > 0). Raise ε above 0 to see that ε is what keeps the division finite."
        )
    elif var == 0 and z.size > 1:
        notes.append("All values are equal: σ² = 0, and z_norm = 0 / √ε = 0. ε keeps the division finite.")
    elif var > 0 and eps > 0.1 * var:
        notes.append(
            f"ε is not small next to σ² here: z_norm has spread √(σ²/(σ²+ε)) = "
            f"{fmt.number(math.sqrt(var / (var + eps)), 3)} instead of 1."
        )
    return GlassBox(
        z=z,
        gamma=float(gamma),
        beta=float(beta),
        eps=float(eps),
        mu=mu,
        var=var,
        denom=math.sqrt(var + eps),
        z_norm=cache.z_norm[:, 0].copy(),
        z_tilde=z_tilde[:, 0].copy(),
        notes=tuple(notes),
        var_underflows=underflows,
    )


RANDOM_MEAN, RANDOM_SD = 5.0, 2.0  # the glass box's "Random" batch: z ~ N(5, 2²)


def random_batch(m: int, seed: int | None = None) -> Array:
    """m values of z drawn from N(RANDOM_MEAN, RANDOM_SD²); ``seed=None``: fresh each call."""
    return np.random.default_rng(seed).normal(RANDOM_MEAN, RANDOM_SD, m)


def draw_from_network(run: Run, m: int, layer: int = 0, unit: int = 0, seed: int | None = 0) -> Array:
    """The pre-BN values z of one unit for a random mini-batch of m training examples.

    Uses the run's final network in training mode, exactly as a training step would.
    ``seed=None`` draws another mini-batch on each call.
    """
    X = run.dataset.X_train
    if not 1 <= m <= len(X):
        raise ValueError(f"m must be between 1 and {len(X)}, got {m}")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(X), size=m, replace=False)
    _, taps = nn.forward(run.net, X[idx].astype(run.net.theta.dtype))
    return taps[layer].z[:, unit].astype(np.float64)


# --------------------------------------------------------------------------------------
# 2. Why b does nothing
# --------------------------------------------------------------------------------------


BIAS_SHIFTS = np.round(np.linspace(-3.0, 3.0, 25), 6)  # δ from −3 to 3 in steps of 0.25


def clone(net: nn.MLP) -> nn.MLP:
    """An independent copy of ``net`` (same weights, its own theta and grad)."""
    copy = nn.create(
        net.sizes, net.activation, net.use_bn, net.eps, lead=net.lead, dtype=net.theta.dtype.type
    )
    copy.theta[...] = net.theta
    return copy


def gradients(net: nn.MLP, X: Array, y: NDArray[np.int64]) -> pd.DataFrame:
    """Largest |gradient| of b, W (and γ, β) per hidden layer, for one training-mode batch X."""
    work = clone(net)
    n_classes = net.sizes[-1]
    Y = np.eye(n_classes, dtype=work.theta.dtype)[y]
    logits, taps = nn.forward(work, X.astype(work.theta.dtype))
    nn.backward(work, logits, taps, Y)
    rows = []
    for l in range(work.depth):
        row = {
            "layer": l + 1,
            "max |dL/db|": float(np.abs(work.db[l]).max()),
            "max |dL/dW|": float(np.abs(work.dW[l]).max()),
        }
        if work.use_bn:
            row["max |dL/dγ|"] = float(np.abs(work.dgamma[l]).max())
            row["max |dL/dβ|"] = float(np.abs(work.dbeta[l]).max())
        rows.append(row)
    return pd.DataFrame(rows)


def shift_bias(net: nn.MLP, layer: int, delta: float) -> nn.MLP:
    """A copy of ``net`` with ``delta`` added to every entry of hidden layer ``layer``'s b."""
    copy = clone(net)
    copy.b[layer][...] += delta
    return copy


def bias_shift_effect(
    net: nn.MLP, X: Array, y: NDArray[np.int64], layer: int, shifts: Iterable[float]
) -> pd.DataFrame:
    """Loss, accuracy and largest change of the outputs when b of ``layer`` is shifted.

    Each row is one shift δ; the network sees X as one training-mode batch (with BN,
    normalized with X's own μ and σ²), like a training step does.
    """
    n_classes = net.sizes[-1]
    X = X.astype(net.theta.dtype)
    Y = np.eye(n_classes, dtype=net.theta.dtype)[y]
    base, _ = nn.forward(net, X)
    rows = []
    for delta in shifts:
        logits, _ = nn.forward(shift_bias(net, layer, float(delta)), X)
        loss, _ = nn.softmax_cross_entropy(logits, Y)
        rows.append(
            {
                "shift": float(delta),
                "loss": float(loss),
                "accuracy": float((logits.argmax(axis=-1) == y).mean()),
                "max |Δ output|": float(np.abs(logits - base).max()),
            }
        )
    return pd.DataFrame(rows)


def largest_hidden_bias(net: nn.MLP) -> float:
    """The largest |b| over every hidden layer (the output layer's b is left out: no BN there)."""
    return max(float(np.abs(b).max()) for b in net.b[:-1])


# --------------------------------------------------------------------------------------
# 3. Covariate shift (Ioffe & Szegedy 2015, Fig. 1, in the small)
# --------------------------------------------------------------------------------------

COVARIATE_STEPS = 400  # the covariate-shift view's first view (the server trains it at start-up)
COVARIATE_STEP_CHOICES = (200, 400, 800, 1600)


def covariate_settings(use_bn: bool, steps: int = COVARIATE_STEPS, seed: int = 0) -> Settings:
    """The paper's MNIST set-up scaled to the shipped 8×8 digits.

    3 hidden layers × 100 sigmoid units, mini-batches of 60, plain SGD. The learning
    rate 0.5 is the same with and without BN.
    """
    return Settings(
        dataset="digits", depth=3, width=100, activation="sigmoid", batch_size=60,
        optimizer="sgd", lr=0.5, steps=steps, use_bn=use_bn, seed=seed,
    )  # fmt: skip


def sigmoid_input(run: Run) -> str:
    """The quantity that enters the sigmoid: z̃ with BN, z without."""
    return "z_tilde" if "z_tilde" in run.quantities else "z"


def percentile_track(run: Run, unit: int, layer: int = -1, quantity: str | None = None) -> pd.DataFrame:
    """15th/50th/85th percentiles of one unit over the training set, at every checkpoint."""
    q = run.quantities.index(quantity or sigmoid_input(run))
    p = run.layers[layer].percentiles[:, q, :, unit].astype(np.float64)
    df = pd.DataFrame({"step": run.ckpt_steps.astype(int)})
    for i, pct in enumerate(PERCENTILES):
        df[f"p{pct}"] = p[:, i]
    return df


def percentile_drift(run: Run, layer: int = -1, quantity: str | None = None) -> pd.DataFrame:
    """Per unit: how far each percentile moved over training (max − min across checkpoints).

    Also ``spread_range``: how much the width p85 − p15 changed.
    """
    q = run.quantities.index(quantity or sigmoid_input(run))
    p = run.layers[layer].percentiles[:, q].astype(np.float64)  # (k, 3, units)
    width = p[:, 2] - p[:, 0]
    return pd.DataFrame(
        {
            "unit": np.arange(p.shape[-1]),
            "p15_range": np.ptp(p[:, 0], axis=0),
            "p50_range": np.ptp(p[:, 1], axis=0),
            "p85_range": np.ptp(p[:, 2], axis=0),
            "spread_range": np.ptp(width, axis=0),
        }
    )


@dataclass(frozen=True)
class MedianDrift:
    """The median over units of :func:`percentile_drift`'s columns."""

    p50_range: float  # how far the median moved
    spread_range: float  # how much the width p85 − p15 changed


def median_drift(drift: pd.DataFrame) -> MedianDrift:
    """The typical unit's drift: medians over units of a :func:`percentile_drift` table."""
    return MedianDrift(
        p50_range=float(np.median(drift["p50_range"])),
        spread_range=float(np.median(drift["spread_range"])),
    )


def steps_to_accuracy(curves: pd.DataFrame, threshold: float, column: str = "test_acc") -> int | None:
    """The first checkpoint step at which ``column`` reaches ``threshold`` (None if never)."""
    hit = curves.loc[curves[column] >= threshold, "step"]
    return int(hit.iloc[0]) if len(hit) else None


# --------------------------------------------------------------------------------------
# 4. Noise: how mu_B and sigma²_B scatter around the population values
# --------------------------------------------------------------------------------------


def population_stats(net: nn.MLP, X: Array) -> list[tuple[Array, Array]]:
    """μ and σ² of every BN layer over the whole of X (one batch), as train.py records them."""
    _, taps = nn.forward(net, X.astype(net.theta.dtype))
    return [(t.cache.mu.copy(), t.cache.var.copy()) for t in taps if t.cache is not None]


SPREAD_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


def spread_batch_sizes(n: int) -> list[int]:
    """The batch sizes the noise view measures for a training set of n: SPREAD_SIZES below n, and n."""
    return sorted({m for m in SPREAD_SIZES if m < n} | {n})


def var_sd_without_replacement(mu2: ArrayLike, mu4: ArrayLike, m: int, N: int) -> NDArray[np.float64]:
    """The exact standard deviation of the 1/m variance σ²_B of m values drawn without
    replacement from N, for a population with central moments μ₂ = σ² and μ₄ (1/N each).

    With the population centred (Σ y = 0) and power sums P₂ = N·μ₂, P₄ = N·μ₄, write
    σ²_B = a·A − b·B with A = Σ_{i∈B} y_i², B = Σ_{i≠j∈B} y_i·y_j, a = (m−1)/m², b = 1/m².
    A set of k distinct units is in the batch with probability π_k = Π_{r<k} (m−r)/(N−r),
    and sums over distinct indices reduce to power sums (P₁ = 0):

        E[A] = π₁P₂              E[B] = −π₂P₂
        E[A²] = π₁P₄ + π₂(P₂² − P₄)
        E[AB] = −2π₂P₄ + π₃(2P₄ − P₂²)
        E[B²] = 2π₂(P₂² − P₄) + 4π₃(2P₄ − P₂²) + π₄(3P₂² − 6P₄)

    Var σ²_B = a²·Var A + b²·Var B − 2ab·Cov(A, B). It is 0 at m = N (every batch is the
    population) and tends to σ²·√((κ − 1)/m) for N ≫ m, with κ = μ₄/μ₂².
    """
    if not 1 <= m <= N:
        raise ValueError(f"m must be between 1 and N = {N}, got {m}")
    P2 = N * np.asarray(mu2, dtype=np.float64)
    P4 = N * np.asarray(mu4, dtype=np.float64)

    def pi(k: int) -> float:
        return math.prod((m - r) / (N - r) for r in range(k)) if k <= N else 0.0

    p1, p2, p3, p4 = pi(1), pi(2), pi(3), pi(4)
    EA, EB = p1 * P2, -p2 * P2
    EAA = p1 * P4 + p2 * (P2**2 - P4)
    EAB = -2 * p2 * P4 + p3 * (2 * P4 - P2**2)
    EBB = 2 * p2 * (P2**2 - P4) + 4 * p3 * (2 * P4 - P2**2) + p4 * (3 * P2**2 - 6 * P4)
    a, b = (m - 1) / m**2, 1 / m**2
    var = a**2 * (EAA - EA**2) + b**2 * (EBB - EB**2) - 2 * a * b * (EAB - EA * EB)
    return np.sqrt(np.maximum(var, 0.0))


SPREAD_CHUNK_BYTES = 16 * 2**20  # the largest stack of mini-batches held at once


def batch_stat_spread(
    net: nn.MLP, X: Array, batch_sizes: Sequence[int], layer: int = 0, draws: int = 200, seed: int = 0
) -> pd.DataFrame:
    """Measured spread of μ_B and σ²_B over random mini-batches, against the 1/√m law.

    For each m, ``draws`` mini-batches of m distinct training examples go through
    the network in training mode (as in a training step); per unit we take the
    standard deviation of μ_B across draws divided by the population σ, and of σ²_B
    divided by the population σ², then average over units. The laws for sampling
    m values: sd(μ_B)/σ = 1/√m (× √((N−m)/(N−1)) without replacement from N), and
    sd(σ²_B)/σ² ≈ √((κ − 1)/m) with κ = E[(z−μ)⁴]/σ⁴ the unit's kurtosis (``law_var``;
    without replacement from N exactly :func:`var_sd_without_replacement`, ``law_var_fpc``).

    Hidden layer 1's z = W·x + b of an example does not depend on the rest of its
    batch, so it is computed once for the whole training set and each mini-batch
    gathers its rows; a deeper layer's batches go through the network. Either way
    the mini-batches are processed a few at a time, at most ``SPREAD_CHUNK_BYTES``
    of values at once.
    """
    if not net.use_bn:
        raise ValueError("batch statistics exist only in a network with BN")
    X = X.astype(net.theta.dtype)
    N = len(X)
    _, taps = nn.forward(net, X)
    cache = taps[layer].cache
    assert cache is not None
    pop_mu, pop_var = cache.mu, cache.var
    keep = pop_var > 1e-12  # a dead unit has no spread to compare
    if not keep.any():
        raise ValueError("every unit of this layer is constant over the training set")
    z_all = taps[layer].z
    centred = z_all - pop_mu
    mu4 = (centred**4).mean(axis=0)[keep]
    kurtosis = mu4 / pop_var[keep] ** 2
    del taps, centred
    width = z_all.shape[-1]
    for m in batch_sizes:
        if not 1 <= m <= N:
            raise ValueError(f"batch size must be between 1 and {N}, got {m}")
    # One random order of the training set per draw; a batch of m is its first m examples,
    # m distinct examples drawn uniformly. Every m shares the orders: one sort, not one per m.
    order = np.argsort(np.random.default_rng(seed).random((draws, N)), axis=1)
    rows = []
    for m in batch_sizes:
        idx = order[:, :m]
        per_example = 2 * width if layer == 0 else X.shape[-1] + 5 * net.depth * width  # every tap
        row_bytes = m * per_example * z_all.itemsize
        chunk = max(1, SPREAD_CHUNK_BYTES // row_bytes)
        mus, variances = [], []
        for start in range(0, draws, chunk):
            part = idx[start : start + chunk]
            if layer == 0:
                z = z_all[part]  # (chunk, m, width): the same z as the network's forward pass
                mu = z.mean(axis=1)
                z -= mu[:, None, :]
                var = np.einsum("...ij,...ij->...j", z, z) / m
            else:
                _, btaps = nn.forward(net, X[part])  # (chunk, m, n_in): a stack of mini-batches
                c = btaps[layer].cache
                assert c is not None
                mu, var = c.mu, c.var
            mus.append(mu)
            variances.append(var)
        mu_b, var_b = np.concatenate(mus), np.concatenate(variances)
        sd_mu = mu_b.std(axis=0)[keep] / np.sqrt(pop_var[keep])
        sd_var = var_b.std(axis=0)[keep] / pop_var[keep]
        fpc = math.sqrt((N - m) / (N - 1)) if N > 1 else 0.0
        rows.append(
            {
                "m": int(m),
                "sd_mu": float(sd_mu.mean()),
                "law_mu": 1 / math.sqrt(m),
                "law_mu_fpc": fpc / math.sqrt(m),
                "sd_var": float(sd_var.mean()),
                "law_var": float(np.sqrt(np.maximum(kurtosis - 1, 0) / m).mean()),
                "law_var_fpc": float(
                    (var_sd_without_replacement(pop_var[keep], mu4, int(m), N) / pop_var[keep]).mean()
                ),
                "mean_var_ratio": float((var_b.mean(axis=0)[keep] / pop_var[keep]).mean()),
            }
        )
    return pd.DataFrame(rows)


def train_test_gap(runs: Iterable[Run]) -> pd.DataFrame:
    """Final training and test accuracy (and their gap) of each run, by batch size."""
    rows = []
    for run in runs:
        last = run.curves.iloc[-1]
        rows.append(
            {
                "m": run.settings.batch_size,
                "train_acc": float(last["train_acc"]),
                "test_acc": float(last["test_acc"]),
                "gap": float(last["train_acc"] - last["test_acc"]),
                "diverged": run.diverged is not None,
            }
        )
    return pd.DataFrame(rows).sort_values("m", ignore_index=True)


def train_test_gap_grid(settings: Sequence[Settings]) -> pd.DataFrame:
    """:func:`train_test_gap` of networks trained for their final metrics only.

    ``sweep.train_many`` trains each Settings as ``train`` would (the same steps, the
    same numbers) but records nothing on the way, so a grid costs its training steps
    and one evaluation per network instead of every checkpoint's recording.
    """
    table = sweep.train_many(list(settings), target=None)
    return pd.DataFrame(
        {
            "m": table["batch_size"].astype(int),
            "train_acc": table["train_acc"].astype(float),
            "test_acc": table["test_acc"].astype(float),
            "gap": (table["train_acc"] - table["test_acc"]).astype(float),
            "diverged": table["diverged"].astype(bool),
        }
    ).sort_values("m", ignore_index=True)


# --------------------------------------------------------------------------------------
# 5. At test time
# --------------------------------------------------------------------------------------

TEST_TIME_CHOICES = {
    "batch of one": "one",
    "running EWA": "running",
    "bias-corrected EWA": "corrected",
    "population": "population",
}


def one_at_a_time(net: nn.MLP, X: Array) -> Array:
    """Logits of each row of X normalized on its own, as a mini-batch of one: (N, classes)."""
    logits, _ = nn.forward(net, X.astype(net.theta.dtype)[:, None, :])
    return logits[:, 0, :]


def logits_with(run: Run | Trained, X: Array, choice: str) -> Array:
    """Logits of X under one of :data:`TEST_TIME_CHOICES`' values (one example at a time)."""
    if choice == "one":
        return one_at_a_time(run.net, X)
    stats = run.inference_stats(choice)
    # with given statistics every example is treated independently of the others
    logits, _ = nn.forward(run.net, X.astype(run.net.theta.dtype), stats)
    return logits


def probabilities(logits: Array) -> Array:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class OneExample:
    """One test example under each choice of statistics (keys: :data:`TEST_TIME_CHOICES`' labels)."""

    z_norm: dict[str, Array]  # z_norm of every unit of hidden layer 1
    probs: dict[str, Array]  # the network's class probabilities
    true_class: int


def one_example(run: Run, index: int) -> OneExample:
    """Test example ``index`` (0-based) alone through the run's final network, once per choice.

    "batch of one" normalizes the example with its own μ and σ² (training mode); the
    other choices with the run's estimated statistics.
    """
    ds = run.dataset
    x = ds.X_test[index : index + 1]
    z_norm, probs = {}, {}
    for label, choice in TEST_TIME_CHOICES.items():
        stats = None if choice == "one" else run.inference_stats(choice)
        _, taps = nn.forward(run.net, x.astype(run.net.theta.dtype), stats)
        assert taps[0].z_norm is not None
        z_norm[label] = taps[0].z_norm[0]
        probs[label] = probabilities(logits_with(run, x, choice))[0]
    return OneExample(z_norm=z_norm, probs=probs, true_class=int(ds.y_test[index]))


def majority_share(y: NDArray[np.int64]) -> float:
    """The share of the most frequent class in y: the accuracy of a constant prediction at best."""
    return float(np.bincount(y).max() / len(y))


def ewa_start_weight(decay: float, t: int) -> float:
    """decayᵗ: the weight the raw EWA still gives its start v₀ = 0 after t steps."""
    return float(decay**t)


def batched_accuracy(net: nn.MLP, X: Array, y: NDArray[np.int64], m: int, seed: int = 0) -> float:
    """Accuracy when X is cut into random mini-batches of m, each normalized with its own
    μ_B and σ²_B (training mode). A last incomplete batch is left out, as in training."""
    n = (len(X) // m) * m
    if n == 0:
        raise ValueError(f"need at least m = {m} examples, got {len(X)}")
    order = np.random.default_rng(seed).permutation(len(X))[:n]
    Xb = X[order].astype(net.theta.dtype).reshape(n // m, m, -1)
    pred = nn.predict(net, Xb, None).reshape(-1)
    return float((pred == y[order]).mean())


def test_time_accuracies(run: Run | Trained) -> dict[str, float]:
    """Test accuracy of the run's final network for every choice of statistics,
    plus ``"batches of m"``: the test set in training-mode mini-batches of the run's m."""
    ds = run.dataset
    out = {
        label: float((logits_with(run, ds.X_test, choice).argmax(axis=-1) == ds.y_test).mean())
        for label, choice in TEST_TIME_CHOICES.items()
    }
    m = min(run.settings.batch_size, len(ds.X_test))
    out["batches of m"] = batched_accuracy(run.net, ds.X_test, ds.y_test, m)
    return out


def test_time_table(runs: Iterable[Run | Trained]) -> pd.DataFrame:
    """One row per run (batch size, decay): test accuracy for every choice of statistics."""
    rows = []
    for run in runs:
        row: dict[str, object] = {"m": run.settings.batch_size, "decay": run.settings.decay}
        row.update(test_time_accuracies(run))
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Trained:
    """A final network and its statistics: what :func:`test_time_accuracies` reads of a Run."""

    settings: Settings
    net: nn.MLP
    running: list[tuple[Array, Array]]
    population: list[tuple[Array, Array]] | None
    dataset: Dataset
    steps_done: int

    def inference_stats(self, which: str) -> list[tuple[Array, Array]] | None:
        """The final statistics for inference, as ``Run.inference_stats``."""
        return engine.final_stats(which, self.running, self.population, self.settings.decay, self.steps_done)


def train_final(settings: Sequence[Settings]) -> list[Trained]:
    """Train each Settings by the engine, recording nothing but the final network.

    The same training as ``train`` (the same engine, data and generators), stacked where
    the settings allow (e.g. several decays of one batch size), without the checkpoints'
    recording. Returned in the given order.
    """
    out: list[Trained | None] = [None] * len(settings)
    for members in sweep.groups(settings).values():
        stack = engine.Stack.create([settings[i] for i in members])
        engine.train(stack, engine.Recorder())
        done = stack.steps_done()
        for k, i in enumerate(members):
            s = settings[i]
            net = nn.create(stack.net.sizes, s.activation, s.use_bn, s.eps, dtype=stack.net.theta.dtype.type)
            net.theta[...] = stack.net.theta[k]
            population = population_stats(net, stack.datasets[k].X_train) if s.use_bn else None
            out[i] = Trained(
                settings=s, net=net, running=[(mu[k].copy(), var[k].copy()) for mu, var in stack.now.running],
                population=population, dataset=stack.datasets[k], steps_done=int(done[k]),
            )  # fmt: skip
    return [t for t in out if t is not None]


# --------------------------------------------------------------------------------------
# 6. Conventions
# --------------------------------------------------------------------------------------

CONVENTIONS = ("note", "pytorch", "keras")
DEFAULT_EPS = {"note": 1e-5, "pytorch": 1e-5, "keras": 1e-3}
# initial running (mean, variance): bnviz follows the note's EWA (v_0 = 0); the
# frameworks start their running variance at 1
INITIAL = {"note": (0.0, 0.0), "pytorch": (0.0, 1.0), "keras": (0.0, 1.0)}


def momentum(convention: str, decay: float) -> float:
    """The framework's ``momentum`` argument for the note's EWA ``decay``."""
    if convention == "pytorch":
        return 1.0 - decay
    if convention in ("keras", "note"):
        return decay
    raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")


def decay_from(convention: str, momentum_value: float) -> float:
    """The note's EWA ``decay`` for a framework's ``momentum`` argument."""
    if convention == "pytorch":
        return 1.0 - momentum_value
    if convention in ("keras", "note"):
        return momentum_value
    raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")


def running_estimates(
    batch_mu: Array,
    batch_var: Array,
    m: int,
    decay: float,
    convention: str = "note",
    bias_correction: bool = False,
) -> tuple[Array, Array]:
    """Running μ and σ² after each step, for mini-batch statistics ``(T, n)`` of size m.

    Every convention is the note's EWA ``v ← decay·v + (1−decay)·x`` (``bn.ewa``) with
    its own starting values and input: PyTorch feeds the unbiased σ²·m/(m−1) into the
    running variance (while normalizing the batch with the biased σ²) and starts it at
    1; Keras feeds the biased σ² and starts at 1; bnviz starts both at 0 and may
    divide by 1 − decayᵗ (bias correction, meaningful only from 0).
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    batch_mu = np.asarray(batch_mu, dtype=np.float64)
    batch_var = np.asarray(batch_var, dtype=np.float64)
    if convention == "pytorch":
        if m < 2:
            raise ValueError("PyTorch needs more than 1 value per channel when training (m ≥ 2)")
        batch_var = batch_var * (m / (m - 1))
    mu0, var0 = INITIAL[convention]
    v_mu = np.full(batch_mu.shape[1:], mu0)
    v_var = np.full(batch_var.shape[1:], var0)
    out_mu = np.empty_like(batch_mu)
    out_var = np.empty_like(batch_var)
    for t in range(len(batch_mu)):
        v_mu = bn.ewa(v_mu, batch_mu[t], decay)
        v_var = bn.ewa(v_var, batch_var[t], decay)
        if bias_correction and convention == "note":
            out_mu[t] = bn.bias_corrected(v_mu, decay, t + 1)
            out_var[t] = bn.bias_corrected(v_var, decay, t + 1)
        else:
            out_mu[t], out_var[t] = v_mu, v_var
    return out_mu, out_var


@dataclass(frozen=True)
class RunningVariance:
    """One unit's recorded σ²_B and its running σ² under each convention, by recorded step."""

    steps: NDArray[np.integer]
    batch_var: Array
    running_var: dict[str, Array]  # legend label -> running σ² after each step
    population_var: float  # σ² over the whole training set, final weights


def _batch_stats(run: Run) -> tuple[Array, Array]:
    rec = run.layers[0]
    return rec.batch_mu.astype(np.float64), rec.batch_var.astype(np.float64)


def running_var_by_convention(run: Run, unit: int) -> RunningVariance:
    """Hidden layer 1, ``unit`` (0-based): the run's recorded σ²_B averaged four ways.

    The note's EWA from 0 (raw and bias-corrected), PyTorch's and Keras's updates, all
    with the run's batch size m and decay (:func:`running_estimates`).
    """
    m, decay = run.settings.batch_size, run.settings.decay
    bmu, bvar = _batch_stats(run)
    running = {
        "bnviz (the note), v₀ = 0": running_estimates(bmu, bvar, m, decay, "note")[1][:, unit],
        "bnviz, bias-corrected": running_estimates(bmu, bvar, m, decay, "note", True)[1][:, unit],
        "PyTorch": running_estimates(bmu, bvar, m, decay, "pytorch")[1][:, unit],
        "Keras": running_estimates(bmu, bvar, m, decay, "keras")[1][:, unit],
    }
    return RunningVariance(
        steps=run.stat_steps,
        batch_var=bvar[:, unit],
        running_var=running,
        population_var=float(run.layers[0].pop_var[-1, unit]),
    )


def _largest_diff(ours: tuple[Array, Array], ref: tuple[Array, Array]) -> float:
    """The largest |ours − ref| over the units, of μ and of σ²."""
    return float(max(np.abs(ours[0] - ref[0]).max(), np.abs(ours[1] - ref[1]).max()))


def conventions_check(run: Run, unit: int) -> pd.DataFrame:
    """Does :func:`running_estimates` reproduce each convention? One row per convention.

    PyTorch and Keras: against :func:`framework_reference` (their documented updates);
    the note's: against the running estimate the training loop itself kept. Columns: the
    final running σ² of ``unit`` (0-based, named 1-based) by bnviz and by the
    reference, and the largest |difference| of μ and σ² over all units of hidden layer 1.
    """
    m, decay = run.settings.batch_size, run.settings.decay
    bmu, bvar = _batch_stats(run)
    ours_col, ref_col = f"σ² unit {unit + 1}: bnviz", f"σ² unit {unit + 1}: reference"
    rows: list[dict[str, object]] = []
    for conv in ("pytorch", "keras"):
        mom = momentum(conv, decay)
        ours_mu, ours_var = running_estimates(bmu, bvar, m, decay, conv)
        ref_mu, ref_var = framework_reference(conv, bmu, bvar, m, mom)
        rows.append({
            "convention": conv, "momentum": mom, ours_col: ours_var[-1, unit], ref_col: ref_var[unit],
            "max |diff|, all units": _largest_diff((ours_mu[-1], ours_var[-1]), (ref_mu, ref_var)),
        })  # fmt: skip
    note_mu, note_var = running_estimates(bmu, bvar, m, decay, "note")
    kept_mu, kept_var = run.running[0]
    rows.append({
        "convention": "the note (the training loop's own)", "momentum": decay,
        ours_col: note_var[-1, unit], ref_col: float(kept_var[unit]),
        "max |diff|, all units": _largest_diff((note_mu[-1], note_var[-1]), (kept_mu, kept_var)),
    })  # fmt: skip
    return pd.DataFrame(rows)


EPS_TABLE_VARIANCES = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def eps_shrink_table(variances: Sequence[float] = EPS_TABLE_VARIANCES) -> pd.DataFrame:
    """The spread of z_norm for units of each variance, with PyTorch's and Keras's default ε."""
    var = np.array(variances, dtype=np.float64)
    return pd.DataFrame({
        "σ² of a unit": var,
        "sd of z_norm, ε = 1e-5 (PyTorch)": eps_shrink(var, DEFAULT_EPS["pytorch"]),
        "sd of z_norm, ε = 1e-3 (Keras)": eps_shrink(var, DEFAULT_EPS["keras"]),
    })  # fmt: skip


def eps_shrink(var: ArrayLike, eps: float) -> NDArray[np.float64]:
    """The standard deviation of z_norm for a unit of variance σ²: √(σ²/(σ²+ε))."""
    v = np.asarray(var, dtype=np.float64)
    return np.sqrt(v / (v + eps))


def framework_reference(
    convention: str, batch_mu: Array, batch_var: Array, m: int, momentum_value: float
) -> tuple[Array, Array]:
    """The framework's own documented update, written in its own form (a cross-check).

    PyTorch: ``running = (1 − momentum)·running + momentum·x``, with the unbiased
    variance ``x = σ²_B·m/(m−1)``, from running (0, 1). Keras:
    ``moving = moving·momentum + x·(1 − momentum)`` with the biased σ²_B, from (0, 1).
    Returns the final running mean and variance.
    """
    batch_mu = np.asarray(batch_mu, dtype=np.float64)
    batch_var = np.asarray(batch_var, dtype=np.float64)
    run_mu = np.zeros(batch_mu.shape[1:])
    run_var = np.ones(batch_var.shape[1:])
    for mu_b, var_b in zip(batch_mu, batch_var):
        if convention == "pytorch":
            unbiased = var_b * m / (m - 1)
            run_mu = (1 - momentum_value) * run_mu + momentum_value * mu_b
            run_var = (1 - momentum_value) * run_var + momentum_value * unbiased
        elif convention == "keras":
            run_mu = run_mu * momentum_value + mu_b * (1 - momentum_value)
            run_var = run_var * momentum_value + var_b * (1 - momentum_value)
        else:
            raise ValueError(f"framework_reference knows 'pytorch' and 'keras', got {convention!r}")
    return run_mu, run_var

"""One budget per request: what a page's rerun may compute, estimated before it starts.

A page's rerun may train several runs (the Explorer: the settings and their baseline),
grids of runs (the noise and test-time views) or a whole sweep. Each page asks a
function here for a :class:`Plan`: the work it will do, its estimated CPU seconds, and
one sentence per thing done differently from what was asked (fewer steps, fewer grid
points, which setting to lower). Every plan stays within ``REQUEST_SECONDS`` of one
core; the estimate counts everything, cached or not (the conservative choice).

The time model (CPU seconds on one core, one BLAS thread):

- a multiply-add of a matrix product costs ``1 / MADDS_PER_SECOND``, and each unit's
  element-wise work (BN, the activation) ``UNIT_SECONDS`` per example (a layer narrower
  than ``NARROW`` units as much as one that wide: NumPy's per-row work dominates there);
- a training step costs ``STEP_SECONDS + depth · LAYER_STEP_SECONDS`` of fixed work (Python,
  small arrays) besides its forward and backward pass (about 3 forwards of its m examples);
- a recorded run (``train``, what the Explorer draws) passes the training set twice and
  the test set four times at each of its checkpoints (plus the 2-D decision grid) and
  summarizes every unit of every layer (``CHECKPOINT_UNIT_SECONDS`` per unit and quantity);
- a bare run (``sweep.train_many``: final metrics only) evaluates once, at the end.

``bench/budget.py`` measures each page's work at its worst reachable settings and prints
the estimate beside the measured CPU seconds and peak memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import caveats, fmt
from .data import n_classes, n_features, n_total, n_train
from .engine import N_CHECKPOINTS, group_key
from .settings import Settings, fitting_groups

__all__ = [
    "MADDS_PER_SECOND",
    "MEMORY_BYTES",
    "REQUEST_SECONDS",
    "RUN_SECONDS",
    "Plan",
    "bare_seconds",
    "bias",
    "covariate",
    "explorer",
    "fit_run",
    "noise",
    "run_problem",
    "run_seconds",
    "spread_seconds",
    "sweep",
    "test_time",
    "why",
]

# One request's share of a shared server: about 3 s of one core and 300 MB above idle.
REQUEST_SECONDS = 3.0
MEMORY_BYTES = 300 * 2**20
# One run of the sidebar's settings: what a page with two runs (the Explorer's settings and
# its baseline) can afford within one request.
RUN_SECONDS = REQUEST_SECONDS / 2
# The time model's constants, fitted on a 2-core machine at load average under 1; check
# them with `.venv/bin/python bench/budget.py` (estimate beside measurement per page).
MADDS_PER_SECOND = 2e9
STEP_SECONDS = 1e-4  # a training step's fixed work, plus LAYER_STEP_SECONDS per hidden layer
LAYER_STEP_SECONDS = 1.1e-4
UNIT_SECONDS = 1e-8  # element-wise work of one unit for one example's forward pass
NARROW = 16  # a layer narrower than this costs as much element-wise work as one this wide
CHECKPOINT_UNIT_SECONDS = 2.2e-5
GRID_POINTS = 1024  # the decision-boundary grid of the 2-D datasets, at every checkpoint
FIT_STEPS = 500  # a link's run keeps at least this many steps (or its own) before its network shrinks
MIN_GRID_STEPS = 50  # a grid trained with fewer steps than this says little: drop points instead
MIN_DRAWS = 50  # the noise view's fewest mini-batches per m


@dataclass(frozen=True)
class Plan:
    """What a page's rerun computes, and what it does instead of what was asked.

    ``runs``: recorded runs (``train``); ``grid``: bare runs (final metrics only);
    ``draws``: the noise view's mini-batches per batch size. ``notes``: one sentence per
    change from what was asked (empty: everything as asked).
    """

    seconds: float  # estimated CPU seconds of this plan
    asked: float  # estimated CPU seconds of what was asked
    runs: tuple[Settings, ...] = ()
    grid: tuple[Settings, ...] = ()
    draws: int = 0
    notes: tuple[str, ...] = ()

    @property
    def within(self) -> bool:
        return self.seconds <= REQUEST_SECONDS

    @property
    def reduced(self) -> bool:
        return bool(self.notes)

    def message(self) -> str:
        """The notes as one paragraph, led by the budget (empty when nothing was reduced)."""
        if not self.notes:
            return ""
        return (
            f"This page would need about {fmt.number(self.asked, 2)} s of computing; a request may use "
            f"about {fmt.number(REQUEST_SECONDS, 2)} s of the shared server. " + " ".join(self.notes)
        )


# --------------------------------------------------------------------------- the time model


def _per_example(s: Settings) -> int:
    """Multiply-adds of one example's forward pass."""
    n_in, n_out = n_features(s.dataset), n_classes(s.dataset)
    return n_in * s.width + (s.depth - 1) * s.width**2 + s.width * n_out


def n_checkpoints(steps: int) -> int:
    """How many checkpoints ``engine.checkpoint_steps(steps)`` has (step 0 included)."""
    return min(steps, N_CHECKPOINTS) + 1


def forward_seconds(s: Settings, examples: float) -> float:
    """CPU seconds of ``examples`` example-forwards through the network of ``s``: its matrix
    products and, per unit, the element-wise work (BN, the activation)."""
    return examples * (_per_example(s) / MADDS_PER_SECOND + s.depth * max(s.width, NARROW) * UNIT_SECONDS)


def step_seconds(s: Settings) -> float:
    """The fixed work of one training step of ``s`` (besides its arithmetic)."""
    return STEP_SECONDS + s.depth * LAYER_STEP_SECONDS


def _training_seconds(s: Settings) -> float:
    return forward_seconds(s, 3 * s.steps * s.batch_size) + s.steps * step_seconds(s)


def run_seconds(s: Settings) -> float:
    """Estimated CPU seconds of ``train(s)``: the steps and the recorded checkpoints."""
    N = n_train(s.dataset)
    per_ckpt = 2 * N + 4 * (n_total(s.dataset) - N) + (GRID_POINTS if n_features(s.dataset) == 2 else 0)
    quantities = 3 if s.use_bn else 1
    k = n_checkpoints(s.steps)
    return (
        _training_seconds(s)
        + forward_seconds(s, k * per_ckpt)
        + k * s.depth * s.width * quantities * CHECKPOINT_UNIT_SECONDS
    )


def bare_seconds(s: Settings) -> float:
    """Estimated CPU seconds of one model of ``sweep.train_many``: the steps, one final evaluation."""
    N = n_train(s.dataset)
    return _training_seconds(s) + forward_seconds(s, 3 * N + 4 * (n_total(s.dataset) - N))


def group_seconds(settings: Sequence[Settings]) -> float:
    """Estimated CPU seconds of ``sweep.train_many(settings)``: stacked models share each
    step's fixed work, so a group of K costs K models' arithmetic but one model's overhead."""
    groups: dict[tuple, list[Settings]] = {}
    for s in settings:
        groups.setdefault(group_key(s), []).append(s)
    total = 0.0
    for members in groups.values():
        total += sum(bare_seconds(s) - s.steps * step_seconds(s) for s in members)
        total += members[0].steps * step_seconds(members[0])
    return total


def spread_seconds(s: Settings, sizes: Sequence[int], draws: int) -> float:
    """Estimated CPU seconds of ``teach.batch_stat_spread`` (hidden layer 1): z of the whole
    training set once, then each mini-batch's mean and variance per unit (a gather and a few
    element-wise operations per value, each about as dear as 10 multiply-adds), after one
    random order of the training set per draw (a key and its sort per example, about as dear
    as 110 multiply-adds)."""
    N = n_train(s.dataset)
    once = (N * n_features(s.dataset) * s.width + draws * N * 110) / MADDS_PER_SECOND
    return once + draws * sum(sizes) * s.width * 10 / MADDS_PER_SECOND


# --------------------------------------------------------------------------- one run


def run_problem(s: Settings) -> str | None:
    """Why ``s`` is more than one run may use (a sentence naming what to lower), or None."""
    need = run_seconds(s)
    if need <= RUN_SECONDS:
        return None
    fixed = run_seconds(s.replace_unchecked(steps=N_CHECKPOINTS))
    lower = "steps or batch size" if fixed <= RUN_SECONDS else "width or depth (the network alone is too big)"
    return (
        f"steps: this run would need about {fmt.number(need, 2)} s of computing, more than the "
        f"{fmt.number(RUN_SECONDS, 2)} s one run may use on a shared server; lower {lower}"
    )


def fit_run(s: Settings) -> tuple[Settings, str | None]:
    """The nearest settings within ``RUN_SECONDS``: fewer steps (down to ``FIT_STEPS``),
    then a smaller network (width, then depth, then batch size), then fewer steps again.

    Returns them and a notice saying what changed (None when ``s`` fits as is).
    """
    if run_seconds(s) <= RUN_SECONDS:
        return s, None
    t = s
    while run_seconds(t.replace_unchecked(steps=min(t.steps, FIT_STEPS))) > RUN_SECONDS:
        if t.width > 4:
            t = t.replace_unchecked(width=max(4, t.width * 3 // 4))
        elif t.depth > 1:
            t = t.replace_unchecked(depth=t.depth - 1)
        elif t.batch_size > 1:
            t = t.replace_unchecked(batch_size=max(1, t.batch_size // 2))
        else:
            break
    if t.normalization == "group":  # a smaller width keeps GroupNorm's groups dividing it
        t = t.replace_unchecked(groups=fitting_groups(t.width, t.groups))
    t = t.replace(steps=_steps_within(t, RUN_SECONDS, run_seconds))
    return t, (
        f"steps={s.steps}, width={s.width}, depth={s.depth}: more compute than one run may use here; "
        f"reduced to steps={t.steps}, width={t.width}, depth={t.depth}"
    )


def _steps_within(s: Settings, seconds: float, cost: Callable[[Settings], float], runs: int = 1) -> int:
    """The most steps (≤ s.steps, ≥ 1) at which ``runs`` runs of ``cost`` fit in ``seconds``."""
    lo, hi = 1, s.steps
    if runs * cost(s) <= seconds:
        return s.steps
    while lo < hi:  # cost grows with steps: bisect
        mid = (lo + hi + 1) // 2
        if runs * cost(s.replace_unchecked(steps=mid)) <= seconds:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _pair(runs: tuple[Settings, Settings], extra: float, what: str) -> Plan:
    """Two recorded runs with the same steps (and ``extra`` seconds of other work)."""
    asked = sum(run_seconds(r) for r in runs) + extra
    if asked <= REQUEST_SECONDS:
        return Plan(asked, asked, runs=runs)
    room = REQUEST_SECONDS - extra
    a, b = runs
    lo, hi = 1, a.steps
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if run_seconds(a.replace_unchecked(steps=mid)) + run_seconds(b.replace_unchecked(steps=mid)) <= room:
            lo = mid
        else:
            hi = mid - 1
    a, b = a.replace(steps=lo), b.replace(steps=lo)
    seconds = run_seconds(a) + run_seconds(b) + extra
    note = f"Both {what} train {lo} steps instead of {runs[0].steps}."
    if seconds > REQUEST_SECONDS:
        note += " Even so this is more than a request may use: lower the width or depth."
    return Plan(seconds, asked, runs=(a, b), notes=(note,))


def explorer(s: Settings) -> Plan:
    """The Explorer: the settings and their baseline (BN switched the other way)."""
    return _pair((s, s.replace(use_bn=not s.use_bn)), 0.0, "networks (with and without BN)")


def bias(s: Settings, shifts: int = 25) -> Plan:
    """Why b does nothing: a network with and one without BN, then each shift of b (and the
    current one) and one gradient, each over the whole training set, in both networks."""
    with_bn, plain = s.note_bn(), s.replace(use_bn=False)
    extra = 2 * forward_seconds(with_bn, n_train(s.dataset) * (shifts + 3 + 3))
    return _pair((with_bn, plain), extra, "networks")


def covariate(runs: Sequence[Settings]) -> Plan:
    """The covariate-shift view: a fixed experiment, the same for every session (cached).

    Its cost does not depend on the sidebar; the plan says when the first render takes
    longer than a request's budget (every later one reads the shared cache).
    """
    seconds = sum(run_seconds(r) for r in runs)
    notes: tuple[str, ...] = ()
    if seconds > REQUEST_SECONDS:
        notes = (
            f"The first visit trains this fixed experiment once (about {fmt.number(seconds, 2)} s); "
            "every later visit, from any session, reads the stored result.",
        )
    return Plan(seconds, seconds, runs=tuple(runs), notes=notes)


def landscape_seconds(s: Settings, probes: int, step_sizes: int) -> float:
    """Estimated CPU seconds of ``why.landscape([s], probes)``: a bare training (no
    checkpoint evaluation but the loss over the training set at step 0), and at each probe
    step one forward and backward pass of the mini-batch at θ_t and one per step size."""
    probe = (1 + step_sizes) * (forward_seconds(s, 3 * s.batch_size) + step_seconds(s))
    return _training_seconds(s) + forward_seconds(s, n_train(s.dataset)) + probes * probe


def why(runs: Sequence[Settings], landscapes: Sequence[Settings], probes: int, step_sizes: int) -> Plan:
    """The "Why does BN help?" view: recorded ``runs`` (BN, noisy BN, no BN) and the loss
    landscape probed along the training of each of ``landscapes`` (``grid``).

    A fixed experiment for every session (cached), as the covariate-shift view's: its cost
    does not depend on the sidebar, and the plan says when the first render of a choice
    takes longer than a request's budget (every later one reads the stored result).
    """
    seconds = sum(run_seconds(r) for r in runs)
    seconds += sum(landscape_seconds(s, probes, step_sizes) for s in landscapes)
    notes: tuple[str, ...] = ()
    if seconds > REQUEST_SECONDS:
        notes = (
            f"The first visit trains this fixed experiment once (about {fmt.number(seconds, 2)} s); "
            "every later visit, from any session, reads the stored result.",
        )
    return Plan(seconds, seconds, runs=tuple(runs), grid=tuple(landscapes), notes=notes)


# --------------------------------------------------------------------------- grids


def _grid(
    room: float, grid: Sequence[Settings], drop_order: Sequence[int], what: str
) -> tuple[tuple[Settings, ...], list[str]]:
    """The grid runs that fit in ``room`` seconds: fewer steps first (not below
    MIN_GRID_STEPS), then fewer points (dropped in ``drop_order``, indices into ``grid``)."""
    grid = list(grid)
    if not grid or group_seconds(grid) <= room:
        return tuple(grid), []
    steps = grid[0].steps
    keep = list(range(len(grid)))
    order = [i for i in drop_order if i in keep]
    while keep:
        chosen = [grid[i] for i in keep]
        lo, hi = min(steps, MIN_GRID_STEPS), steps
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if group_seconds([c.replace_unchecked(steps=mid) for c in chosen]) <= room:
                lo = mid
            else:
                hi = mid - 1
        fitted = [c.replace(steps=lo) for c in chosen]
        if group_seconds(fitted) <= room:
            notes = []
            if lo < steps:
                notes.append(f"The {what} train {lo} steps each instead of {steps}.")
            if len(keep) < len(grid):
                notes.append(f"Only {len(keep)} of its {len(grid)} networks are trained.")
            return tuple(fitted), notes
        keep.remove(order.pop(0))
    return (), [
        f"The {what} are not trained: the sidebar's network leaves no room for them. "
        "Lower the width, depth or steps to see them."
    ]


def noise(s: Settings, sizes: Sequence[int], gap_sizes: Sequence[int], draws: int = 200) -> Plan:
    """The noise view: one recorded run, the spread of μ_B and σ²_B over ``draws``
    mini-batches of each of ``sizes``, and a bare run per batch size of ``gap_sizes``."""
    run = s.note_bn()
    grid = [run.replace(batch_size=m) for m in gap_sizes]
    asked = run_seconds(run) + spread_seconds(run, sizes, draws) + group_seconds(grid)
    room = REQUEST_SECONDS - run_seconds(run)
    notes: list[str] = []
    d = draws
    while d > MIN_DRAWS and spread_seconds(run, sizes, d) > room / 2:
        d = max(MIN_DRAWS, d * 3 // 4)
    if d < draws:
        notes.append(f"The spread is measured over {d} mini-batches per m instead of {draws}.")
    room -= spread_seconds(run, sizes, d)
    by_size = sorted(range(len(grid)), key=lambda i: -gap_sizes[i])  # the dearest first
    fitted, more = _grid(room, grid, by_size[1:] + by_size[:1], "networks of the train/test gap")
    notes += more
    seconds = run_seconds(run) + spread_seconds(run, sizes, d) + group_seconds(fitted)
    return Plan(seconds, asked, runs=(run,), grid=fitted, draws=d, notes=tuple(notes))


def test_time(s: Settings, grid_m: Sequence[int], grid_decay: Sequence[float],
              caveat: Sequence[Settings] = caveats.SHOWN) -> Plan:
    """The test-time view: one recorded run, the fixed small-batch runs of its caveat (what
    bias correction does not correct, ``caveats.SHOWN``) and a bare run per (m, decay) of the
    grid. ``runs`` holds the run, then the caveat's."""
    run = s.note_bn()
    grid = [run.replace(batch_size=m, decay=d) for m in grid_m for d in grid_decay]
    extra = forward_seconds(run, 8 * (n_total(s.dataset) - n_train(s.dataset)))  # its accuracies
    fixed = run_seconds(run) + extra + sum(run_seconds(c) for c in caveat)
    asked = fixed + group_seconds(grid) + len(grid) * extra
    room = REQUEST_SECONDS - fixed
    # points with the largest m go first (the dearest), the middle decay last
    order = sorted(range(len(grid)), key=lambda i: (-grid[i].batch_size, abs(grid[i].decay - 0.99)))
    fitted, notes = _grid(room - len(grid) * extra, grid, order, "networks of the grid")
    seconds = fixed + group_seconds(fitted) + len(fitted) * extra
    return Plan(seconds, asked, runs=(run, *caveat), grid=fitted, notes=tuple(notes))


def sweep(runs: Sequence[Settings], seeds: int) -> Plan:
    """The Sweeps page: every configuration × seed (``runs``, seeds consecutive per
    configuration), trained stacked. Over the budget: fewer seeds; then none (the page
    offers the terminal command instead)."""
    asked = group_seconds(runs)
    if asked <= REQUEST_SECONDS:
        return Plan(asked, asked, grid=tuple(runs))
    for keep in range(seeds - 1, 0, -1):
        fewer = [r for i, r in enumerate(runs) if i % seeds < keep]
        seconds = group_seconds(fewer)
        if seconds <= REQUEST_SECONDS:
            return Plan(seconds, asked, grid=tuple(fewer),
                        notes=(f"Each configuration is trained with {keep} seed{'s' * (keep > 1)} "
                               f"instead of {seeds}.",))  # fmt: skip
    configs = len(runs) // max(seeds, 1)
    factor = math.ceil(asked / REQUEST_SECONDS)
    return Plan(0.0, asked, notes=(
        f"Nothing is trained: {configs} configuration{'s' * (configs > 1)} × {seeds} seed"
        f"{'s' * (seeds > 1)} is about {factor}× what a request may use. Narrow the ranges, or lower "
        "the seeds, steps, width or depth; or run it from a terminal:",
    ))  # fmt: skip

"""Each page's work at its worst reachable settings: estimated against measured.

    .venv/bin/python bench/budget.py            # every page, CPU seconds then peak memory
    .venv/bin/python bench/budget.py --quick    # the default settings only, to check it runs

For each case (a page and a URL's settings), the settings go through what the app does
with a link (``budget.fit_run``: one run's share of the request), the page's plan is
made (``bnviz.budget``), and the plan's work is done with the core functions the page
calls (no Streamlit, nothing cached): the recorded runs (``train``), the noise view's
spread and train/test-gap grid, the test-time grid, the bias view's shifts, a sweep.
Printed per case: the plan's estimate, the measured CPU seconds (``time.process_time``,
one BLAS thread), the ratio, and the peak of memory allocated by the work (tracemalloc,
in a second, untimed pass), against ``budget.REQUEST_SECONDS`` and ``budget.MEMORY_BYTES``.
Run it on a quiet machine: the load average is printed first and last.
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from threadpoolctl import threadpool_limits

from bnviz import Settings, budget, teach
from bnviz.data import n_train
from bnviz.sweep import PRESETS, SweepSpec, train_many
from bnviz.train import train

GAP_SIZES = (2, 4, 8, 16, 32, 64, 128)  # bnviz/app/pages/teach_noise.py
GRID_M, GRID_DECAY = (2, 8, 32), (0.9, 0.99, 0.999)  # bnviz/app/pages/teach_test_time.py
DRAWS = 200

WORST: dict[str, dict[str, Any]] = {
    "digits, the largest network and batch": dict(dataset="digits", depth=8, width=128, steps=5000,
                                                   batch_size=1198),
    "moons, width 128, m = 2, 5000 steps": dict(width=128, depth=2, batch_size=2, steps=5000),
    "digits, width 128, m = 2, 5000 steps": dict(dataset="digits", width=128, depth=2, batch_size=2,
                                                 steps=5000),
    "digits, width 128, m = 32, 4950 steps": dict(dataset="digits", depth=2, width=128, batch_size=32,
                                                  steps=4950),
}  # fmt: skip


def page_work(page: str, s: Settings) -> tuple[budget.Plan, Callable[[], object]]:
    """The page's plan for settings ``s`` and a function doing its work."""
    N = n_train(s.dataset)
    if page == "explorer":
        plan = budget.explorer(s)
        return plan, lambda: [train(r) for r in plan.runs]
    if page == "bias":
        plan = budget.bias(s, len(teach.BIAS_SHIFTS))

        def bias() -> None:
            for run in (train(r) for r in plan.runs):
                ds = run.dataset
                teach.bias_shift_effect(run.net, ds.X_train, ds.y_train, 0, teach.BIAS_SHIFTS)
                teach.bias_shift_effect(run.net, ds.X_train, ds.y_train, 0, [1.0])
                teach.gradients(run.net, ds.X_train, ds.y_train)

        return plan, bias
    if page == "noise":
        sizes = teach.spread_batch_sizes(N)
        plan = budget.noise(s, sizes, [m for m in GAP_SIZES if m <= N], DRAWS)

        def noise() -> None:
            run = train(plan.runs[0])
            teach.batch_stat_spread(run.net, run.dataset.X_train, sizes, layer=0, draws=plan.draws)
            if plan.grid:
                teach.train_test_gap_grid(plan.grid)

        return plan, noise
    if page == "test-time":
        plan = budget.test_time(s, GRID_M, GRID_DECAY)

        def test_time() -> None:
            run = train(plan.runs[0])
            teach.one_example(run, 0)
            teach.test_time_accuracies(run)
            if plan.grid:
                teach.test_time_table(teach.train_final(plan.grid))

        return plan, test_time
    raise ValueError(page)


def measure(work: Callable[[], object]) -> tuple[float, int]:
    """CPU seconds of one pass, then the tracemalloc peak of another."""
    t = time.process_time()
    work()
    seconds = time.process_time() - t
    tracemalloc.start()
    work()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak


def report(label: str, plan: budget.Plan, work: Callable[[], object]) -> None:
    seconds, peak = measure(work)
    ratio = seconds / max(plan.seconds, 1e-9)
    print(f"{label:<58} est {plan.seconds:5.2f} s  meas {seconds:5.2f} s  ratio {ratio:4.2f}"
          f"  peak {peak / 2**20:6.1f} MB  {'reduced' if plan.reduced else ''}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the default settings only")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}; budget {budget.REQUEST_SECONDS} s, "
          f"{budget.MEMORY_BYTES / 2**20:.0f} MB per request")  # fmt: skip
    cases = {"defaults": {}} if args.quick else WORST
    with threadpool_limits(1, user_api="blas"):
        train(Settings(steps=10))  # warm up imports and BLAS
        for name, url in cases.items():
            s, _ = budget.fit_run(Settings().replace_unchecked(**url))
            for page in ("explorer", "bias", "noise", "test-time"):
                plan, work = page_work(page, s)
                report(f"{page}: {name}", plan, work)
        if not args.quick:
            runs = [teach.covariate_settings(True, 400), teach.covariate_settings(False, 400)]
            plan = budget.covariate(runs)
            report("covariate shift (fixed, cached), 400 steps", plan, lambda: [train(r) for r in runs])
        for key, preset in PRESETS.items():
            spec = SweepSpec(params=preset.spec.params, base=preset.spec.base, seeds=preset.spec.seeds)
            plan = budget.sweep(spec.runs(), spec.seeds)
            grid = list(plan.grid)
            report(f"sweep: {key}", plan, lambda grid=grid: train_many(grid, target=None))  # type: ignore[misc]
            if args.quick:
                break
        if not args.quick:
            wide = SweepSpec(params=(("lr", (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)),
                                     ("decay", (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9999))),
                             base=Settings(width=64, depth=4, batch_size=256, steps=20, activation="relu"))
            runs = wide.runs()
            seconds, peak = measure(lambda: train_many(runs, target=0.9))
            print(f"sweep of 90 stacked moons networks, 4 x 64 units (memory): est "
                  f"{budget.group_seconds(runs):.2f} s, meas {seconds:.2f} s, peak {peak / 2**20:.0f} MB")
        big = SweepSpec(params=(("width", (2, 4, 8, 16, 32, 64)), ("depth", (1, 2, 3, 4, 5))),
                        base=Settings(dataset="digits", steps=300), seeds=5)  # fmt: skip
        plan = budget.sweep(big.runs(), big.seeds)
        print(f"sweep of 150 digits networks: planned {len(plan.grid)} ({plan.notes[0][:60]}…)")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""Do the default settings show Batch Norm helping? BN against no-BN over seeds 0-4.

    .venv/bin/python bench/defaults.py            # the defaults, and lr x 0.5 and x 2 (~1 min)
    .venv/bin/python bench/defaults.py --search   # scan 144 candidates (tens of minutes)

The criterion (``bnviz.scenarios.Comparison.holds``), over seeds 0-4, each seed training
``Settings()`` with and without BN through ``bnviz.train.train``:

- gain: mean over seeds of BN's final test accuracy minus the mean of no-BN's, >= 2 points;
- steps to match: on the mean test-accuracy curve over seeds (one value per checkpoint),
  the first checkpoint at which BN reaches no-BN's final mean accuracy, <= steps / 2
  (BN's accuracy at step 0, with running estimates that have averaged nothing, never counts).

Prints, per seed, the final test accuracy with and without BN and the first checkpoint at
which that seed's BN run reaches that seed's final no-BN accuracy; then the aggregate and
the verdict. ``Settings().cost()`` is printed beside the budget the app's retrain allows
(about twice the cost of moons, 2 x 16 ReLU, momentum, 500 steps).
"""

from __future__ import annotations

import argparse
import itertools
import time

from bnviz import Settings
from bnviz.scenarios import Comparison, compare

# The cost the retrain-in-under-a-second budget allows: twice moons, 2 x 16 ReLU units, m = 32, 500 steps.
_REFERENCE = Settings().replace_unchecked(dataset="moons", depth=2, width=16, batch_size=32, steps=500)
COST_LIMIT = 2 * _REFERENCE.cost()
SEEDS = range(5)


def pct(x: float) -> str:
    return f"{100 * x:5.1f} %"


def table(c: Comparison) -> str:
    lines = [f"{'seed':>4}  {'BN':>7}  {'no BN':>7}  BN reaches no-BN's final at step"]
    for seed, b, p, t, d in zip(c.seeds, c.final_bn, c.final_plain, c.seed_steps_to_match(), c.diverged):
        lines.append(f"{seed:>4}  {pct(b)}  {pct(p)}  {'never' if t is None else t}"
                     + ("  (a run diverged)" if d else ""))
    t = c.steps_to_match
    lines.append(f"mean  {pct(c.final_bn.mean())}  {pct(c.final_plain.mean())}  "
                 f"{'never' if t is None else t} (mean curves), of {c.settings.steps} steps")
    lines.append(f"gain {100 * c.gain:+.1f} points (needs >= +2.0); steps to match "
                 f"{'never' if t is None else t} (needs <= {c.settings.steps // 2}): "
                 + ("HOLDS" if c.holds() else "does not hold"))
    return "\n".join(lines)


def describe(s: Settings) -> str:
    return (f"{s.dataset}, {s.depth} x {s.width} {s.activation}, {s.optimizer} lr {s.lr:g}, "
            f"m = {s.batch_size}, {s.steps} steps")


def search() -> None:
    """Candidates within COST_LIMIT; one line each: gain, steps to match, worst seed's gain."""
    grid = itertools.product(
        ("moons", "circles", "spirals", "xor"),
        ("sigmoid", "tanh", "relu"),
        ((3, 16), (4, 12), (6, 8)),
        (("sgd", 0.5), ("sgd", 1.0), ("momentum", 0.05), ("momentum", 0.1)),
    )
    for dataset, activation, (depth, width), (optimizer, lr) in grid:
        s = Settings(dataset=dataset, activation=activation, depth=depth, width=width,
                     optimizer=optimizer, lr=lr)
        if s.cost() > COST_LIMIT:
            continue
        c = compare(s, SEEDS)
        worst = min(b - p for b, p in zip(c.final_bn, c.final_plain))
        print(f"{describe(s):55}  gain {100 * c.gain:+5.1f}  match {c.steps_to_match}  "
              f"worst seed {100 * worst:+5.1f}  {'HOLDS' if c.holds() else ''}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--search", action="store_true", help="scan candidate defaults")
    args = parser.parse_args()
    if args.search:
        search()
        return
    s = Settings()
    print(f"Settings(): {describe(s)}; cost {s.cost() / 1e6:.0f} M multiply-adds "
          f"(limit {COST_LIMIT / 1e6:.0f} M)")
    for factor in (1.0, 0.5, 2.0):
        t0 = time.perf_counter()
        c = compare(s.replace(lr=s.lr * factor), SEEDS)
        print(f"\nlr = {s.lr * factor:g} (x {factor:g}), 10 runs in {time.perf_counter() - t0:.1f} s")
        print(table(c))


if __name__ == "__main__":
    main()

"""Wu & He 2018's small-batch finding in bnviz: test accuracy by batch size and normalization.

    .venv/bin/python bench/small_batch.py

Trains the Sweeps page's "normalizations" preset (moons, one hidden layer of 16 ReLU units,
momentum at lr 0.05, 500 steps; GroupNorm with 4 groups) with 5 seeds, plus the same
network without normalization (use_bn off), and prints the table m x normalization -> final
test accuracy (each model's own inference statistics), the mean over the seeds with its
standard deviation. A computation, not a timing: the numbers do not depend on the machine.
"""

from __future__ import annotations

import pandas as pd

from bnviz.sweep import PRESETS, SweepSpec, run, summarize

SEEDS = 5


def table() -> pd.DataFrame:
    preset = PRESETS["normalizations"].spec
    sizes = dict(preset.params)["batch_size"]
    spec = SweepSpec(params=preset.params, base=preset.base, seeds=SEEDS)
    plain = SweepSpec(params=(("batch_size", sizes),), base=preset.base.replace(use_bn=False), seeds=SEEDS)
    norms = summarize(run(spec), spec.names, "test_acc")
    none = summarize(run(plain), plain.names, "test_acc").assign(normalization="none")
    both = pd.concat([norms, none], ignore_index=True)
    both["cell"] = [f"{m:.3f} ± {s:.3f}" for m, s in zip(both["mean"], both["std"])]
    order = [*dict(preset.params)["normalization"], "none"]
    return both.pivot(index="batch_size", columns="normalization", values="cell")[order]


def main() -> None:
    base = PRESETS["normalizations"].spec.base
    print(
        f"Test accuracy, mean ± sd over {SEEDS} seeds: {base.dataset}, {base.depth} x {base.width} "
        f"{base.activation}, {base.optimizer} lr {base.lr}, {base.steps} steps, groups={base.groups}"
    )
    print(table().to_string())


if __name__ == "__main__":
    main()

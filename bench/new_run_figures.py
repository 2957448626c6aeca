"""What the Explorer's server spends on the four charts of a run it has not shown yet.

    .venv/bin/python bench/new_run_figures.py            # 12 runs of the default dataset
    .venv/bin/python bench/new_run_figures.py --runs 20

In a class nearly every slider move makes a run the server has not shown, and each new run
builds its histogram, statistics, curves and boundaries charts once (then they are cached,
``bnviz.app.livechart``). This trains ``--runs`` runs of one dataset (the learning rate
differs, so the training points and their image are shared, as they are between runs of
one link) and times, for each, what the page does: the chart's dicts (``charts.*_spec``,
``movie_spec``) encoded by ``livechart.figure_json``. Beside it, in the same rounds, the
statistics, curves and boundaries charts made as Plotly Figures first (``charts.*_figure``).
It prints the median ms per chart and their sum. Run it on a quiet machine: the load average is
printed first and last.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from bnviz import Settings
from bnviz.app import livechart
from bnviz.charts import explorer as charts
from bnviz.charts.boundaries import boundaries_figure, boundaries_spec
from bnviz.train import Run, train


def timed(make: Callable[[], object]) -> float:
    start = time.perf_counter()
    make()
    return (time.perf_counter() - start) * 1000


def charts_of(run: Run, other: Run, figures: bool) -> dict[str, Callable[[], object]]:
    """The charts' JSON, each as a function: the four from dicts, or (``figures``) the three
    that can be made as a Figure first (the histograms are the same either way, and their
    images, once made, are kept)."""
    t, k = int(run.ckpt_steps[-1]), len(run.ckpt_steps) - 1
    names = ("BN", "no BN")
    stats, curves, bounds = ((charts.stats_figure, charts.curves_figure, boundaries_figure) if figures
                             else (charts.stats_spec, charts.curves_spec, boundaries_spec))
    made: dict[str, Callable[[], object]] = {} if figures else {
        "histograms": lambda: livechart.figure_json(livechart._hoisted(
            charts.movie_spec(run, 0, 0, k, dark=False, normalize="batch")))}
    return made | {
        "statistics": lambda: livechart.figure_json(stats(run, 0, 0, t)),
        "curves": lambda: livechart.figure_json(curves(run, other, t, True, names)),
        "boundaries": lambda: livechart.figure_json(bounds(run, other, t, False)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=12, help="new runs, each with its no-BN baseline")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    lrs = [0.05 + 0.01 * i for i in range(args.runs + 1)]
    pairs = [(train(Settings(lr=lr, steps=300)), train(Settings(lr=lr, steps=300, use_bn=False)))
             for lr in lrs]
    for make in charts_of(*pairs[0], figures=False).values():  # the images shared by every run
        make()
    spent: dict[str, dict[str, list[float]]] = {"dicts": {}, "Figures": {}}
    for run, other in pairs[1:]:
        for way in spent:
            for name, make in charts_of(run, other, figures=way == "Figures").items():
                spent[way].setdefault(name, []).append(timed(make))
    for way, by_chart in spent.items():
        medians = {name: statistics.median(ms) for name, ms in by_chart.items()}
        parts = ", ".join(f"{name} {ms:.1f}" for name, ms in medians.items())
        print(f"{way:8s} ms per new run: {parts}; all {sum(medians.values()):.1f}")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

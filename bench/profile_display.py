"""Where a display-only change spends its time: the server's Python, then the browser's.

    .venv/bin/python bench/profile_display.py [--changes 6]

1. In this process, the Python a unit change costs for the histogram figure: the figure
   as plain JSON (``movie_spec`` + ``json.dumps``, what the Explorer sends) against the
   same figure as a ``go.Figure`` serialised by Plotly (``movie_figure().to_json()``);
   the first unit of a run also makes the run's images (memoised after that). Best of
   three passes over 15 units.
2. In headless Chromium, a CPU profile (Chrome DevTools Protocol) of ``--changes`` unit
   changes in the real app, summed per function and divided by the number of changes,
   grouped into Plotly, React (Streamlit's frontend), KaTeX and our live chart.
"""

from __future__ import annotations

import argparse
import collections
import json
import time

from app_latency import choose_unit, open_page, serve  # a sibling: bench/ is sys.path[0]
from playwright.sync_api import sync_playwright

from bnviz import Settings
from bnviz.app.harness import launch_chromium, rerun, stop_server
from bnviz.charts import explorer as charts
from bnviz.train import train

GROUPS = (("Plotly", "plotly"), ("React (Streamlit)", "react-dom"), ("markdown + KaTeX", "StreamlitMarkdown"),
          ("live chart (ours)", "livechart.js"))  # fmt: skip


def python_cost() -> None:
    run = train(Settings())
    k = len(run.ckpt_steps) - 1

    def ms(f, units, passes: int = 3) -> float:
        """Mean per unit over ``units``, the best of ``passes`` passes."""
        best = float("inf")
        for _ in range(passes):
            t0 = time.perf_counter()
            for u in units:
                f(u)
            best = min(best, (time.perf_counter() - t0) / len(units) * 1000)
        return best

    spec = lambda u: json.dumps(charts.movie_spec(run, 0, u, k), separators=(",", ":"))  # noqa: E731
    figure = lambda u: charts.movie_figure(run, 0, u, k).to_json()  # noqa: E731
    charts._IMAGES.clear()
    first = ms(spec, [0], passes=1)  # makes the run's images
    print("Python per unit change, histogram figure (ms, default settings):")
    print(f"  plain JSON, first unit of a run (makes the images)  {first:6.1f}")
    print(f"  plain JSON, other units                             {ms(spec, range(1, 16)):6.1f}")
    print(f"  go.Figure + to_json, other units                    {ms(figure, range(1, 16)):6.1f}")


def browser_profile(changes: int) -> None:
    app, url = serve("app.py", log_name="profile")
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = open_page(browser, url)
            cdp = page.context.new_cdp_session(page)
            cdp.send("Profiler.enable")
            cdp.send("Profiler.setSamplingInterval", {"interval": 100})  # µs
            profiles = []
            for i in range(changes):
                choose_unit(page, i)
                cdp.send("Profiler.start")
                with rerun(page):
                    page.keyboard.press("Enter")
                profiles.append(cdp.send("Profiler.stop")["profile"])
            browser.close()
    finally:
        stop_server(app)

    inclusive: collections.Counter[str] = collections.Counter()
    for prof in profiles:
        nodes = {n["id"]: n for n in prof["nodes"]}
        parent = {c: n["id"] for n in prof["nodes"] for c in n.get("children", [])}
        for sample, dt in zip(prof["samples"], prof["timeDeltas"]):
            seen, node = set(), sample
            while node is not None:  # each group once per sample, however deep
                url = nodes[node]["callFrame"]["url"]
                for name, part in GROUPS:
                    if part in url and name not in seen:
                        inclusive[name] += dt / 1000
                        seen.add(name)
                node = parent.get(node)
    print(f"Browser main thread per unit change, CPU profile of {changes} changes (ms, inclusive):")
    for name, _ in GROUPS:
        print(f"  {name:22s} {inclusive[name] / changes:6.1f}")
    print("  (React time includes what React calls: Plotly and KaTeX are partly inside it)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--changes", type=int, default=6)
    args = ap.parse_args()
    python_cost()
    browser_profile(args.changes)


if __name__ == "__main__":
    main()

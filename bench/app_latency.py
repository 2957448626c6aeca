"""How fast the Explorer answers, measured in the real app in headless Chromium.

    .venv/bin/python bench/app_latency.py [--repeats 9]

Starts ``streamlit run app.py``, ``bench/floor_app.py`` (a one-slider, one-chart page)
and ``bench/floor_select_app.py`` on free ports (with ``bnviz.app.harness``), and prints the median
time from a control change to the updated chart, in whole milliseconds:

  (a) display-only: the Explorer's "Unit" select box (a fragment rerun, no training),
      until the histograms are redrawn;
  (e) the same change, until the statistics chart (further down, same fragment) is redrawn;
  (a') the same, back to a unit chosen before (the server has its figures, the browser too);
  (b) retrain, ε slider: trains the BN run; the no-BN baseline comes from the cache
      (it is keyed on ``Settings.canonical()``, and ε cannot change a run without BN);
  (f) retrain, learning-rate slider: trains both runs (BN and the no-BN baseline);

for (b) and (f) both until the histograms (first screen) and until the training curves
(the last chart of the page) are redrawn;
  (c) floor: the floor page's slider;
  (g) select floor: ``bench/floor_select_app.py``, the same chart under a select box in a
      fragment (the Explorer's kind of display-only control), choosing "unit k";

the ratios to (c), and (d) the client-side step scrubber: one click on the step slider
under the histograms until the new frame is drawn (no server).

For (a) it also prints what one display-only rerun costs the server: the bytes of the
websocket messages the page received, the bytes the live charts fetched (a figure sent by
reference, ``bnviz.app.livechart``: 0 when the browser has it), and the server process's CPU
time (``/proc/<pid>/stat``, every thread), medians per change; bytes are deterministic.

The clock starts in the page at the key press / mouse press (a capture listener) and
stops at the first animation frame in which the chart's data differs. Retrain
settings are cycled through values not seen before, so the cache never answers.
(a), (c) and (g) alternate, one change each in turn on three pages of one browser, so
that the ratios compare the same moments of a shared machine. ``--app`` measures another
checkout's app.py with this harness.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from bnviz.app.harness import (
    CHART_JS,
    DESKTOP,
    IDLE_JS,
    LOGS,
    ROOT,
    chart_frame,
    free_port,
    launch_chromium,
    start_server,
    stop_server,
    type_choice,
)

# Arm clock number `i`: starts at the next keydown/mousedown (in the page or in a chart's
# iframe), stops at the first frame where the signature of the chart in `sel` differs from now.
ARM = """([sel, start, i]) => {
""" + CHART_JS + """
  const sig = () => {
    const gd = chartIn(sel);
    if (!gd || !gd.data) return '';
    // positions too: a larger ε can rescale Z_norm's bins and leave every count as it was
    return gd.data.map(t => JSON.stringify([t.x0, t.dx, t.text, t.y ?? t.z ?? null]).slice(0, 600)).join('|');
  };
  const before = sig();
  if (before === '') throw new Error('no chart ' + sel);
  window.__t0 = window.__t0 || []; window.__t1 = window.__t1 || [];
  window.__t0[i] = null; window.__t1[i] = null;
  const go = () => { if (window.__t0[i] === null) window.__t0[i] = performance.now(); };
  // on the windows, capturing: before any listener of their documents can do work first
  for (const win of [window, ...Array.from(document.querySelectorAll('iframe'), f => f.contentWindow)]) {
    if (win) win.addEventListener(start, go, {capture: true, once: true});
  }
  const poll = () => {
    if (window.__t0[i] !== null && sig() !== before) { window.__t1[i] = performance.now(); return; }
    requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll);
}"""
MOVIE, STATS, CURVES = (f".st-key-{key}" for key in ("movie", "stats", "curves"))


# The bytes the live charts of a page fetched so far (figures sent by reference), over the network.
FETCHED_JS = """() => {
  let total = 0;
  for (const f of document.querySelectorAll('iframe')) {
    const w = f.contentWindow;
    if (!w || !w.performance) continue;
    for (const e of w.performance.getEntriesByType('resource')) {
      if (e.name.includes('/figs/')) total += e.transferSize;
    }
  }
  return total;
}"""


class Meter:
    """What the server sends a page (websocket message bytes, figure fetches) and the server's CPU."""

    def __init__(self, page: Page, pid: int) -> None:
        self.page, self.pid, self.ws_bytes = page, pid, 0
        page.on("websocket", lambda ws: ws.on("framereceived", self._count))

    def _count(self, payload: str | bytes) -> None:
        self.ws_bytes += len(payload)

    def cpu_s(self) -> float:
        """User + system CPU seconds of the server process so far (all its threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def now(self) -> tuple[int, int, float]:
        return self.ws_bytes, int(self.page.evaluate(FETCHED_JS)), self.cpu_s()


def serve(script: str | Path, log_name: str | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """``streamlit run`` a script (relative to the repository or absolute) on a free port.

    The server's output goes to tests/output/bench-<log_name>.log (default: the script's stem).
    """
    port = free_port()
    proc = start_server(ROOT / script, port, LOGS / f"bench-{log_name or Path(script).stem}.log")
    return proc, f"http://127.0.0.1:{port}"


def timed(
    page: Page,
    charts: list[str],
    action: Callable[[], Any],
    start: str = "keydown",
    prepare: Callable[[], Any] | None = None,
) -> list[float]:
    """Milliseconds from the action to the redraw of each chart in ``charts`` (CSS selectors)."""
    page.wait_for_function(IDLE_JS)
    if prepare is not None:
        prepare()
    for i, sel in enumerate(charts):  # one clock per chart, all armed before the action
        page.evaluate(ARM, [sel, start, i])
    action()
    ms = []
    for i in range(len(charts)):
        page.wait_for_function("(i) => window.__t1[i] !== null", arg=i, timeout=60_000)
        ms.append(float(page.evaluate("(i) => window.__t1[i] - window.__t0[i]", i)))
    page.wait_for_function(IDLE_JS)
    return ms


def choose_unit(page: Page, i: int) -> None:
    """Open the "Unit" select box and type the i-th choice (unit 2 … 13); Enter picks it."""
    type_choice(page, "v_unit", f"unit {2 + i % 12}")


def open_page(browser: Browser, url: str, meter: Callable[[Page], Any] | None = None) -> Page:
    """A 1440×900 page on ``url``, once a chart is drawn and the app is idle; ``meter`` is
    called with the page before it loads (to listen to its websocket: :class:`Meter`)."""
    page = browser.new_page(viewport=DESKTOP)
    if meter is not None:
        meter(page)
    page.goto(url)
    page.wait_for_function("() => { " + CHART_JS + " return !!chartIn('.stApp'); }", timeout=60_000)
    page.wait_for_function(IDLE_JS, timeout=60_000)
    return page


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--app", default="app.py",
                    help="the app to measure (another checkout's app.py, say); the floors stay this one's")
    args = ap.parse_args()
    n = args.repeats
    if n < 2:
        ap.error("--repeats must be at least 2 (the views seen before are the first ones)")
    # A run cache of its own, empty: the shared disk cache (bnviz.workers) keeps the runs of
    # earlier measurements, which would answer the retrain rows without training.
    os.environ["BNVIZ_CACHE_DIR"] = tempfile.mkdtemp(prefix="bnviz-bench-runs-")
    app, app_url = serve(args.app)
    floor, floor_url = serve("bench/floor_app.py")
    select, select_url = serve("bench/floor_select_app.py")
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            meters: dict[str, Meter] = {}
            page = open_page(browser, app_url, lambda p: meters.setdefault("app", Meter(p, app.pid)))
            fpage = open_page(browser, floor_url, lambda p: meters.setdefault("floor", Meter(p, floor.pid)))
            spage = open_page(browser, select_url)
            meter, fmeter = meters["app"], meters["floor"]
            floor_cpu: list[float] = []
            fslider = fpage.locator('[data-testid="stSlider"] input[type="range"]')

            # One change of each in turn, so that the ratios compare the same moments of a
            # shared machine, where two runs of this script minutes apart differ by 20–30 %.
            display, display_stats, floor_ms, select_ms = [], [], [], []
            costs: dict[str, list[tuple[int, int, float]]] = {"new": [], "seen": []}

            def display_change(i: int, seen: bool) -> tuple[float, float]:
                """Choose unit i's choice on the Explorer: the ms to the histograms and the
                statistics chart; its bytes and server CPU go to ``costs``."""
                page.bring_to_front()
                page.wait_for_function(IDLE_JS)
                choose_unit(page, i)
                before = meter.now()
                a, e = timed(page, [MOVIE, STATS], lambda: page.keyboard.press("Enter"))
                after = meter.now()
                costs["seen" if seen else "new"].append(
                    (after[0] - before[0], after[1] - before[1], 1000 * (after[2] - before[2])))
                return a, e

            for i in range(n):
                a, e = display_change(i, seen=False)
                display.append(a)
                display_stats.append(e)
                fpage.bring_to_front()
                cpu_before = fmeter.cpu_s()
                floor_ms.append(timed(fpage, [".stApp"], lambda: fpage.keyboard.press("ArrowRight"),
                                      prepare=fslider.focus)[0])  # fmt: skip
                floor_cpu.append(1000 * (fmeter.cpu_s() - cpu_before))
                spage.bring_to_front()
                select_ms.append(timed(spage, [".stApp"], lambda: spage.keyboard.press("Enter"),
                                       prepare=partial(choose_unit, spage, i))[0])  # fmt: skip
            fpage.close()
            spage.close()
            # back to views seen before (the units of the first changes, the newest first, so
            # that each differs from the one on screen): the server has their figures
            seen = [display_change(j, seen=True)[0] for j in range(min(n, 12) - 2, -1, -1)]
            page.bring_to_front()

            seed = page.locator(".st-key-s_seed input")

            def new_seed(i: int) -> None:  # every later value is new to the cache too
                seed.fill(str(100 + i))
                seed.press("Enter")
                # idle alone can be seen before the rerun starts: wait for the new seed in the URL
                page.wait_for_function(f"() => location.search.includes('seed={100 + i}&')")
                page.wait_for_function(IDLE_JS)

            eps = page.locator('.st-key-s_eps input[type="range"]')
            retrain, retrain_movie = [], []
            for i in range(n):  # 1e-5 → 1e-4 → … → 1 → back: each value a new Settings the first time
                key = "ArrowRight" if (i // 5) % 2 == 0 else "ArrowLeft"
                if i and i % 5 == 0:
                    new_seed(i)
                m, c = timed(page, [MOVIE, CURVES], partial(page.keyboard.press, key), prepare=eps.focus)
                retrain_movie.append(m)
                retrain.append(c)
            lr = page.locator('.st-key-s_lr input[type="range"]')
            retrain_both, retrain_both_movie = [], []
            for i in range(n):  # lr 0.05 → 0.02 → … ; a new seed first: nothing is cached
                key = "ArrowLeft" if (i // 5) % 2 == 0 else "ArrowRight"
                if i % 5 == 0:
                    new_seed(1000 + i)
                m, c = timed(page, [MOVIE, CURVES], partial(page.keyboard.press, key), prepare=lr.focus)
                retrain_both_movie.append(m)
                retrain_both.append(c)

            # the client-side scrubber: click a point of the live chart's step slider (or the
            # rail of Plotly's own slider, for an --app that draws the histograms with st.plotly_chart)
            in_iframe = page.locator(f"{MOVIE} iframe").count() > 0  # a live chart (else st.plotly_chart)
            parts = chart_frame(page, "movie") if in_iframe else page.locator(MOVIE)
            player = parts.locator("#scrub")
            rail = (player if player.count() else parts.locator(".slider-rail-rect").first).bounding_box()
            assert rail is not None
            scrub = []
            for i in range(n):
                x = rail["x"] + rail["width"] * (0.1 + 0.8 * ((i * 7) % 11) / 10)
                y = rail["y"] + rail["height"] / 2
                try:
                    scrub.append(timed(page, [MOVIE], partial(page.mouse.click, x, y), start="mousedown")[0])
                except PlaywrightTimeout:  # a click that moved nothing: say so, keep the other rows
                    print(f"  scrubber click {i + 1} at x = {x:.0f} redrew nothing within 60 s")
            if not scrub:
                scrub.append(float("nan"))
            page.close()
            browser.close()
    finally:
        for proc in (app, floor, select):
            stop_server(proc)

    runs = {"display": display, "display_seen": seen, "display_stats": display_stats,
            "retrain_movie": retrain_movie, "retrain": retrain, "retrain_both_movie": retrain_both_movie,
            "retrain_both": retrain_both,
            "floor": floor_ms, "select_floor": select_ms, "scrub": scrub}  # fmt: skip
    med = {k: statistics.median(v) for k, v in runs.items()}
    r = {k: med[k] / med["floor"] for k in med}
    print(f"median of {n}, control change → updated chart (ms); load average {os.getloadavg()[0]:.1f}")
    print(f"  (a) display-only (Unit) → histograms       {med['display']:6.0f}   = {r['display']:.2f}× floor")
    print(f"  (e) display-only (Unit) → statistics chart {med['display_stats']:6.0f}   "
          f"= {r['display_stats']:.2f}× floor")
    for key, what in (("retrain", "(b) retrain, ε slider (BN; baseline cached)"),
                      ("retrain_both", "(f) retrain, lr slider (BN + baseline)")):
        print(f"  {what:43s}{med[key + '_movie']:6.0f} to the histograms, {med[key]:6.0f} to the curves "
              f"= {r[key]:.2f}× floor")
    print(f"  (c) floor (one slider, one chart)          {med['floor']:6.0f}")
    print(f"  (g) select floor (select box, fragment, one chart) {med['select_floor']:6.0f}   "
          f"= {r['select_floor']:.2f}× floor")
    print(f"  (d) client-side step scrubber              {med['scrub']:6.0f}")
    print(f"  (a') display-only, back to a view seen before → histograms {med['display_seen']:6.0f}   "
          f"= {r['display_seen']:.2f}× floor")
    for what, rows in (("(a) per display-only rerun, a new view", costs["new"]),
                       ("(a') per display-only rerun, a view seen before", costs["seen"])):
        ws, got, cpu = (statistics.median(c) for c in zip(*rows))
        print(f"  {what}: websocket {ws / 1000:.1f} kB, figures fetched {got / 1000:.1f} kB, "
              f"server CPU {cpu:.0f} ms")
        print(f"    all (websocket bytes, fetched bytes, CPU ms): {[(w, g, round(c)) for w, g, c in rows]}")
    print(f"  (c) floor: server CPU {statistics.median(floor_cpu):.0f} ms per rerun "
          f"(all: {[round(x) for x in floor_cpu]})")
    for k, v in runs.items():
        print(f"  all {k}: {[round(x) for x in v]}")


if __name__ == "__main__":
    main()

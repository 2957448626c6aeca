"""What one Explorer page load costs: CPU seconds of the server and of each kind of Chromium
process, from the request to the page's first idle moment.

    .venv/bin/python bench/page_load.py              # 4 loads, each in a fresh browser context
    .venv/bin/python bench/page_load.py --loads 6 --url "/?dataset=digits"
    .venv/bin/python bench/page_load.py --app ../other-checkout/app.py

Starts the real app (``app.py``) on a free port and opens the URL ``--loads`` times with
Debian's headless Chromium (``bnviz.app.harness``), each load in a new browser context (no
HTTP cache, as a first visit and as every browser test). For each load it prints the wall
time until the page is idle (``harness.open_app``), when each of the Explorer's charts was
first drawn (ms after the navigation started: the histograms, statistics, curves and
boundaries; "–" for a chart the page does not show), and the CPU seconds (user + system, from
``/proc``) that each process spent meanwhile: the Streamlit server (its training workers
included), Chromium's browser, renderer, GPU and utility processes. The first load also
pays the server's first run of the page. Run it on a quiet machine: the load average is
printed first and last.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from bnviz.app.harness import (
    CHART_JS,
    DESKTOP,
    LOGS,
    ROOT,
    free_port,
    launch_chromium,
    open_app,
    start_server,
    stop_server,
)

TICK = os.sysconf("SC_CLK_TCK")
CHARTS = {"movie": "histograms", "stats": "statistics", "curves": "curves", "boundaries": "boundaries"}
# Run in the page before its own scripts (an init script; not in its iframes): notes in
# window.__drawnAt when each chart first holds data, looking at every animation frame.
DRAWN_JS = """(() => {
  if (window !== window.top) return;
""" + CHART_JS + """
  const keys = """ + repr(list(CHARTS)) + """;
  window.__drawnAt = {};
  const look = () => {
    for (const key of keys) {
      if (window.__drawnAt[key] !== undefined) continue;
      const gd = chartIn('.st-key-' + key);
      if (gd && gd.data && gd.data.length) window.__drawnAt[key] = Math.round(performance.now());
    }
    if (keys.some((key) => window.__drawnAt[key] === undefined)) requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
})();"""


def cpu_by_process() -> dict[int, tuple[str, float]]:
    """Every bnviz-related process now: pid -> (kind, CPU seconds so far)."""
    out: dict[int, tuple[str, float]] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
            cmd = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
        except OSError:
            continue
        if "chromium" in cmd:
            kind = "chromium " + (cmd.split("--type=")[1].split()[0] if "--type=" in cmd else "browser")
        elif "streamlit" in cmd or "multiprocessing" in cmd:
            kind = "server"
        else:
            continue
        out[int(pid)] = (kind, (int(stat[11]) + int(stat[12])) / TICK)
    return out


def spent(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds per kind of process between two readings (new processes count from 0)."""
    by_kind: dict[str, float] = {}
    for pid, (kind, seconds) in after.items():
        by_kind[kind] = by_kind.get(kind, 0.0) + seconds - before.get(pid, (kind, 0.0))[1]
    return by_kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=4, help="page loads, each in a new context")
    parser.add_argument("--url", default="/", help="the path and query to open")
    parser.add_argument("--app", default=str(ROOT / "app.py"), help="the app to serve (another checkout's)")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    port = free_port()
    server = start_server(Path(args.app), port, LOGS / "bench-page-load.log")
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            for i in range(args.loads):
                context = browser.new_context(viewport=DESKTOP)
                context.add_init_script(script=DRAWN_JS)
                page = context.new_page()
                before, t = cpu_by_process(), time.perf_counter()
                open_app(page, f"http://127.0.0.1:{port}{args.url}")
                wall = time.perf_counter() - t
                cpu = spent(before, cpu_by_process())
                drawn = page.evaluate("() => window.__drawnAt")
                shown = ", ".join(f"{name} {drawn.get(key, '–')}" for key, name in CHARTS.items())
                parts = "  ".join(f"{k} {v:.2f}" for k, v in sorted(cpu.items()) if v >= 0.005)
                print(f"load {i + 1}: {wall:5.2f} s to idle; first drawn at (ms): {shown}; "
                      f"CPU s: {parts}; all {sum(cpu.values()):.2f}", flush=True)
                context.close()
    finally:
        stop_server(server)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""How fast the Explorer answers, measured in the real app in headless Chromium.

    .venv/bin/python bench/app_latency.py [--repeats 9]

Starts ``streamlit run app.py`` and ``streamlit run bench/floor_app.py`` (a one-slider,
one-chart page) on free ports, and prints the median time from a control change to
the updated chart, in whole milliseconds:

  (a) display-only: the Explorer's "Unit" select box (a fragment rerun, no training);
  (b) retrain: the ε slider in the sidebar (trains the BN run and the no-BN baseline);
  (c) floor: the floor page's slider;

the ratios (a)/(c) and (b)/(c), and (d) the client-side step scrubber: one click on
the Plotly slider under the histograms until the new frame is drawn (no server).

The clock starts in the page at the key press / mouse press (a capture listener) and
stops at the first animation frame in which the chart's data differs. Retrain
settings are cycled through values not seen before, so the cache never answers.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("BNVIZ_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip
IDLE = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector('[data-testid="stStatusWidget"]')
    && !document.querySelector('[data-testid="stSkeleton"]');
}"""
# Arm a clock: starts at the next keydown/mousedown, stops at the first frame where the
# signature of chart number `idx` differs from now.
ARM = """([idx, start]) => {
  const sig = () => {
    const gd = document.querySelectorAll('.js-plotly-plot')[idx];
    if (!gd || !gd.data) return '';
    return gd.data.map(t => JSON.stringify(t.y ?? t.z ?? null).slice(0, 400)).join('|');
  };
  const before = sig();
  window.__t0 = null; window.__t1 = null;
  const go = () => { if (window.__t0 === null) window.__t0 = performance.now(); };
  document.addEventListener(start, go, {capture: true, once: true});
  const poll = () => {
    if (window.__t0 !== null && sig() !== before) { window.__t1 = performance.now(); return; }
    requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll);
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(script: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.1)  # the server is starting
    proc.kill()
    raise RuntimeError(f"{script} did not start")


def timed(page: Page, chart: int, action, start: str = "keydown", prepare=None) -> float:
    page.wait_for_function(IDLE)
    if prepare is not None:
        prepare()
    page.evaluate(ARM, [chart, start])
    action()
    page.wait_for_function("() => window.__t1 !== null", timeout=60_000)
    ms = page.evaluate("() => window.__t1 - window.__t0")
    page.wait_for_function(IDLE)
    return float(ms)


def open_page(browser, url: str) -> Page:
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(url)
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    page.wait_for_function(IDLE, timeout=60_000)
    return page


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=9)
    n = ap.parse_args().repeats
    app, app_url = serve("app.py")
    floor, floor_url = serve("bench/floor_app.py")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = open_page(browser, app_url)

            unit = page.locator(".st-key-v_unit input")
            display = []
            for i in range(n):
                def choose(i: int = i) -> None:
                    unit.click()
                    page.keyboard.type(f"unit {2 + i % 12}")
                    page.get_by_role("option", name=f"unit {2 + i % 12}", exact=True).wait_for()
                display.append(timed(page, 0, lambda: page.keyboard.press("Enter"), prepare=choose))

            eps = page.locator('.st-key-s_eps input[type="range"]')
            retrain = []
            for i in range(n):  # 1e-5 → 1e-4 → … → 1 → back: each value a new Settings the first time
                key = "ArrowRight" if (i // 5) % 2 == 0 else "ArrowLeft"
                seed_key = page.locator(".st-key-s_seed input")
                if i and i % 5 == 0:  # new seed: every later eps value is new to the cache too
                    with_seed = str(100 + i)
                    seed_key.fill(with_seed)
                    seed_key.press("Enter")
                    page.wait_for_function(IDLE)
                retrain.append(timed(page, 1, lambda key=key: page.keyboard.press(key), prepare=eps.focus))

            # the client-side scrubber: click a point of the Plotly slider rail
            rail = page.locator(".js-plotly-plot .slider-rail-rect").first.bounding_box()
            assert rail is not None
            scrub = []
            for i in range(n):
                x = rail["x"] + rail["width"] * (0.1 + 0.8 * ((i * 7) % 11) / 10)
                y = rail["y"] + rail["height"] / 2
                scrub.append(timed(page, 0, lambda x=x, y=y: page.mouse.click(x, y), start="mousedown"))
            page.close()

            fpage = open_page(browser, floor_url)
            fslider = fpage.locator('[data-testid="stSlider"] input[type="range"]')
            floor_ms = [timed(fpage, 0, lambda: fpage.keyboard.press("ArrowRight"), prepare=fslider.focus)
                        for _ in range(n)]  # fmt: skip
            browser.close()
    finally:
        for proc in (app, floor):
            proc.terminate()
            proc.wait()

    runs = {"display": display, "retrain": retrain, "floor": floor_ms, "scrub": scrub}
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f"median of {n}, control change → updated chart (ms)")
    ratio = {k: med[k] / med["floor"] for k in med}
    print(f"  (a) display-only (Unit select box)     {med['display']:6.0f}   = {ratio['display']:.2f}× floor")
    print(f"  (b) retrain (ε slider, BN + baseline)  {med['retrain']:6.0f}   = {ratio['retrain']:.2f}× floor")
    print(f"  (c) floor (one slider, one chart)      {med['floor']:6.0f}")
    print(f"  (d) client-side step scrubber          {med['scrub']:6.0f}")
    for k, v in runs.items():
        print(f"  all {k}: {[round(x) for x in v]}")


if __name__ == "__main__":
    main()

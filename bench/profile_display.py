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
3. ``--timeline``: instead of 1 and 2, the timeline of each unit change, from the key press
   (ms, medians over the changes): the rerun request leaving on the websocket, the
   server's first answer (the rerun started), the histograms' delta arriving, the live
   chart getting its arguments, fetching its figure, ``Plotly.react`` (start and time),
   the redraw seen (``bench/app_latency.py``'s clock), then the statistics chart and the
   end of the run; and the main thread's long tasks (> 50 ms) before the redraw. The
   first half of the changes go to units not seen before, the rest back to those.
   ``--app`` measures another checkout's app.py.
4. ``--plotly``: instead, the drawing alone in a bare page: the histogram figure of four units
   (default settings), the main thread's CPU time (a Chromium trace) and wall time per
   ``Plotly.react`` from one unit's figure to the next (what a unit change draws) and per
   ``Plotly.animate`` of one frame (a scrubber step), interleaved, for the figure as built,
   the same figure drawn by the live chart's canvas (``canvaschart.js``, as the Explorer
   draws it: ``CanvasChart.react`` of the unit's figure, of the frame), without its images
   (the decision boundary and the training points), and with two other
   drawings of the same data: each histogram as one filled step line instead of bars, and
   that with the mini-batch's rug as one line trace (a segment per example) instead of a
   marker per example. ``--rounds`` rounds of six calls each (default 3; the variants
   differ by less than three rounds' noise).
"""

from __future__ import annotations

import argparse
import base64
import collections
import copy
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from app_latency import ARM, MOVIE, choose_unit, open_page, serve  # a sibling: bench/ is sys.path[0]
from playwright.sync_api import Page, sync_playwright
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from bnviz import Settings
from bnviz.app.harness import DESKTOP, IDLE_JS, launch_chromium, rerun, stop_server
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


# In every frame, before its own scripts: a log (window.__tl) of epoch-ms events. The page:
# websocket sends and receipts (their bytes, decoded here), key and mouse presses, long
# tasks. A live chart's iframe: its render messages, fetches and Plotly calls.
TIMELINE_JS = """(() => {
  const now = () => performance.timeOrigin + performance.now();
  const log = (window.__tl = window.__tl || []);
  if (window === window.top) {
    const Orig = window.WebSocket;
    function WS(...args) {
      const ws = new Orig(...args);
      ws.addEventListener('message', (e) => log.push({t: now(), what: 'recv', data: e.data}));
      const send = ws.send.bind(ws);
      ws.send = (d) => { log.push({t: now(), what: 'send'}); send(d); };
      return ws;
    }
    WS.prototype = Orig.prototype;
    for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) WS[k] = Orig[k];
    window.WebSocket = WS;
    for (const ev of ['keydown', 'mousedown']) {
      document.addEventListener(ev, () => log.push({t: now(), what: ev}), true);
    }
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        log.push({t: performance.timeOrigin + e.startTime, what: 'longtask', ms: e.duration});
      }
    }).observe({type: 'longtask'});
    return;
  }
  const where = () => {
    try {
      const el = window.frameElement && window.frameElement.closest('[class*="st-key-"]');
      return el ? [...el.classList].find((c) => c.startsWith('st-key-')).slice(7).replace(/_live$/, '') : '?';
    } catch (e) { return '?'; }
  };
  window.addEventListener('message', (e) => {
    if (e.data && e.data.type === 'streamlit:render') log.push({t: now(), what: 'render', where: where()});
  }, true);
  const fetch0 = window.fetch.bind(window);
  window.fetch = async (...a) => {
    const t0 = now();
    const r = await fetch0(...a);
    log.push({t: t0, what: 'fetch', ms: now() - t0, where: where()});
    return r;
  };
  let P;
  Object.defineProperty(window, 'Plotly', {configurable: true, get() { return P; }, set(v) {
    P = v;
    for (const name of ['react', 'animate']) {
      const orig = v[name];
      v[name] = function (...a) {
        const t0 = now();
        const out = orig.apply(this, a);
        Promise.resolve(out).then(() => {
          log.push({t: t0, what: name, ms: now() - t0, where: where()});
          requestAnimationFrame(() => log.push({t: now(), what: name + ' painted', where: where()}));
        }, () => {});
        return out;
      };
    }
  }});
})();"""
# The log since epoch-ms t0, received websocket messages as base64.
LOG_JS = """(t0) => (window.__tl || []).filter((e) => e.t >= t0).map((e) => {
  if (!(e.data instanceof ArrayBuffer)) return {...e, data: undefined};
  let s = '';
  const b = new Uint8Array(e.data);
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode.apply(null, b.subarray(i, i + 8192));
  return {...e, data: btoa(s)};
})"""


def _message(data: str) -> str:
    """What a ForwardMsg is: its type, and for a delta the element (a live chart: its key)."""
    msg = ForwardMsg.FromString(base64.b64decode(data))
    kind = msg.WhichOneof("type") or "?"
    if kind != "delta":
        return kind
    delta = msg.delta
    part = delta.WhichOneof("type")
    if part != "new_element":
        return f"delta:{part}"
    el = delta.new_element
    what = el.WhichOneof("type")
    if what == "component_instance":
        return "chart:" + el.component_instance.id.rsplit("-", 1)[-1].removesuffix("_live")
    return f"delta:{what}"


def _events(page: Page, t0: float) -> list[dict]:
    """Every frame's log since t0 (epoch ms), in time order, websocket messages decoded."""
    out = []
    for frame in page.frames:
        try:
            out += frame.evaluate(LOG_JS, t0)
        except Exception:  # a frame gone meanwhile
            continue
    for e in out:
        if e.get("data"):
            e["msg"] = _message(e.pop("data"))
    return sorted(out, key=lambda e: e["t"])


def _one_change(page: Page, i: int) -> dict[str, float]:
    """Unit change i: the time of each step from the key press (ms)."""
    page.wait_for_function(IDLE_JS)
    choose_unit(page, i)
    t_start = page.evaluate("() => performance.timeOrigin + performance.now()")
    page.evaluate(ARM, [MOVIE, "keydown", 0])
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.__t1[0] !== null", timeout=60_000)
    seen = page.evaluate("() => performance.timeOrigin + window.__t1[0]")
    page.wait_for_function(IDLE_JS)
    time.sleep(0.3)  # the last long tasks and paints reach the log
    ev = _events(page, t_start)
    key = next(e["t"] for e in ev if e["what"] == "keydown")

    def first(pred, default: float = float("nan")) -> float:
        return next((e["t"] - key for e in ev if e["t"] >= key and pred(e)), default)

    def took(what: str, where: str) -> float:
        return next((e["ms"] for e in ev if e["t"] >= key and e["what"] == what and e.get("where") == where),
                    float("nan"))

    row = {
        "request sent (websocket)": first(lambda e: e["what"] == "send"),
        "rerun started (first message back)": first(lambda e: e["what"] == "recv"),
        "histograms' delta received": first(lambda e: e.get("msg") == "chart:movie"),
        "histograms' chart got its arguments": first(lambda e: e["what"] == "render"
                                                     and e["where"] == "movie"),
        "histograms' figure fetched (start)": first(lambda e: e["what"] == "fetch" and e["where"] == "movie"),
        "  fetch took": took("fetch", "movie"),
        "Plotly.react (start)": first(lambda e: e["what"] == "react" and e["where"] == "movie"),
        "  Plotly.react took": took("react", "movie"),
        "histograms redrawn (bench clock)": seen - key,
        "statistics' delta received": first(lambda e: e.get("msg") == "chart:stats"),
        "statistics Plotly.react end": first(lambda e: e["what"] == "react" and e["where"] == "stats")
        + took("react", "stats"),
        "script finished (message)": first(lambda e: e.get("msg") == "script_finished"),
        "long tasks before the redraw (sum)": sum(e["ms"] for e in ev if e["what"] == "longtask"
                                                  and key <= e["t"] < seen),
        "messages received before the histograms' delta": float(sum(
            1 for e in ev if e["what"] == "recv" and key <= e["t"] < key + first(
                lambda e: e.get("msg") == "chart:movie", 1e9))),
    }
    return row


def timeline(changes: int, app_path: str) -> None:
    app, url = serve(app_path, log_name="timeline")
    rows: dict[str, list[dict[str, float]]] = {"new": [], "seen": []}
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            ctx = browser.new_context(viewport=DESKTOP)
            ctx.add_init_script(TIMELINE_JS)
            page = ctx.new_page()
            page.goto(url)
            page.wait_for_function(IDLE_JS, timeout=60_000)
            half = max(changes // 2, 1)
            for i in range(half):
                rows["new"].append(_one_change(page, i))
            for i in range(half - 2, -1, -1):  # back to units seen before, each differing from the one shown
                rows["seen"].append(_one_change(page, i))
            browser.close()
    finally:
        stop_server(app)
    print("A unit change, from the key press (ms; median, then every change):")
    for kind, rs in rows.items():
        if not rs:
            continue
        print(f"  {'a unit not seen before' if kind == 'new' else 'a unit seen before'} ({len(rs)} changes)")
        for name in rs[0]:
            vals = [r[name] for r in rs]
            shown = [None if v != v else round(v) for v in vals]  # NaN: not seen
            print(f"    {name:50s} {statistics.median(vals):7.1f}   {shown}")


PLOTLY_PAGE = '<!doctype html><html><head><meta charset="utf-8"><script src="plotly.min.js"></script>' \
    '<script src="canvaschart.js"></script></head>' \
    '<body><div id="chart" style="width:1200px"></div></body></html>'
# Install the figures (a variant of them) and draw the first: window.__react(i) and
# window.__animate(i) then time one call each (to the next frame).
PLOTLY_SETUP = """async ([figs, variant]) => {
  const isObj = (x) => x !== null && typeof x === 'object' && !Array.isArray(x);
  const merged = (base, over) => {  // as livechart.js applies a frame
    if (isObj(over)) {
      if (!isObj(base)) return over;
      const o = {...base};
      for (const k of Object.keys(over)) o[k] = merged(base[k], over[k]);
      return o;
    }
    if (Array.isArray(over) && Array.isArray(base) && over.every(isObj)) {
      const o = base.slice();
      over.forEach((it, i) => { o[i] = merged(base[i], it); });
      return o;
    }
    return over;
  };
  const atFrame = (data0, layout, fr) => {  // as livechart.js shows a frame
    const data = data0.slice();
    fr.data.forEach((t, i) => { data[fr.traces[i]] = merged(data[fr.traces[i]], t); });
    return {data, layout: fr.layout ? merged(layout, fr.layout) : layout};
  };
  // the last frame, as the Explorer shows a new figure
  const shown = (f) => atFrame(f.data, f.layout, f.frames[f.frames.length - 1]);
  const figures = figs.map((f0) => {
    const f = JSON.parse(JSON.stringify(f0));
    if (variant === 'noimages') { delete f.layout.images; for (const fr of f.frames) delete fr.layout; }
    return f;
  });
  const paint = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  const config = {displaylogo: false, responsive: true};
  const gd = document.getElementById('chart');
  const jump = {mode: 'immediate', frame: {duration: 0, redraw: false}, transition: {duration: 0}};
  const canvas = variant === 'canvas';  // drawn by the live chart's canvas, as the Explorer does
  window.__react = async (i) => {
    const t0 = performance.now();
    const s = shown(figures[i % figures.length]);
    if (canvas) CanvasChart.react(gd, {data: s.data, layout: s.layout});
    else await Plotly.react(gd, {data: s.data, layout: s.layout, frames: [], config});
    await paint();
    return performance.now() - t0;
  };
  window.__animate = async (i) => {
    const t0 = performance.now();
    const f = figures[0];
    const fr = f.frames[(i * 7) % f.frames.length];
    if (canvas) {  // as livechart.js applies a frame to a canvas
      CanvasChart.react(gd, atFrame(gd.data, gd.layout, fr));
    } else {
      await Plotly.animate(gd, fr, jump);
    }
    await paint();
    return performance.now() - t0;
  };
  const s = shown(figures[0]);
  if (canvas) CanvasChart.react(gd, {data: s.data, layout: s.layout});
  else await Plotly.newPlot(gd, {data: s.data, layout: s.layout, config});
  await paint();
}"""


def _main_thread_ms(trace: bytes) -> float:
    """CPU milliseconds of the renderer's main thread in a Chromium trace (its top-level tasks)."""
    events = json.loads(trace)["traceEvents"]
    main = {(e["pid"], e["tid"]) for e in events
            if e.get("name") == "thread_name" and e["args"].get("name") == "CrRendererMain"}
    return sum(e.get("tdur", 0) for e in events if (e["pid"], e["tid"]) in main and e.get("ph") == "X"
               and e.get("name") in ("ThreadControllerImpl::RunTask", "RunTask")) / 1000


def _decoded(t: Any) -> np.ndarray:
    """A figure value (a typed-array spec or a list) as a float64 array."""
    if isinstance(t, dict):
        return np.frombuffer(base64.b64decode(t["bdata"]), dtype=t["dtype"]).astype(np.float64)
    return np.asarray(t, dtype=np.float64)


def _each_trace(fig: dict, which: Callable[[dict], bool], change: Callable[[dict, bool], None]) -> dict:
    """A copy of ``fig`` whose traces for which ``which`` holds, in its data and in every
    frame, went through ``change(trace, in_data)``."""
    fig = copy.deepcopy(fig)
    chosen = {i for i, t in enumerate(fig["data"]) if which(t)}
    for i in chosen:
        change(fig["data"][i], True)
    for fr in fig["frames"]:
        for j, i in enumerate(fr["traces"]):
            if i in chosen:
                change(fr["data"][j], False)
    return fig


def _step_lines(fig: dict) -> dict:
    """``fig`` with each bar trace (bin 0's centre ``x0``, width ``dx``, counts ``y``) drawn as
    one filled line along the bins' tops: one SVG path a histogram instead of one per bar."""
    def change(t: dict, in_data: bool) -> None:
        x0, dx, y = t.pop("x0"), t.pop("dx"), _decoded(t.pop("y"))
        t.pop("width", None)
        t["type"] = "scatter"
        t["x"] = charts._typed(x0 - dx / 2 + dx * np.arange(len(y) + 1))
        t["y"] = charts._typed(np.append(y, y[-1] if len(y) else 0.0))
        if in_data:
            t.update(mode="lines", line={"shape": "hv", "width": 0}, fill="tozeroy",
                     fillcolor=t.pop("marker")["color"])
    return _each_trace(fig, lambda t: t["type"] == "bar", change)


def _rug_lines(fig: dict) -> dict:
    """``fig`` with the mini-batch's ticks (a marker per example) drawn as one line trace, a
    vertical segment per example (NaN between segments)."""
    def change(t: dict, in_data: bool) -> None:
        x = _decoded(t["x"])
        t["x"] = charts._typed(np.repeat(x, 3) * np.tile([1.0, 1.0, np.nan], len(x)))
        if in_data:
            y0 = float(_decoded(t["y"])[0])
            t["y"] = charts._typed(np.tile([1.6 * y0, 0.4 * y0, np.nan], len(x)))
            t["mode"] = "lines"
            t["line"] = {"color": t.pop("marker")["color"], "width": 1.5}
    return _each_trace(fig, lambda t: t.get("name") == "mini-batch", change)


def plotly_cost(rounds: int = 3, calls: int = 6) -> None:
    from bnviz.app import livechart

    run = train(Settings())
    k = len(run.ckpt_steps) - 1
    built = [charts.movie_spec(run, 0, u, k) for u in range(4)]
    variants = {  # name -> (the figures, the page's variant)
        "as built (images in the layout)": (built, ""),
        "drawn on a canvas (livechart/canvaschart.js)": (built, "canvas"),
        "the same without its images": (built, "noimages"),
        "histograms as filled step lines": ([_step_lines(f) for f in built], ""),
        "those, and the rug as one line trace": ([_rug_lines(_step_lines(f)) for f in built], ""),
    }
    out: dict[str, dict[str, list[tuple[float, float]]]] = {v: {"react": [], "animate": []} for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "index.html").write_text(PLOTLY_PAGE)
        shutil.copyfile(livechart.served_dir() / "plotly.min.js", Path(tmp) / "plotly.min.js")
        shutil.copyfile(livechart.served_dir() / "canvaschart.js", Path(tmp) / "canvaschart.js")
        with sync_playwright() as p:
            browser = launch_chromium(p)
            pages = {}
            for name, (figs, variant) in variants.items():
                pages[name] = page = browser.new_page(viewport=DESKTOP)
                page.goto((Path(tmp) / "index.html").as_uri())
                page.evaluate(PLOTLY_SETUP, [figs, variant])
                page.evaluate("() => window.__react(1)")
            for r in range(rounds):  # interleaved: a busy moment slows every variant alike
                for name, page in pages.items():
                    page.bring_to_front()
                    for what in ("react", "animate"):
                        browser.start_tracing(page=page, categories=["toplevel",
                                                                     "disabled-by-default-devtools.timeline"])
                        wall = [page.evaluate(f"(i) => window.__{what}(i)", 2 + r * calls + i)
                                for i in range(calls)]
                        cpu = _main_thread_ms(browser.stop_tracing()) / calls
                        out[name][what].append((cpu, statistics.median(wall)))
            browser.close()
    print(f"The histogram figure in a bare page, Plotly and the canvas (ms per call, median of {rounds} "
          f"rounds of {calls}; main-thread CPU / wall; load average {os.getloadavg()[0]:.1f}):")
    for name, rows in out.items():
        cells = [f"{what} {statistics.median(c for c, _ in v):5.1f} / "
                 f"{statistics.median(w for _, w in v):5.1f}" for what, v in rows.items()]
        print(f"  {name:52s} " + "   ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--changes", type=int, default=6)
    ap.add_argument("--timeline", action="store_true")
    ap.add_argument("--plotly", action="store_true")
    ap.add_argument("--rounds", type=int, default=3, help="--plotly: rounds of six calls per variant")
    ap.add_argument("--app", default="app.py")
    args = ap.parse_args()
    if args.timeline:
        timeline(args.changes, args.app)
        return
    if args.plotly:
        plotly_cost(args.rounds)
        return
    python_cost()
    browser_profile(args.changes)


if __name__ == "__main__":
    main()

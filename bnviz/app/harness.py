"""Driving the real app: ``streamlit run`` on a free port, headless Chromium, and waits that
never sleep.

The browser tests (``tests/browser``), the speed and load scripts (``bench/``) and the
screenshot tool (``tools/screenshots.py``) all start and drive the app through this module,
so they agree on what "started", "idle" and "the rerun is done" mean.

Streamlit marks its root ``[data-testid="stApp"]`` with ``data-test-script-state``
("initial", "running", "rerunRequested", "notRunning"). A control change is done when a
rerun was seen to start *and* the app is back to "notRunning" with no status widget and
no skeleton. :func:`rerun` arms a MutationObserver before the action so a fast rerun
cannot slip past unseen.

Playwright is imported for type checking only: the functions take the caller's page or
Playwright object, so importing :mod:`bnviz.app` never needs Playwright installed.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, FrameLocator, Page, Playwright, ViewportSize

# The checkout this bnviz lives in (an editable install): app.py, tests/, bench/.
ROOT = Path(__file__).resolve().parents[2]
# Server logs of the tests, benches and tools (git-ignored).
LOGS = ROOT / "tests" / "output"

CHROMIUM = os.environ.get("BNVIZ_CHROMIUM", "/usr/bin/chromium")
# Debian's Chromium, headless in a container: no sandbox, no GPU, nothing phoning home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# The two screens a class uses: a laptop and a projector.
DESKTOP: ViewportSize = {"width": 1440, "height": 900}
PROJECTOR: ViewportSize = {"width": 1280, "height": 720}
# The projector at 150 % browser zoom: Chromium zoomed lays the page out in 1280/1.5 × 720/1.5
# CSS pixels at a device pixel ratio of 1.5 (window.innerWidth 853, devicePixelRatio 1.5), which
# is this viewport with ``device_scale_factor=ZOOM_SCALE``. A device scale factor alone keeps
# 1280 CSS pixels: it only sharpens the picture.
ZOOM_SCALE = 1.5
PROJECTOR_ZOOMED: ViewportSize = {"width": round(1280 / ZOOM_SCALE), "height": round(720 / ZOOM_SCALE)}

# An upper bound on a server's start, not a wait: start_server returns as soon as the
# server answers. BNVIZ_START_TIMEOUT (seconds) raises it on a slow machine.
START_TIMEOUT_S = float(os.environ.get("BNVIZ_START_TIMEOUT", "60"))
HEALTH_POLL_S = 0.1  # between two requests to a server that is starting
TIMEOUT_MS = 60_000  # the longest a page may take to finish a run


def missing_chromium() -> str | None:
    """Why the browser cannot be launched (no Chromium at :data:`CHROMIUM`), or None."""
    if os.path.exists(CHROMIUM):
        return None
    return (
        f"no Chromium at {CHROMIUM}: install Debian's with `sudo apt-get install chromium` "
        "(or point BNVIZ_CHROMIUM at one)"
    )


def launch_chromium(playwright: Playwright) -> Browser:
    """Headless Chromium with :data:`CHROMIUM_ARGS` (Playwright's sync API)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


# --------------------------------------------------------------------------- the server


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on at the moment."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    script: str | Path, port: int, log: Path, timeout: float = START_TIMEOUT_S
) -> subprocess.Popen[bytes]:
    """``streamlit run`` a script headless on 127.0.0.1:port, its output to ``log``.

    Returns once ``/_stcore/health`` answers; raises (and kills the server) if the server
    exits first or has not answered within ``timeout`` seconds.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(script),
        "--server.headless", "true", "--server.port", str(port),
        "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    with log.open("wb") as out:  # the server writes to its own copy of the descriptor
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/_stcore/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return proc
        except (OSError, http.client.HTTPException):
            pass  # not listening yet, or not healthy yet
        time.sleep(HEALTH_POLL_S)  # polling a server that is starting, not synchronising the app
    stop_server(proc, grace=0)
    raise RuntimeError(f"streamlit did not answer {url} within {timeout:g} s; see {log}")


def stop_server(proc: subprocess.Popen[bytes], grace: float = 10) -> None:
    """Stop a server from :func:`start_server`: terminate, kill after ``grace`` seconds, reap."""
    if grace > 0:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            pass
    proc.kill()
    proc.wait()


# --------------------------------------------------------------------------- waiting on a page

# What the page is doing: its script's state, Streamlit's status widget ("Running…") and
# skeletons, the titles of the live charts (bnviz.app.livechart, each in an iframe) that have
# not drawn the last figure they were sent (``livechart.busy()`` is a chart's own report),
# and whether the run an action caused was seen (``window.__bnvizSawRun``, see ARM_JS).
PAGE_STATE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  return {sawRun: window.__bnvizSawRun, script: app ? app.getAttribute('data-test-script-state') : null,
          status: status ? status.textContent : null,
          skeletons: document.querySelectorAll('[data-testid="stSkeleton"]').length,
          busyCharts: Array.from(document.querySelectorAll('iframe[src*="livechart"]'))
            .filter(f => !f.contentWindow || !f.contentWindow.livechart || f.contentWindow.livechart.busy())
            .map(f => f.title)};
}"""
# Idle: the script has finished, and every live chart has drawn the last figure it was sent.
IDLE_JS = f"""() => {{
  const p = ({PAGE_STATE_JS})();
  return p.script === 'notRunning' && p.status === null && p.skeletons === 0 && p.busyCharts.length === 0;
}}"""
# Resolves after two frames: React's effects (a chart's new figure is posted from one)
# have run by then.
FRAMES_JS = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"

# Sets ``window.__bnvizSawRun`` once a script run starts (or starts and ends) from now on.
# It watches the whole document, so an app element React replaces is watched too.
ARM_JS = """() => {
  window.__bnvizSawRun = false;
  window.__bnvizSentAtArm = window.__bnvizSent;
  if (window.__bnvizObserver) window.__bnvizObserver.disconnect();
  // A run that starts and ends between two callbacks shows only in a record's oldValue.
  window.__bnvizObserver = new MutationObserver((records) => {
    for (const r of records) {
      if (r.oldValue !== 'notRunning' || r.target.getAttribute('data-test-script-state') !== 'notRunning') {
        window.__bnvizSawRun = true;
      }
    }
  });
  window.__bnvizObserver.observe(document.documentElement, {
    subtree: true, attributes: true, attributeOldValue: true, attributeFilter: ['data-test-script-state'],
  });
}"""
# For a page that runs it before its own scripts (``BrowserContext.add_init_script``): counts
# the messages the app's websocket sends (``__bnvizSent``) and those received since the last
# one sent, and notes when the last arrived. A run too short for React to ever draw the
# "running" state leaves no trace in the page; its messages still arrive.
COUNT_MESSAGES_JS = """(() => {
  const Socket = window.WebSocket;
  if (!Socket || Socket.__bnvizCounted) return;
  window.__bnvizSent = 0;
  window.__bnvizReceivedSinceSend = 0;
  window.__bnvizLastMessage = 0;
  const send = Socket.prototype.send;
  Socket.prototype.send = function (data) {
    window.__bnvizSent += 1;
    window.__bnvizReceivedSinceSend = 0;
    return send.call(this, data);
  };
  class Counted extends Socket {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', () => {
        window.__bnvizReceivedSinceSend += 1;
        window.__bnvizLastMessage = performance.now();
      });
    }
  }
  Counted.__bnvizCounted = true;
  window.WebSocket = Counted;
})();"""
# How long the websocket must have been quiet before answered messages count as a finished
# run that ARM_JS did not see: a run's messages come in one burst, and in a longer run React
# draws the "running" state, which IDLE_JS then waits out.
QUIET_MS = 1_500
# The action's run was seen; or the page loaded anew (its window has no flag: a new
# document's first run ends idle like any other); or, where COUNT_MESSAGES_JS runs, the page
# sent a message after ARM_JS and the server answered it, and nothing came for QUIET_MS.
SAW_RUN_JS = f"""() => window.__bnvizSawRun !== false
  || (window.__bnvizSent > window.__bnvizSentAtArm && window.__bnvizReceivedSinceSend > 0
      && performance.now() - window.__bnvizLastMessage > {QUIET_MS})"""


def wait_idle(page: Page, timeout: float = TIMEOUT_MS) -> None:
    """Wait until the app has finished its current run (first load included) and its
    charts have drawn what it sent them."""
    page.wait_for_function(IDLE_JS, timeout=timeout)
    page.evaluate(FRAMES_JS)
    page.wait_for_function(IDLE_JS, timeout=timeout)


def _wait_run_done(page: Page, timeout: float) -> None:
    """Wait for the action's run to be seen and the page to be idle; on a timeout, say which
    of them the page was still waiting for."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(f"() => ({SAW_RUN_JS})() && ({IDLE_JS})()", timeout=timeout)
    except PlaywrightTimeout:
        raise AssertionError(f"no finished run {timeout / 1000:.0f} s after the action; the page: "
                             f"{page.evaluate(PAGE_STATE_JS)}, at {page.url}") from None


@contextmanager
def rerun(page: Page, timeout: float = TIMEOUT_MS) -> Iterator[None]:
    """``with rerun(page): <action>`` returns once the rerun the action caused is done."""
    wait_idle(page, timeout)
    page.evaluate(ARM_JS)
    yield
    _wait_run_done(page, timeout)
    wait_idle(page, timeout)


@contextmanager
def rerun_while_playing(page: Page, timeout: float = TIMEOUT_MS) -> Iterator[None]:
    """``with rerun_while_playing(page): <Pause>``: :func:`rerun` for an action taken while
    a live chart plays. Play runs in the browser (no script runs until the player reports a
    frame), and a playing chart is busy until it stops, so this arms at once: waiting for
    the page to be idle first would let Play run on, on a slow machine to its last frame."""
    page.evaluate(ARM_JS)
    yield
    _wait_run_done(page, timeout)
    wait_idle(page, timeout)


def open_app(page: Page, url: str, timeout: float = TIMEOUT_MS) -> None:
    """Load a URL of the app and wait for its first run to finish."""
    page.goto(url)
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    wait_idle(page, timeout)


# --------------------------------------------------------------------------- reading charts

# JavaScript defining `charts()` (every Plotly graph div of the page, in page order) and
# `chartIn(sel)` (the first one inside the element `sel`). A chart is either drawn by
# st.plotly_chart in the page or by bnviz.app.livechart inside a same-origin iframe.
CHART_JS = """
const charts = (root = document) => Array.from(root.querySelectorAll('.js-plotly-plot, iframe')).flatMap(el =>
  el.tagName === 'IFRAME'
    ? Array.from((el.contentDocument
                  && el.contentDocument.querySelectorAll('.js-plotly-plot, .canvaschart')) || [])
    : [el]);
const chartIn = (sel) => {
  const el = document.querySelector(sel);
  return el ? (charts(el)[0] || null) : null;
};
"""

# The Explorer's histograms' graph div (drawn in the live chart's iframe), the step their
# player shows beside its slider ("step 120" → 120, or null), and whether the player is
# paused: its button says so and it has no frame left to draw.
MOVIE_JS = CHART_JS + "const movie = () => chartIn('.st-key-movie');"
PLAYER_STEP_JS = f"""() => {{ {MOVIE_JS}
  const label = movie() && movie().ownerDocument.getElementById('step')?.textContent;
  return label && /^step \\d+$/.test(label) ? Number(label.slice(5)) : null;
}}"""
# The histograms' player as it reports itself (livechart.js ``window.livechart.player()``):
# frame, pageFrame (the frame the page shows or was told of), playing, interval (ms between
# two frames of Play at the chosen speed), ticks (when Play asked for its last frames).
PLAYER_STATE_JS = f"""() => {{ {MOVIE_JS} return movie().ownerDocument.defaultView.livechart.player(); }}"""
PLAYER_PAUSED_JS = f"""() => {{ {MOVIE_JS}
  const doc = movie().ownerDocument;
  return doc.getElementById('play').getAttribute('aria-pressed') === 'false'
    && !doc.defaultView.livechart.busy();
}}"""


def plot_data(page: Page) -> list:
    """The ``data`` (traces) of every Plotly chart on the page, in page order."""
    return page.evaluate(
        "() => { " + CHART_JS + " return charts().map(el => JSON.parse(JSON.stringify(el.data || []))); }"
    )


def chart_frame(page: Page, key: str) -> FrameLocator:
    """Where to find the parts of the live chart ``key`` (its player's buttons and slider)."""
    return page.frame_locator(f".st-key-{key} iframe")


def type_choice(page: Page, box: str, label: str) -> None:
    """Open the select box with key ``box``, type ``label`` and wait for its option to be the
    one listed: Enter then picks it (the caller presses it, so it can time the key)."""
    page.locator(f".st-key-{box} input").click()
    page.keyboard.type(label)
    page.get_by_role("option", name=label, exact=True).wait_for()


def exceptions(page: Page) -> list[str]:
    """Texts of any Streamlit exception boxes on the page (there should be none)."""
    return page.locator('[data-testid="stException"]').all_inner_texts()

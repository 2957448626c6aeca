"""Waiting on the real app without sleeping, and saving screenshots.

Streamlit marks its root ``[data-testid="stApp"]`` with ``data-test-script-state``
("initial", "running", "rerunRequested", "notRunning"). A control change is done
when a rerun was seen to start *and* the app is back to "notRunning" with no
status widget and no skeleton. ``rerun`` arms a MutationObserver before the action
so a fast rerun cannot slip past unseen.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import FrameLocator, Page

SCREENSHOTS = Path(__file__).resolve().parents[1] / "output" / "screenshots"
TIMEOUT_MS = 60_000

# Idle: the script has finished, and every live chart (bnviz.app.livechart, in an iframe) has
# drawn the last figure it was sent (``livechart.busy()`` is its own report).
IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const chartsIdle = Array.from(document.querySelectorAll('iframe[src*="livechart"]')).every(f => {
    const w = f.contentWindow;
    return !!w && !!w.livechart && !w.livechart.busy();
  });
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector('[data-testid="stStatusWidget"]')
    && !document.querySelector('[data-testid="stSkeleton"]')
    && chartsIdle;
}"""
# Resolves after two frames: React's effects (a chart's new figure is posted from one)
# have run by then.
FRAMES_JS = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"

ARM_JS = """() => {
  window.__bnvizSawRun = false;
  const app = document.querySelector('[data-testid="stApp"]');
  if (window.__bnvizObserver) window.__bnvizObserver.disconnect();
  // A run that starts and ends between two callbacks shows only in a record's oldValue.
  window.__bnvizObserver = new MutationObserver((records) => {
    for (const r of records) {
      if (r.oldValue !== 'notRunning' || app.getAttribute('data-test-script-state') !== 'notRunning') {
        window.__bnvizSawRun = true;
      }
    }
  });
  window.__bnvizObserver.observe(app, {
    attributes: true, attributeOldValue: true, attributeFilter: ['data-test-script-state'],
  });
}"""


def wait_idle(page: Page, timeout: float = TIMEOUT_MS) -> None:
    """Wait until the app has finished its current run (first load included) and its
    charts have drawn what it sent them."""
    page.wait_for_function(IDLE_JS, timeout=timeout)
    page.evaluate(FRAMES_JS)
    page.wait_for_function(IDLE_JS, timeout=timeout)


@contextmanager
def rerun(page: Page, timeout: float = TIMEOUT_MS) -> Iterator[None]:
    """``with rerun(page): <action>`` returns once the rerun the action caused is done."""
    wait_idle(page, timeout)
    page.evaluate(ARM_JS)
    yield
    page.wait_for_function(f"() => window.__bnvizSawRun && ({IDLE_JS})()", timeout=timeout)
    wait_idle(page, timeout)


def open_app(page: Page, url: str, timeout: float = TIMEOUT_MS) -> None:
    """Load a URL of the app and wait for its first run to finish."""
    page.goto(url)
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    wait_idle(page, timeout)


# JavaScript defining `charts()` (every Plotly graph div of the page, in page order) and
# `chartIn(sel)` (the first one inside the element `sel`). A chart is either drawn by
# st.plotly_chart in the page or by bnviz.app.livechart inside a same-origin iframe.
CHART_JS = """
const charts = (root = document) => Array.from(root.querySelectorAll('.js-plotly-plot, iframe')).flatMap(el =>
  el.tagName === 'IFRAME'
    ? Array.from((el.contentDocument && el.contentDocument.querySelectorAll('.js-plotly-plot')) || [])
    : [el]);
const chartIn = (sel) => {
  const el = document.querySelector(sel);
  return el ? (charts(el)[0] || null) : null;
};
"""

# The histograms' graph div (drawn in the live chart's iframe), the step their player
# shows beside its slider ("step 120" → 120, or null), and whether the player is paused:
# its button says so and it has no frame left to draw.
MOVIE_JS = CHART_JS + "const movie = () => chartIn('.st-key-movie');"
PLAYER_STEP_JS = f"""() => {{ {MOVIE_JS}
  const label = movie() && movie().ownerDocument.getElementById('step')?.textContent;
  return label && /^step \\d+$/.test(label) ? Number(label.slice(5)) : null;
}}"""
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


def exceptions(page: Page) -> list[str]:
    """Texts of any Streamlit exception boxes on the page (there should be none)."""
    return page.locator('[data-testid="stException"]').all_inner_texts()


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG under tests/output/screenshots/ and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


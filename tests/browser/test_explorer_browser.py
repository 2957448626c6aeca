"""The Explorer in a real browser: keyboard on a slider, play, the client-side scrubber, permalinks.

The Explorer is the default page, so its address is the app's root ("/"; the app writes
that into the URL bar, so permalinks use it too).
"""

from __future__ import annotations

import json
import re

import pytest

from bnviz.app.harness import (
    DESKTOP,
    MOVIE_JS,
    PLAYER_PAUSED_JS,
    PLAYER_STEP_JS,
    PROJECTOR,
    chart_frame,
    exceptions,
    open_app,
    plot_data,
    rerun,
)

from .helpers import screenshot

pytestmark = pytest.mark.browser


def step_shown(page) -> int:
    text = page.locator(".st-key-step_counter").inner_text()
    return int(re.search(r"Step (\d+)", text).group(1))  # type: ignore[union-attr]


# Counts the server runs from now on (a client-side control must not cause any).
COUNT_RUNS = """() => {
  window.__runs = 0;
  const app = document.querySelector('[data-testid="stApp"]');
  new MutationObserver(() => {
    if (app.getAttribute('data-test-script-state') === 'running') window.__runs++;
  }).observe(app, {attributes: true});
}"""


def titles(page) -> list[str]:
    """The histogram panels' titles as drawn (SVG text: no innerText)."""
    return page.evaluate(f"() => {{ {MOVIE_JS} return Array.from(movie().querySelectorAll('.textpoint text'))"
                         ".map(t => t.textContent); }")


def player_button(page, name: str):
    """A button of the histograms' player (Play / Pause is one button)."""
    return chart_frame(page, "movie").get_by_role("button", name=name)


def button(page, key: str):
    """The Explorer's button with widget key ``key`` (the first match: a tooltip can repeat it)."""
    return page.locator(f".st-key-{key} button").first


def summary(page) -> str:
    return page.locator(".st-key-summary").inner_text()


@pytest.mark.parametrize("viewport,scheme,name", [
    (DESKTOP, "light", "explorer-1440x900-light"), (PROJECTOR, "light", "explorer-1280x720-light"),
    (DESKTOP, "dark", "explorer-1440x900-dark"), (PROJECTOR, "dark", "explorer-1280x720-dark"),
])  # fmt: skip
def test_explorer_opens_cleanly_at_class_sizes(app_server, new_page, viewport, scheme, name):
    page = new_page(viewport, color_scheme=scheme)
    open_app(page, app_server + "/")
    assert exceptions(page) == [] and page.bnviz_errors == []
    assert page.bnviz_console_errors == [], "nothing logged as an error (Plotly reports bad paths this way)"
    assert page.locator('[role="dialog"]').count() == 0, "no 'page not found' or other dialog"
    assert len(plot_data(page)) == 3
    # the histograms and the scrubber are on the first screen, even on a projector
    box = page.locator(".st-key-movie iframe").bounding_box()
    assert box is not None and box["y"] < viewport["height"] * 0.75
    screenshot(page, name)
    # Streamlit scrolls inside the page, so a "full page" screenshot is the first screen:
    # the statistics panel and the curves get their own
    page.locator(".st-key-stats").scroll_into_view_if_needed()
    screenshot(page, name + "-statistics")
    page.locator(".st-key-curves").scroll_into_view_if_needed()
    screenshot(page, name + "-curves")


def test_keyboard_on_a_slider_retrains_and_redraws(app_server, page):
    open_app(page, app_server + "/")
    before = plot_data(page)
    text = summary(page)
    with rerun(page):
        page.locator('.st-key-s_lr input[type="range"]').focus()
        page.keyboard.press("ArrowLeft")
    after = plot_data(page)
    assert after[2] != before[2], "the training curves changed"
    assert "lr=0.02" in page.url
    assert summary(page) != text
    assert exceptions(page) == []


def test_a_unit_change_redraws_the_mounted_histogram_chart_in_place(app_server, page):
    """The live chart keeps its graph div (no remount) and only the unit's data change."""
    open_app(page, app_server + "/")
    page.evaluate(f"() => {{ {MOVIE_JS} movie().__bnvizMark = 'still here'; }}")
    before = plot_data(page)[0]
    with rerun(page):
        page.locator(".st-key-v_unit input").click()
        page.keyboard.type("unit 3")
        page.keyboard.press("Enter")
    assert page.evaluate(f"() => {{ {MOVIE_JS} return movie().__bnvizMark; }}") == "still here"
    after = plot_data(page)[0]
    assert after[0]["y"] != before[0]["y"], "the histogram of unit 3, not unit 1"
    assert titles(page)[0].startswith("Z (unit 3)")
    assert "unit=3" in page.url
    assert page.locator(".st-key-movie iframe").get_attribute("title") == (
        "Histograms of Z, Z_norm and Z̃, layer 1, unit 3, with a step scrubber"), "named for screen readers"


def test_play_advances_the_step_in_the_browser_and_pause_stops_it(app_server, page):
    open_app(page, app_server + "/")
    with rerun(page):
        button(page, "v_reset").click()
    assert step_shown(page) == 0
    assert page.evaluate(PLAYER_STEP_JS) == 0
    before = plot_data(page)[0]
    titles_before = titles(page)
    assert len(titles_before) == 3 and titles_before[0].startswith("Z (unit 1)")
    page.evaluate(COUNT_RUNS)
    player_button(page, "▶ Play").click()
    page.wait_for_function(f"() => ({PLAYER_STEP_JS})() > 20", timeout=60_000)
    player_button(page, "❚❚ Pause").click()
    page.wait_for_function(PLAYER_PAUSED_JS)  # no tick and no frame left to draw, so the step stays
    paused_at = page.evaluate(PLAYER_STEP_JS)
    assert 20 < paused_at < 500
    assert plot_data(page)[0][0]["y"] != before[0]["y"], "the histograms moved with the steps"
    assert titles(page) != titles_before, "and so did their titles"
    assert page.evaluate("() => window.__runs") == 0, "Play runs in the browser: no server round trip"
    assert step_shown(page) == 0, "the server-side step (equations, curves) is where Reset put it"
    assert page.bnviz_errors == [] and page.bnviz_console_errors == []
    screenshot(page, "explorer-paused")


def test_scrubber_changes_the_histograms_in_the_browser_without_a_rerun(app_server, page):
    open_app(page, app_server + "/")
    before = plot_data(page)[0]
    page.evaluate(COUNT_RUNS)
    rail = chart_frame(page, "movie").locator("#scrub").bounding_box()
    assert rail is not None
    page.mouse.click(rail["x"] + rail["width"] * 0.2, rail["y"] + rail["height"] / 2)
    page.wait_for_function(
        f"(b) => {{ {MOVIE_JS} return JSON.stringify(movie().data[0].y) !== b; }}",
        arg=json.dumps(before[0]["y"]),
    )
    assert plot_data(page)[0][0]["y"] != before[0]["y"]
    assert page.evaluate("() => window.__runs") == 0, "scrubbing must not ask the server"
    assert 0 < page.evaluate(PLAYER_STEP_JS) < 500


def test_the_step_slider_works_with_the_keyboard_and_play_at_the_end_starts_again(app_server, page):
    """The player is plain HTML: the range input takes arrow keys, Home and End, one
    checkpoint (10 steps by default) at a time, in the browser."""
    open_app(page, app_server + "/")
    assert page.evaluate(PLAYER_STEP_JS) == 500
    before = plot_data(page)[0]
    page.evaluate(COUNT_RUNS)
    scrub = chart_frame(page, "movie").get_by_role("slider", name="Training step shown by the histograms")
    scrub.focus()
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(PLAYER_PAUSED_JS)
    assert page.evaluate(PLAYER_STEP_JS) == 490
    assert scrub.get_attribute("aria-valuetext") == "step 490"
    assert plot_data(page)[0][0]["y"] != before[0]["y"], "frame 49 drawn"
    page.keyboard.press("Home")
    page.wait_for_function(PLAYER_PAUSED_JS)
    assert page.evaluate(PLAYER_STEP_JS) == 0
    page.keyboard.press("End")
    page.wait_for_function(PLAYER_PAUSED_JS)
    assert page.evaluate(PLAYER_STEP_JS) == 500
    assert plot_data(page)[0][0]["y"] == before[0]["y"], "back at the last frame"
    player_button(page, "▶ Play").click()  # at the end: from the start again
    page.wait_for_function(f"() => {{ const s = ({PLAYER_STEP_JS})(); return s > 0 && s < 500; }}")
    player_button(page, "❚❚ Pause").click()
    page.wait_for_function(PLAYER_PAUSED_JS)
    assert page.evaluate("() => window.__runs") == 0, "the player never asks the server"
    assert page.bnviz_console_errors == []


# Records, for every element that Streamlit marks stale from now on (an empty placeholder
# has nothing to fade: not counted), whether it is in the layer/unit view and the opacity
# and transition it gets.
WATCH_STALE = """() => {
  window.__stale = [];
  new MutationObserver((records) => {
    for (const r of records) {
      const el = r.target;
      if (el.getAttribute('data-stale') !== 'true' || el.querySelector('[data-testid="stEmpty"]')) continue;
      const cs = getComputedStyle(el);
      window.__stale.push({inView: !!el.closest('.st-key-unit_view'), opacity: cs.opacity,
                           transition: cs.transitionDuration});
    }
  }).observe(document.body, {subtree: true, attributes: true, attributeFilter: ['data-stale']});
}"""


def test_the_layer_unit_view_does_not_fade_while_it_reruns(app_server, page):
    """Streamlit fades stale elements after 0.5 s; the layer/unit view reruns faster than
    that, and starting the fade on each of its elements slows its histograms down. The
    rest of the page keeps Streamlit's fade (a retrain can take seconds)."""
    open_app(page, app_server + "/")
    page.evaluate(WATCH_STALE)
    with rerun(page):
        page.locator(".st-key-v_unit input").click()
        page.keyboard.type("unit 2")
        page.keyboard.press("Enter")
    seen = page.evaluate("() => window.__stale")
    assert seen and all(s["inView"] for s in seen), "a unit change reruns the view only"
    assert all(s["opacity"] == "1" and s["transition"] == "0s" for s in seen), seen[:3]
    page.evaluate(WATCH_STALE)
    with rerun(page):
        page.locator('.st-key-s_lr input[type="range"]').focus()
        page.keyboard.press("ArrowLeft")
    outside = [s for s in page.evaluate("() => window.__stale") if not s["inView"]]
    assert outside and all(s["transition"] == "1s" for s in outside), outside[:3]  # fading from 1 to 0.33


def test_permalink_reproduces_the_view(app_server, page, new_page):
    open_app(page, app_server + "/")
    with rerun(page):
        page.locator('.st-key-s_eps input[type="range"]').focus()
        page.keyboard.press("ArrowRight")
    with rerun(page):
        page.locator(".st-key-v_unit input").click()
        page.keyboard.type("unit 4")
        page.keyboard.press("Enter")
    with rerun(page):
        button(page, "v_step").click()  # at the end: stays at the end
    with rerun(page):
        button(page, "v_reset").click()
    with rerun(page):
        button(page, "v_step").click()
    url = page.url
    assert "eps=0.0001" in url and "unit=4" in url and "t=10" in url
    other = new_page(DESKTOP)
    open_app(other, url)
    assert summary(other) == summary(page)
    assert step_shown(other) == 10
    assert other.locator(".st-key-v_unit").inner_text() == page.locator(".st-key-v_unit").inner_text()
    assert plot_data(other) == plot_data(page)
    katex = "() => Array.from(document.querySelectorAll('.katex-mathml annotation')).map(e => e.textContent)"
    assert other.evaluate(katex) == page.evaluate(katex)

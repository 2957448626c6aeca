"""Every control reachable with the keyboard, with a focus indicator one can see.

Tab walks the Explorer (the sidebar's settings, presenter mode, the live charts' toolbar and
player inside their iframes, the downloads) and a lesson step in presenter mode (Previous /
Next, leaving presenter mode, the step's settings above the charts). A control's focus
indicator is "visible" when focusing it from the keyboard changes some pixel around it by a
clear colour step (:data:`MIN_STEP`), on a light and on a dark page: a 1 px black outline on a
dark background does not count. Then → / ← / Space still do their job in the lesson.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageChops

from bnviz import lessons
from bnviz.app.harness import DESKTOP, PLAYER_STATE_JS, PROJECTOR, exceptions, open_app, rerun, wait_idle
from bnviz.settings import Settings

from .helpers import screenshot

pytestmark = pytest.mark.browser

NAME = "batch-normalization-in-20-minutes"
LESSON = lessons.load(NAME)
MAX_TABS = 400  # more than the Explorer has controls: the walk stops when the focus comes round
MIN_STEP = 120  # |ΔR| + |ΔG| + |ΔB| of the most changed pixel: a focus ring, not a shade
PAD = 6  # px around a control where its focus ring may be drawn

# The element that has the focus, through same-origin iframes (a live chart's), kept as
# window.__bnvizFocus, and what it is: [iframe's st-key, tag, accessible name, its box in the
# page's pixels (left, top, width, height)].
FOCUS_JS = """() => {
  let doc = document, el = doc.activeElement, dx = 0, dy = 0, frame = '';
  while (el && el.tagName === 'IFRAME' && el.contentDocument) {
    const r = el.getBoundingClientRect(); dx += r.left; dy += r.top;
    const keyed = el.closest('[class*="st-key-"]');
    frame = ((keyed ? keyed.className : '').match(/st-key-(\\S+)/) || [])[1] || '';
    doc = el.contentDocument; el = doc.activeElement;
  }
  window.__bnvizFocus = el;
  if (!el || el === doc.body) return null;
  const text = (node) => {  // the visible text, without Material icons' ligature names
    const copy = node.cloneNode(true);
    copy.querySelectorAll('[data-testid="stIconMaterial"]').forEach(i => i.remove());
    return copy.textContent;
  };
  const labelled = el.getAttribute('aria-labelledby');
  const name = el.getAttribute('aria-label') || el.getAttribute('data-title')
    || (labelled && doc.getElementById(labelled) && doc.getElementById(labelled).innerText)
    || (el.labels && el.labels[0] && el.labels[0].innerText) || el.getAttribute('title') || text(el) || '';
  const r = el.getBoundingClientRect();
  return [frame, el.tagName, name.replace(/\\s+/g, ' ').trim(), [r.left + dx, r.top + dy, r.width, r.height]];
}"""
BLUR_JS = "() => window.__bnvizFocus && window.__bnvizFocus.blur()"
REFOCUS_JS = "() => window.__bnvizFocus && window.__bnvizFocus.focus({focusVisible: true})"


def _clip(page: Any, box: list[float]) -> dict[str, float]:
    size = page.viewport_size
    left, top = max(box[0] - PAD, 0), max(box[1] - PAD, 0)
    right, bottom = min(box[0] + box[2] + PAD, size["width"]), min(box[1] + box[3] + PAD, size["height"])
    return {"x": left, "y": top, "width": max(right - left, 1), "height": max(bottom - top, 1)}


# Resolves once every finite animation and transition of the page and of its same-origin
# iframes has run to its end (Plotly's toolbar in a live chart fades in over 0.3 s; a focus
# ring may have a transition of its own). Two frames first: a transition that the last focus
# change starts exists from the next style update on.
SETTLED_JS = """async () => {
  const frame = () => new Promise(r => requestAnimationFrame(r));
  await frame(); await frame();
  const docs = [document, ...Array.from(document.querySelectorAll('iframe'))
    .map(f => { try { return f.contentDocument; } catch (e) { return null; } }).filter(Boolean)];
  const finite = docs.flatMap(d => d.getAnimations()).filter(a => a.playState !== 'finished'
    && a.effect && a.effect.getComputedTiming().endTime !== Infinity);
  await Promise.all(finite.map(a => a.finished.catch(() => null)));
  return true;
}"""


def focus_step(page: Any, box: list[float]) -> int:
    """How far the most changed pixel around the focused control moves when it loses the focus."""
    clip = _clip(page, box)
    page.evaluate(SETTLED_JS)  # the focus ring and the toolbar drawn to their end
    focused = Image.open(io.BytesIO(page.screenshot(clip=clip))).convert("RGB")
    page.evaluate(BLUR_JS)
    page.evaluate(SETTLED_JS)
    blurred = Image.open(io.BytesIO(page.screenshot(clip=clip))).convert("RGB")
    page.evaluate(REFOCUS_JS)  # the walk goes on from here
    return int(np.asarray(ImageChops.difference(focused, blurred), dtype=int).sum(axis=2).max())


def tab_walk(page: Any, check: dict[str, str], until_checked: bool = False,
             ) -> tuple[list[tuple[str, str, str]], dict[str, int]]:
    """Tab from the top of the page until the focus comes round (or, ``until_checked``, until
    every one of ``check`` is measured): (iframe, tag, name) of every stop, and the
    :func:`focus_step` of the first stop whose name starts with each of ``check``'s values
    (its keys name them in the result)."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    stops: list[tuple[str, str, str]] = []
    steps: dict[str, int] = {}
    first = None
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        now = page.evaluate(FOCUS_JS)
        if now is None:
            continue
        frame, tag, name, box = now
        stop = (frame, tag, name)
        if stop == first:
            break
        first = first or stop
        stops.append(stop)
        for what, prefix in check.items():
            if what not in steps and name.startswith(prefix):
                steps[what] = focus_step(page, box)
        if until_checked and len(steps) == len(check):
            break
    return stops, steps


def names(stops: list[tuple[str, str, str]], frame: str | None = None) -> list[str]:
    return [n for f, _, n in stops if frame is None or f == frame]


def reached(stops: list[tuple[str, str, str]], name: str, frame: str | None = None) -> bool:
    return any(n.startswith(name) for n in names(stops, frame))


# Controls of the Explorer whose focus must show, one of each kind: [what, accessible name].
EXPLORER_CHECKS = {
    "page link": "Explorer",
    "select box": Settings.spec("dataset").label,
    "slider": Settings.spec("batch_size").label,
    "toggle": Settings.spec("use_bn").label,
    "number box": Settings.spec("seed").label,
    "presenter mode": "Presenter mode",
    "camera": "Download as PNG",
    "play": "Play the checkpoints",
    "speed": "Play speed",
    "scrubber": "Training step shown",
    "download": "animation (GIF)",
}


def test_tab_reaches_every_control_of_the_explorer_and_shows_where_it_is(app_server, new_page):
    scheme = "light"
    page = new_page(DESKTOP, color_scheme=scheme)
    open_app(page, app_server + "/?steps=100")
    sidebar_labels = page.evaluate("""() => Array.from(document.querySelectorAll(
      '[data-testid="stSidebar"] [data-testid="stWidgetLabel"]'))
      .map(e => e.innerText.trim()).filter(Boolean)""")
    assert Settings.spec("batch_size").label in sidebar_labels
    stops, steps = tab_walk(page, EXPLORER_CHECKS)
    missing = [label for label in sidebar_labels if not reached(stops, label)]
    assert missing == [], f"sidebar settings Tab never reaches: {missing}"
    for name in ("Presenter mode", "Add this view to my lesson"):
        assert reached(stops, name), name
    for name in ("Download as PNG", "Play the checkpoints", "Play from the first checkpoint", "Play speed",
                 "Training step shown by the histograms"):
        assert reached(stops, name, "movie_live"), (name, names(stops, "movie_live"))
    for key in ("stats_live", "curves_live"):
        assert reached(stops, "Download as PNG", key), key  # every live chart's camera
    for name in ("animation (HTML", "animation (GIF)", "statistics, layer 1 (CSV)"):
        assert reached(stops, name), name
    unseen = {what: step for what, step in steps.items() if step < MIN_STEP}
    assert set(steps) == set(EXPLORER_CHECKS), set(EXPLORER_CHECKS) - set(steps)
    assert unseen == {}, f"focus hardly visible ({scheme}): {unseen}"
    assert exceptions(page) == []


def test_in_the_dark_theme_the_focus_shows_on_every_kind_of_control(app_server, new_page):
    """The outline's colour must stand out on the dark background too; which controls Tab
    reaches does not depend on the theme (the light test walks them all)."""
    page = new_page(DESKTOP, color_scheme="dark")
    open_app(page, app_server + "/?steps=100")
    _, steps = tab_walk(page, EXPLORER_CHECKS, until_checked=True)
    assert set(steps) == set(EXPLORER_CHECKS), set(EXPLORER_CHECKS) - set(steps)
    unseen = {what: step for what, step in steps.items() if step < MIN_STEP}
    assert unseen == {}, f"focus hardly visible (dark): {unseen}"
    assert exceptions(page) == []


def test_tab_reaches_a_lesson_steps_controls_and_the_keys_still_work(app_server, new_page):
    page = new_page(PROJECTOR)
    i = next(k for k, s in enumerate(LESSON.steps) if s.page == "explorer" and s.controls)
    step = LESSON.steps[i]
    open_app(page, f"{app_server}{lessons.step_url(LESSON, i)}&present=1")
    page.wait_for_selector(".st-key-lesson_controls")
    wait_idle(page)
    checks = {"previous": "← Previous", "next": "Next →", "all steps": "All steps",
              "leave": "Leave presenter mode", **{c: Settings.spec(c).label for c in step.controls}}
    stops, steps = tab_walk(page, checks)
    for what, name in checks.items():
        assert reached(stops, name), (what, names(stops)[:20])
    assert not reached(stops, "Presenter mode"), "the sidebar is hidden: its button is not in the way"
    unseen = {what: s for what, s in steps.items() if s < MIN_STEP}
    assert unseen == {}, f"focus hardly visible: {unseen}"

    # Space plays and pauses the histograms, unless a button or link has the focus
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.keyboard.press("Space")
    page.wait_for_function(f"() => ({PLAYER_STATE_JS})().playing")
    page.keyboard.press("Space")
    page.wait_for_function(f"() => !({PLAYER_STATE_JS})().playing")
    wait_idle(page)
    # → and ← move between steps, and presenter mode stays on
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.keyboard.press("ArrowRight")
    page.wait_for_url(lambda url: f"step={i + 2}" in url)
    page.locator(".bnviz-lesson", has_text=LESSON.steps[i + 1].title).wait_for()
    assert "present=1" in page.url
    wait_idle(page)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(lambda url: f"step={i + 1}" in url)
    page.locator(".bnviz-lesson", has_text=step.title).wait_for()
    wait_idle(page)
    # an arrow key on a focused slider moves the slider, not the lesson
    with rerun(page):
        page.locator(f'.st-key-lesson_controls .st-key-s_{step.controls[0]} input[type="range"]').focus()
        page.keyboard.press("ArrowRight")
    assert f"step={i + 1}" in page.url
    assert exceptions(page) == []
    screenshot(page, "lesson-keyboard")

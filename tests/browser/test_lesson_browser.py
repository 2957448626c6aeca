"""A lesson as a teacher runs it: a step's link, Next / Previous, the arrow keys, presenter
mode on a 1280×720 projector (the step's settings above the charts, chart text for the back
of the room), every step of the shipped lesson, and a malformed lesson file."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from bnviz import lessons
from bnviz.app.harness import PROJECTOR, exceptions, open_app, plot_data, rerun, wait_idle
from bnviz.settings import Settings

from .helpers import screenshot

NAME = "batch-normalization-in-20-minutes"
# The font size in px of every text the charts draw (SVG, or a canvas's record of what it
# wrote): the live charts' (in their iframes) and st.plotly_chart's (in the page).
CHART_FONTS_JS = """() => [document, ...Array.from(document.querySelectorAll('iframe'))
    .map(f => f.contentDocument).filter(Boolean)].flatMap(doc =>
  Array.from(doc.querySelectorAll('.js-plotly-plot svg text'))
    .filter(t => t.textContent.trim() && t.getClientRects().length)
    .map(t => parseFloat(doc.defaultView.getComputedStyle(t).fontSize))
    .concat(Array.from(doc.querySelectorAll('.canvaschart'))
      .flatMap(c => (c.textBoxes || []).map(b => b.size))))"""
# The labels of the widgets above the charts (presenter mode's step settings).
ABOVE = ".st-key-lesson_controls"
ABOVE_LABELS_JS = f"""() => Array.from(document.querySelectorAll('{ABOVE} [data-testid="stWidgetLabel"]'))
  .map(e => e.innerText.trim()).filter(Boolean)"""
LESSON = lessons.load(NAME)


def _step_in_url(url: str, name: str = NAME) -> int:
    q = parse_qs(urlsplit(url).query)
    assert q["lesson"] == [name], url
    return int(q["step"][0])


def _bar(page) -> str:
    return page.locator(".bnviz-lesson").inner_text()


def test_a_step_link_opens_its_page_and_next_previous_and_the_keys_move(app_server, page):
    open_app(page, f"{app_server}/lesson?name={NAME}&step=2")
    page.wait_for_selector(".bnviz-lesson")
    wait_idle(page)
    assert urlsplit(page.url).path == "/"  # step 2 is an Explorer view
    assert _step_in_url(page.url) == 2
    assert f"step 2 of {len(LESSON.steps)}" in _bar(page)
    assert LESSON.steps[1].title in _bar(page)
    assert parse_qs(urlsplit(page.url).query)["freeze_affine"] == ["1"]  # the step's settings
    assert exceptions(page) == []

    page.locator('a[data-lesson-nav="next"]').click()
    page.wait_for_url(lambda url: "step=3" in url)
    open_app(page, page.url)  # the next step is a fresh page: wait for its run
    assert urlsplit(page.url).path == "/" + lessons.PAGES[LESSON.steps[2].page]
    assert LESSON.steps[2].title in _bar(page)

    page.evaluate("() => document.activeElement && document.activeElement.blur()")  # no widget has focus
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(lambda url: "step=2" in url)
    page.wait_for_selector(".bnviz-lesson")
    assert LESSON.steps[1].title in _bar(page)
    wait_idle(page)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.keyboard.press("ArrowRight")
    page.wait_for_url(lambda url: "step=3" in url)
    page.wait_for_selector(".bnviz-lesson")
    assert LESSON.steps[2].title in _bar(page)

    # a copied link opens the same step in a new tab
    copied = page.url
    other = page.context.new_page()
    open_app(other, copied)
    assert LESSON.steps[2].title in _bar(other)
    other.close()


def test_presenter_mode_hides_the_sidebar_on_a_projector(app_server, new_page):
    page = new_page(PROJECTOR)
    open_app(page, f"{app_server}/?present=1&lesson={NAME}&step=2&freeze_affine=true&steps=300")
    page.wait_for_selector(".bnviz-lesson")
    wait_idle(page)
    assert not page.locator('[data-testid="stSidebar"]').is_visible()
    assert page.get_by_text("Leave presenter mode").is_visible()
    assert exceptions(page) == []
    fonts = page.evaluate(CHART_FONTS_JS)
    assert len(fonts) > 30 and min(fonts) >= 18, sorted(fonts)[:5]  # readable from the back
    screenshot(page, "lesson-presenter-1280x720")
    page.get_by_text("Leave presenter mode").click()
    page.wait_for_url(lambda url: "present" not in url)
    wait_idle(page)
    assert page.locator('[data-testid="stSidebar"]').is_visible()


def test_presenter_mode_draws_the_steps_setting_above_the_charts_and_it_moves_them(app_server, new_page):
    page = new_page(PROJECTOR)
    step = next(i for i, s in enumerate(LESSON.steps)
                if s.page == "explorer" and s.controls == ("batch_size",))
    open_app(page, f"{app_server}{lessons.step_url(LESSON, step)}&present=1")
    page.wait_for_selector(ABOVE)
    wait_idle(page)
    assert page.evaluate(ABOVE_LABELS_JS) == [Settings.spec("batch_size").label]
    assert page.locator(".st-key-s_batch_size").count() == 1  # once, above the charts, not in the sidebar
    charts = page.locator(".st-key-movie").bounding_box()
    above = page.locator(ABOVE).bounding_box()
    assert charts and above and above["y"] + above["height"] <= charts["y"]
    assert above["y"] + above["height"] <= PROJECTOR["height"], "the control is on the first screen"
    before = plot_data(page)
    assert parse_qs(urlsplit(page.url).query)["batch_size"] == ["4"]
    with rerun(page):
        page.locator(f'{ABOVE} .st-key-s_batch_size input[type="range"]').focus()
        page.keyboard.press("ArrowRight")
    assert parse_qs(urlsplit(page.url).query)["batch_size"] == ["8"]  # the URL holds it
    assert _step_in_url(page.url) == step + 1 and "present=1" in page.url
    assert plot_data(page) != before  # the histograms show the new mini-batch
    assert exceptions(page) == []
    screenshot(page, "lesson-presenter-control-moved")


def test_a_teaching_view_in_presenter_mode_has_chart_text_for_a_projector(app_server, new_page):
    page = new_page(PROJECTOR)
    open_app(page, f"{app_server}/noise?present=1&steps=100")
    wait_idle(page)
    fonts = page.evaluate(CHART_FONTS_JS)
    assert len(fonts) > 30 and min(fonts) >= 18, sorted(fonts)[:5]
    assert exceptions(page) == []
    open_app(page, f"{app_server}/noise?steps=100")  # out of presenter mode: the pages' own sizes
    assert min(page.evaluate(CHART_FONTS_JS)) < 18


# The top of the first chart on the page (a live chart's iframe or an st.plotly_chart), or null.
FIRST_CHART_TOP_JS = """() => {
  const tops = Array.from(document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot, '
    + '[data-testid="stMain"] iframe[src*="livechart"]')).map(e => e.getBoundingClientRect())
    .filter(r => r.height > 0).map(r => r.top);
  return tops.length ? Math.min(...tops) : null;
}"""
WALK_TIMEOUT_MS = 240_000  # a step's page may train a grid of networks on a busy machine


# every step of every shipped lesson, each lesson in one theme, the themes in turn
WALKS = [(name, ("light", "dark")[i % 2]) for i, name in enumerate(lessons.names())]


@pytest.mark.parametrize(("name", "scheme"), WALKS)
def test_a_shipped_lesson_runs_start_to_end_in_presenter_mode(app_server, new_page, name, scheme):
    lesson = lessons.load(name)
    page = new_page(PROJECTOR, color_scheme=scheme)
    open_app(page, f"{app_server}/lesson?name={name}&step=1&present=1", WALK_TIMEOUT_MS)
    prefix = "lesson" if name == NAME else name  # lesson-<n>.png: the 20-minute lesson's steps
    suffix = "" if scheme == "light" else "-dark"
    for n, step in enumerate(lesson.steps, start=1):
        if n > 1:
            page.evaluate("() => document.activeElement && document.activeElement.blur()")
            page.locator('a[data-lesson-nav="next"]').click()
            page.wait_for_url(lambda url, n=n: f"step={n}" in url)
        page.locator(".bnviz-lesson", has_text=step.title).wait_for()
        wait_idle(page, WALK_TIMEOUT_MS)
        assert _step_in_url(page.url, name) == n and "present=1" in page.url
        assert urlsplit(page.url).path == "/" + lessons.PAGES[step.page]
        assert exceptions(page) == [], (n, exceptions(page))
        assert page.bnviz_errors == [], (n, page.bnviz_errors)
        assert f"step {n} of {len(lesson.steps)}" in _bar(page)
        assert not page.locator('[data-testid="stSidebar"]').is_visible()
        main = page.locator('[data-testid="stMain"]').inner_text()
        assert "Not a setting of this page" not in main, (n, step.controls)
        labels = [Settings.spec(c).label for c in step.controls]
        assert page.evaluate(ABOVE_LABELS_JS) == labels, n
        if labels:
            above = page.locator(ABOVE).bounding_box()
            top = page.evaluate(FIRST_CHART_TOP_JS)
            assert above and top is not None and above["y"] + above["height"] <= top, (n, above, top)
            assert above["y"] + above["height"] <= PROJECTOR["height"], "on the first screen"
        screenshot(page, f"{prefix}-{n}{suffix}")
    assert page.locator('a[data-lesson-nav="next"]').count() == 0  # the last step has no Next


def test_a_malformed_lesson_file_gets_its_line_and_no_traceback(app_server, page):
    open_app(page, f"{app_server}/lesson")
    assert "Batch Normalization in 20 minutes" in page.locator('[data-testid="stMain"]').inner_text()
    broken = b'title = "Mine"\n\n[[steps]]\npage = "explorer"\ntitle = "One"\ntext = "Hi."\n'
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        {"name": "mine.toml", "mimeType": "application/toml", "buffer": broken})
    page.get_by_text("step 1: has no question").wait_for()
    assert "line 3" in page.locator('[data-testid="stAlert"]').all_inner_texts()[-1]
    assert exceptions(page) == []
    screenshot(page, "lesson-malformed-file")

    open_app(page, f"{app_server}/lesson?name=no-such-lesson")
    assert "there is no lesson" in page.locator('[data-testid="stMain"]').inner_text()
    assert exceptions(page) == []

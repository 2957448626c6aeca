"""A lesson as a teacher runs it: a step's link, Next / Previous, the arrow keys, presenter
mode on a 1280×720 projector, and a malformed lesson file."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from bnviz import lessons
from bnviz.app.harness import PROJECTOR, exceptions, open_app, wait_idle

from .helpers import screenshot

NAME = "batch-normalization-in-20-minutes"
# The font size in px of every text the live charts draw (SVG).
CHART_FONTS_JS = """() => Array.from(document.querySelectorAll('iframe')).flatMap(f => {
  const doc = f.contentDocument;
  if (!doc || !doc.querySelector('.js-plotly-plot')) return [];
  return Array.from(doc.querySelectorAll('svg text'))
    .filter(t => t.textContent.trim() && t.getClientRects().length)
    .map(t => parseFloat(doc.defaultView.getComputedStyle(t).fontSize));
})"""
LESSON = lessons.load(NAME)


def _step_in_url(url: str) -> int:
    q = parse_qs(urlsplit(url).query)
    assert q["lesson"] == [NAME], url
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

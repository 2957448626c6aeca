"""Every teaching view opens by its URL in a real browser, at both sizes a class uses,
with its charts and no error; the glass box answers typing and a slider."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from bnviz.app.harness import DESKTOP, PROJECTOR, exceptions, open_app, plot_data, rerun

from .helpers import screenshot

VIEWS = {
    "glass-box": 1,  # url_path: charts the view shows at least
    "bias": 1,
    "covariate-shift": 2,
    "noise": 3,
    "test-time": 2,
    "conventions": 1,
}


@pytest.mark.parametrize("viewport,size", [(DESKTOP, "1440x900"), (PROJECTOR, "1280x720")])
@pytest.mark.parametrize("view", list(VIEWS))
def test_view_opens_by_url(app_server, new_page, view, viewport, size):
    page = new_page(viewport)
    open_app(page, f"{app_server}/{view}")
    _no_dialog(page)
    assert exceptions(page) == []
    assert page.bnviz_errors == []
    assert page.locator("h1").first.is_visible()
    assert page.locator('[data-testid="stAlertContentInfo"]').filter(has_text="Try this").count() == 1
    charts = plot_data(page)
    assert len(charts) >= VIEWS[view]
    assert all(len(traces) > 0 for traces in charts)
    screenshot(page, f"teach-{view}-{size}")


def _no_dialog(page) -> None:
    """A modal dialog would make the page inert to clicks: say which one it is."""
    dialogs = page.get_by_role("dialog")
    assert dialogs.count() == 0, dialogs.first.inner_text()


def _type_into_cell(page, row: int, text: str) -> None:
    """Type ``text`` into row ``row`` (0-based) of the glass box's editable one-column table
    and commit it with Enter, waiting for the rerun that the edit causes. The grid must not
    have been clicked yet (a freshly opened view).

    The grid draws on a canvas; its hidden accessibility table (``glide-cell-<col>-<row>``)
    says when the cells exist and which one is selected.
    """
    page.locator(".js-plotly-plot").first.wait_for()  # the layout is complete: nothing moves the grid
    grid = page.locator('[data-testid="stDataFrame"]').first
    cell = grid.locator(f'[data-testid="glide-cell-1-{row}"]')
    cell.wait_for(state="attached")
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None
    x, y = box["x"] + 40, box["y"] + 35 * (row + 1) + 17  # header row, then 35 px rows
    page.mouse.move(x, y)  # hovering shows the grid's toolbar; a click before that is lost
    grid.locator('[data-testid="stElementToolbar"]').wait_for()
    page.mouse.click(x, y)
    expect(cell).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Enter")  # opens the cell editor
    editor = page.locator("textarea.gdg-input")
    editor.wait_for()
    editor.fill(text)
    with rerun(page):
        page.keyboard.press("Enter")


def test_glass_box_typing_and_sliders(app_server, page):
    open_app(page, f"{app_server}/glass-box?z=1;3;8")
    _no_dialog(page)
    line = plot_data(page)[0]
    assert line[0]["x"] == [1, 3, 8]

    # type a non-number into row 2: a message, no traceback, the other values still used
    _type_into_cell(page, 1, "abc")
    assert exceptions(page) == []
    assert page.get_by_text("'abc' is not a number").count() >= 1
    assert plot_data(page)[0][0]["x"] == [1, 8]
    screenshot(page, "teach-glass-box-typed-abc")

    # γ slider one step right: z̃ = γ z_norm + β moves, z_norm does not
    before = plot_data(page)[0]
    slider = page.locator('[data-testid="stSlider"] input[type="range"]').first
    slider.focus()
    with rerun(page):
        page.keyboard.press("ArrowRight")
    after = plot_data(page)[0]
    assert after[1]["x"] == before[1]["x"]
    assert after[2]["x"] != before[2]["x"]
    assert "gb_gamma=1.1" in page.url


def test_glass_box_batch_of_one(app_server, page):
    open_app(page, f"{app_server}/glass-box?z=4;9&gb_eps=0")
    _no_dialog(page)
    with rerun(page):
        page.get_by_role("button", name="Batch of one").click()
    assert exceptions(page) == []
    assert plot_data(page)[0][1]["x"] == [0]
    assert page.get_by_text("The unit forgets its input").count() == 1
    screenshot(page, "teach-glass-box-batch-of-one")

"""The Sweep page in a real browser: it trains a small sweep, draws the heatmap, and a
click on a cell picks that configuration for the explorer."""

from __future__ import annotations

import urllib.parse

import pytest

from bnviz.app.harness import DESKTOP, PROJECTOR, exceptions, open_app, plot_data, rerun, wait_idle
from bnviz.sweep import PRESETS

from .helpers import screenshot

pytestmark = pytest.mark.browser


def heatmaps(page) -> list[dict]:
    return [t for traces in plot_data(page) for t in traces if t.get("type") == "heatmap"]


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the select box labelled ``label``; returns after the rerun."""
    with rerun(page):
        page.get_by_role("combobox", name=label).click()
        page.get_by_role("option").filter(has_text=option).first.click()


@pytest.mark.parametrize("viewport,name", [(DESKTOP, "1440x900"), (PROJECTOR, "1280x720")])
def test_a_sweep_runs_and_shows_its_heatmap(app_server, new_page, viewport, name):
    page = new_page(viewport)
    open_app(page, f"{app_server}/sweep")
    assert exceptions(page) == [] and page.bnviz_errors == []
    heat = heatmaps(page)
    assert len(heat) == 1, "the first question opens as a heatmap"
    assert heat[0]["y"] == ["off", "on"]
    screenshot(page, f"sweep-small-batch-{name}")

    choose(page, "Question", PRESETS["decay"].title)
    heat = heatmaps(page)
    assert len(heat) == 1
    assert heat[0]["x"] == ["0.5", "0.8", "0.9", "0.95", "0.98", "0.99", "0.995", "0.999"]
    assert heat[0]["y"] == ["off", "on"]
    z = heat[0]["z"]
    assert all(isinstance(v, float) for row in z for v in row)
    assert z[0][-1] > 3 * z[1][-1], "decay 0.999 without bias correction: the running σ² is far off"
    assert exceptions(page) == [] and page.bnviz_errors == []
    screenshot(page, f"sweep-decay-{name}")


def test_clicking_a_cell_picks_that_configuration_for_the_explorer(app_server, page):
    open_app(page, f"{app_server}/sweep")
    choose(page, "Question", PRESETS["decay"].title)
    plot = page.locator(".js-plotly-plot").first
    box = plot.locator(".nsewdrag").first.bounding_box()
    assert box is not None
    # The top-right cell: decay 0.999 (last column), bias correction on (top row).
    with rerun(page):
        page.mouse.click(box["x"] + box["width"] * 15 / 16, box["y"] + box["height"] / 4)
    link = page.locator('[data-testid="stLinkButton"] a').first
    href = link.get_attribute("href")
    assert href is not None and href.startswith("./?")
    query = dict(urllib.parse.parse_qsl(href.split("?", 1)[1]))
    assert (query["decay"], query["bias_correction"], query["steps"]) == ("0.999", "1", "200")

    page.goto(urllib.parse.urljoin(page.url, href))
    wait_idle(page)
    assert exceptions(page) == [] and page.bnviz_errors == []
    assert page.get_by_role("dialog").count() == 0, "no 'Page not found' dialog"
    assert page.get_by_text("Batch Normalization, visible").count() >= 1
    assert "decay=0.999" in page.url and "bias_correction=1" in page.url

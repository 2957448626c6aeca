"""The Explorer with LayerNorm and GroupNorm in a real browser: the schematic of what each
normalizes over names it and outlines its set, the "Normalize with" choice offers only what
exists, nothing on the page is cut, on a projector (light and dark) and at 150 % zoom."""

from __future__ import annotations

import pytest

from bnviz.app.harness import PROJECTOR, PROJECTOR_ZOOMED, ZOOM_SCALE, exceptions, open_app, plot_data, rerun

from .helpers import screenshot

pytestmark = pytest.mark.browser

# What the schematic draws: its accessible title, the outlined set's size in cells, the cells.
SCHEMATIC_JS = """() => {
  const svg = document.querySelector('.st-key-norm_grid svg');
  if (!svg) return null;
  const cell = Number(svg.querySelector('rect').getAttribute('width')) + 2;
  const outline = svg.querySelector('rect[fill="none"]');
  return {title: svg.querySelector('title').textContent,
          cells: svg.querySelectorAll('rect > title').length,
          outline: [Number(outline.getAttribute('width')) / cell,
                    Number(outline.getAttribute('height')) / cell],
          width: svg.getBoundingClientRect().width};
}"""
# Boxes in the schematic's row whose content is wider than the box (a cut equation or caption).
CUT_JS = """() => Array.from(document.querySelectorAll(
    '.st-key-norm_over [data-testid], .st-key-norm_over .katex-display, .st-key-unit_math .katex-display'))
  .filter(el => el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 3)
  .map(el => [el.className || el.getAttribute('data-testid'), (el.textContent || '').slice(0, 40),
               el.scrollWidth, el.clientWidth])"""

CASES = [
    ("layer", "/?normalization=layer&width=8&batch_size=1", "LayerNorm: one example over its n = 8 units",
     [8, 1]),
    ("group", "/?normalization=group&width=8&groups=4", "GroupNorm: one example over a group of 2 units",
     [2, 1]),
]


@pytest.mark.parametrize(("kind", "query", "title", "outline"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_explorer_draws_what_layer_and_group_norm_normalize_over(
    app_server, new_page, kind, query, title, outline, scheme
):
    page = new_page(PROJECTOR, color_scheme=scheme)
    open_app(page, app_server + query)  # waits for both runs and every chart of the first run
    assert exceptions(page) == [] and page.bnviz_errors == []
    page.wait_for_function(SCHEMATIC_JS)
    drawn = page.evaluate(SCHEMATIC_JS)
    assert drawn["title"] == title, "the schematic names the normalization and its set"
    assert drawn["outline"] == outline
    words = page.locator(".st-key-norm_words").inner_text()
    assert title in words and "μ" in words
    name = "LayerNorm" if kind == "layer" else "GroupNorm"
    assert f"What {name} normalizes over" in page.locator(".st-key-unit_view").inner_text()
    # "Normalize with" offers each example's own statistics, nothing that would read the zeros
    assert "norm=example" in page.url
    prefix = f"explorer-{kind}norm-1280x720" + ("-dark" if scheme == "dark" else "")
    screenshot(page, prefix)
    page.locator(".st-key-v_norm input").click()
    page.get_by_role("option").first.wait_for()
    assert page.get_by_role("option").all_inner_texts() == ["each example's own"]
    page.keyboard.press("Escape")
    page.locator(".st-key-norm_over").scroll_into_view_if_needed()
    assert page.evaluate(CUT_JS) == []
    screenshot(page, prefix + "-schematic")


def test_the_schematic_row_fits_a_projector_at_150_percent_zoom(app_server, new_page):
    page = new_page(PROJECTOR_ZOOMED, scale=ZOOM_SCALE)
    open_app(page, app_server + "/?normalization=group&width=16&groups=4&unit=6")
    assert exceptions(page) == [] and page.bnviz_errors == []
    page.wait_for_function(SCHEMATIC_JS)
    drawn = page.evaluate(SCHEMATIC_JS)
    assert drawn["outline"] == [4, 1] and drawn["cells"] == 6 * 12
    assert drawn["width"] <= PROJECTOR_ZOOMED["width"]
    page.locator(".st-key-norm_over").scroll_into_view_if_needed()
    assert page.evaluate(CUT_JS) == []
    screenshot(page, "explorer-groupnorm-1280x720-zoom150-schematic")


def test_the_normalizations_sweep_tells_the_four_apart_and_states_its_finding(app_server, new_page):
    page = new_page(PROJECTOR)
    open_app(page, f"{app_server}/sweep?sweep=normalizations")  # waits for the sweep it trains
    assert exceptions(page) == [] and page.bnviz_errors == []
    heat = [t for traces in plot_data(page) for t in traces if t.get("type") == "heatmap"]
    assert len(heat) == 1 and heat[0]["y"] == ["BN", "LayerNorm", "GroupNorm", "Batch Renorm"]
    finding = page.locator('[data-testid="stAlert"]').filter(has_text="LayerNorm and GroupNorm")
    assert finding.count() == 1 and "m ≤ 4" in finding.inner_text(), "the caption states the finding"
    screenshot(page, "sweep-normalizations-1280x720")
    with rerun(page):
        page.get_by_text("Lines instead of a heatmap").click()
    lines = [t for traces in plot_data(page) for t in traces
             if t.get("mode") == "lines+markers" and str(t.get("name", "")).startswith("Normalization = ")]
    assert [t["name"].split(" = ")[1] for t in lines] == ["BN", "LayerNorm", "GroupNorm", "Batch Renorm"]
    looks = {(t["line"]["color"], t["line"]["dash"], t["marker"]["symbol"]) for t in lines}
    colours, dashes, symbols = zip(*looks)
    assert len(set(colours)) == len(set(dashes)) == len(set(symbols)) == 4
    page.locator('[data-testid="stPlotlyChart"]').last.scroll_into_view_if_needed()
    screenshot(page, "sweep-normalizations-lines-1280x720")

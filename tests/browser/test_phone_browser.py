"""The Explorer on a phone (390×844): the histogram panels stacked, one under the other, the
whole width each, their titles apart, the player's bar wrapped, nothing wider than the screen,
the settings in Streamlit's collapsed sidebar, which opens as a bottom sheet under the charts
they change. On a projector the panels stay side by side.
"""

from __future__ import annotations

import pytest

from bnviz.app.harness import (
    MOVIE_JS,
    PROJECTOR,
    chart_frame,
    exceptions,
    open_app,
    plot_data,
    rerun,
    wait_idle,
)

from .helpers import screenshot

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}

# Every live chart with panels: [key, [[x-domain, y-domain] per panel (as drawn)]]; a chart
# drawn by Plotly or by the live chart's canvas (its `axes`: canvaschart.js).
PANELS_JS = """() => Array.from(document.querySelectorAll('iframe')).flatMap(f => {
  const gd = f.contentDocument && f.contentDocument.querySelector('.js-plotly-plot, .canvaschart');
  if (!gd || !(gd._fullLayout || gd.axes)) return [];
  const full = gd._fullLayout;
  const panels = gd.axes
    ? Object.keys(gd.axes).filter(k => /^x\\d*$/.test(k)).map(k => {
        const y = gd.axes[k].anchor || 'y' + k.slice(1);
        return [gd.axes[k].domain, gd.axes[y].domain];
      })
    : Object.keys(full).filter(k => /^xaxis\\d*$/.test(k)).map(k => {
        const y = full[k].anchor === 'free' ? 'yaxis' : 'yaxis' + full[k].anchor.slice(1);
        return [full[k].domain, full[y].domain];
      });
  const key = (f.closest('[class*="st-key-"]').className.match(/st-key-(\\S+)/) || [])[1];
  return panels.length > 1 ? [[key, panels]] : [];
})"""
# The histograms' titles (text traces) and the boundary's (an annotation) as drawn, each with
# the plot area of its panel: [[left, top, right, bottom], panel top, panel bottom], in pixels.
# (The chart's canvas says where it drew each text and each axis: canvaschart.js.)
TITLES_JS = f"""() => {{ {MOVIE_JS}
  const gd = movie();
  const r = gd.getBoundingClientRect();
  const area = (y) => [r.top + gd.axes[y].px[0], r.top + gd.axes[y].px[1]];
  const box = (b) => [r.left + b.x, r.top + b.y, r.left + b.x + b.w, r.top + b.y + b.h];
  const last = Object.keys(gd.axes).filter(k => /^y\\d*$/.test(k)).sort().pop();
  return gd.textBoxes.filter(b => b.kind === 'title' || b.kind === 'annotation')
    .map(b => [box(b), ...area(b.kind === 'title' ? b.axis : last)]);
}}"""
# The chart's and the page's width against their content's (a horizontal scroll shows here).
SCROLL_JS = """() => [document.documentElement, document.querySelector('[data-testid="stMain"]')]
  .filter(Boolean).map(el => [el.scrollWidth, el.clientWidth])"""
# The histograms' player: its bar and the boxes of its controls, [left, top, right, bottom].
PLAYER_JS = f"""() => {{ {MOVIE_JS}
  const doc = movie().ownerDocument;
  const box = (el) => {{ const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }};
  return {{bar: box(doc.getElementById('player')), scrub: box(doc.getElementById('scrub')),
           controls: ['play', 'restart', 'speed', 'step'].map(id => box(doc.getElementById(id)))}};
}}"""


def movie_panels(page) -> list[list[list[float]]]:
    return dict(page.evaluate(PANELS_JS))["movie_live"]


def test_on_a_phone_the_histograms_stack_and_the_page_fits_the_screen(app_server, new_page):
    page = new_page(PHONE)
    open_app(page, app_server + "/?steps=100")
    assert exceptions(page) == [] and page.bnviz_errors == [] and page.bnviz_console_errors == []
    assert len(plot_data(page)) == 4

    charts = dict(page.evaluate(PANELS_JS))
    assert len(charts["movie_live"]) == 4, "Z, Z_norm, Z̃ and the decision boundary"
    for key, panels in charts.items():
        for xd, _ in panels:
            assert xd[1] - xd[0] > 0.8, f"{key}: every panel spans most of the width: {panels}"
        bands = sorted(yd for _, yd in panels)
        assert all(a[1] <= b[0] + 1e-9 for a, b in zip(bands, bands[1:])), f"{key}: y-domains overlap {bands}"
    movie_box = page.locator(".st-key-movie iframe").bounding_box()
    assert movie_box is not None and movie_box["height"] > 4 * 240, "about 260 px a panel"

    titles = page.evaluate(TITLES_JS)
    assert len(titles) == 4
    for i, (a, top, _) in enumerate(titles):
        assert a[3] <= top + 2, f"title {i} is above its panel: {a}, panel top {top}"
        for b, _, _ in titles[i + 1 :]:
            apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
            assert apart, f"titles overlap: {a} {b}"

    for scroll_width, client_width in page.evaluate(SCROLL_JS):
        assert scroll_width <= client_width + 1, "no horizontal scroll"
    player = page.evaluate(PLAYER_JS)
    left, _, right, bottom = player["bar"]
    assert player["scrub"][2] - player["scrub"][0] > 0.85 * (right - left), "the scrubber: a row of its own"
    for control in player["controls"]:
        assert left <= control[0] and control[2] <= right + 1 and control[3] <= bottom + 1, player
    assert player["scrub"][1] >= max(c[3] for c in player["controls"]) - 1, "the scrubber under the buttons"

    # Streamlit keeps the settings in a collapsed sidebar, opened by its own button
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert sidebar.get_attribute("data-collapsed") == "true"
    box = sidebar.bounding_box()
    assert box is None or box["x"] + box["width"] <= 1, "the sidebar does not cover the charts"
    assert page.locator('[data-testid="stExpandSidebarButton"]').is_visible()

    screenshot(page, "explorer-390x844")
    chart_frame(page, "movie").locator("#player").scroll_into_view_if_needed()
    screenshot(page, "explorer-390x844-boundary-player")
    page.locator(".st-key-stats").scroll_into_view_if_needed()
    screenshot(page, "explorer-390x844-statistics")


def test_on_a_phone_the_settings_open_under_the_histograms_they_change(app_server, new_page):
    page = new_page(PHONE)
    open_app(page, app_server + "/?steps=100")
    sidebar = page.locator('[data-testid="stSidebar"]')
    page.locator('[data-testid="stExpandSidebarButton"]').click()
    page.wait_for_function("""() => document.querySelector('[data-testid="stSidebar"]')
      .getAttribute('data-collapsed') === 'false'""")
    # slid in: Streamlit's own slide and width transitions have run to their end, the sheet
    # spans the screen's width at its bottom edge
    page.wait_for_function("""() => { const r = document.querySelector('[data-testid="stSidebar"]')
      .getBoundingClientRect(); return Math.abs(r.bottom - window.innerHeight) < 1
      && Math.abs(r.left) < 1 && r.width >= window.innerWidth - 1; }""")
    # the student scrolls the histograms to the top of the screen, the settings open below them
    page.locator(".st-key-movie").evaluate("e => e.scrollIntoView({block: 'start'})")

    def visible_above_sheet() -> float:
        sheet, movie = sidebar.bounding_box(), page.locator(".st-key-movie iframe").bounding_box()
        assert sheet and movie
        assert sheet["width"] >= PHONE["width"] - 1 and sheet["height"] <= 0.5 * PHONE["height"], sheet
        assert abs(sheet["y"] + sheet["height"] - PHONE["height"]) <= 1, "a sheet at the bottom"
        return min(movie["y"] + movie["height"], sheet["y"]) - max(movie["y"], 0)

    assert visible_above_sheet() >= 0.4 * PHONE["height"], "most of the histograms show above the sheet"
    screenshot(page, "explorer-390x844-settings-open")
    before = plot_data(page)
    slider = page.locator('.st-key-s_gamma_init input[type="range"]')
    slider.scroll_into_view_if_needed()  # inside the sheet
    assert slider.is_visible()
    with rerun(page):
        slider.focus()
        page.keyboard.press("ArrowRight")
    assert "gamma_init=1.1" in page.url
    assert plot_data(page) != before, "the histograms changed"
    assert sidebar.get_attribute("data-collapsed") == "false", "the settings stay open"
    assert visible_above_sheet() >= 0.4 * PHONE["height"]
    assert exceptions(page) == [] and page.bnviz_errors == []
    screenshot(page, "explorer-390x844-settings-moved")
    page.locator('[data-testid="stSidebarCollapseButton"] button').click()  # closed again: the page as before
    page.wait_for_function("""() => document.querySelector('[data-testid="stSidebar"]')
      .getAttribute('data-collapsed') === 'true'""")


def side_by_side(panels: list[list[list[float]]]) -> bool:
    """One row of panels: x-domains apart, left to right, y-domains at one height (the map's
    shrunk to its aspect inside the others')."""
    columns = sorted(xd for xd, _ in panels)
    one_row = all(a[0] < b[1] and b[0] < a[1] for _, a in panels for _, b in panels)
    return one_row and all(a[1] < b[0] for a, b in zip(columns, columns[1:]))


def test_on_a_projector_the_histograms_stay_side_by_side_and_a_resize_stacks_them(app_server, new_page):
    page = new_page(PROJECTOR)
    open_app(page, app_server + "/?steps=100")
    panels = movie_panels(page)
    assert len(panels) == 4 and side_by_side(panels), panels
    # the window narrowed to a phone's and widened again: stacked, then side by side
    stacked_js = f"() => {{ {MOVIE_JS} return movie().axes.x2.domain[0] === 0; }}"
    page.set_viewport_size(PHONE)
    page.wait_for_function(stacked_js)
    wait_idle(page)
    assert not side_by_side(movie_panels(page))
    page.set_viewport_size(PROJECTOR)
    page.wait_for_function(f"() => !({stacked_js})()")
    wait_idle(page)
    assert side_by_side(movie_panels(page))
    assert exceptions(page) == [] and page.bnviz_errors == [] and page.bnviz_console_errors == []

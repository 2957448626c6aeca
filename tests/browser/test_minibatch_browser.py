"""The mini-batch in the Explorer's histograms, in a real browser: its points on one shared
Z_norm / Z̃ axis, and "Normalize with" kept in the URL."""

from __future__ import annotations

import pytest

from bnviz.app.harness import MOVIE_JS, PROJECTOR, exceptions, open_app, rerun

from .helpers import screenshot

pytestmark = pytest.mark.browser

POINTS_Z_NORM, POINTS_Z_TILDE = 10, 11  # the mini-batch's points (bnviz.charts.explorer)

# What the histograms' chart draws: the points' x of one trace (as its renderer decodes them,
# bnviz/app/livechart/canvaschart.js) and the ranges of the Z_norm and Z̃ x-axes it drew.
DRAWN_JS = f"""(trace) => {{ {MOVIE_JS}
  const gd = movie();
  const values = gd.ownerDocument.defaultView.CanvasChart.values;
  return {{x: Array.from(values(gd.data[trace].x)).map(Number),
           ranges: [gd.axes.x2.range, gd.axes.x3.range]}};
}}"""


def spread(page, trace: int) -> tuple[float, list]:
    drawn = page.evaluate(DRAWN_JS, trace)
    x = [v for v in drawn["x"] if v == v]  # NaN: no point
    assert len(x) >= 2, "the mini-batch's points are drawn"
    return max(x) - min(x), drawn["ranges"]


def test_frozen_gamma_3_stretches_the_batch_3_times_on_one_axis_and_normalize_is_in_the_url(
    app_server, new_page
):
    page = new_page(PROJECTOR)
    open_app(page, app_server + "/?freeze_affine=true&gamma_init=3")
    assert exceptions(page) == [] and page.bnviz_errors == []
    z_norm, ranges = spread(page, POINTS_Z_NORM)
    z_tilde, _ = spread(page, POINTS_Z_TILDE)
    assert z_tilde == pytest.approx(3 * z_norm, rel=1e-4), "γ = 3 stretches z̃ three times"
    assert ranges[0] == ranges[1], "Z_norm and Z̃ share one x-axis"
    screenshot(page, "minibatch-frozen-gamma3-1280x720")

    with rerun(page):
        page.locator(".st-key-v_norm input").click()
        page.keyboard.type("population")
        page.keyboard.press("Enter")
    assert "norm=population" in page.url
    assert exceptions(page) == []
    z_norm_pop, ranges_pop = spread(page, POINTS_Z_NORM)
    z_tilde_pop, _ = spread(page, POINTS_Z_TILDE)
    assert z_tilde_pop == pytest.approx(3 * z_norm_pop, rel=1e-4)
    assert ranges_pop == ranges, "the axes stay put when the statistics change"
    screenshot(page, "minibatch-population-1280x720")

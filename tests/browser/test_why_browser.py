"""Teaching view 8 (Why does BN help?) in a real browser at the projector's size: it opens by its
URL, waits for its three runs and the landscape probes, and shows its three charts with data,
in light and dark mode, with no error; the noise choice redraws the noisy run."""

from __future__ import annotations

import base64

import numpy as np

from bnviz.app.harness import PROJECTOR, exceptions, open_app, plot_data, rerun

from .helpers import screenshot

# The first visit trains the fixed digits experiment (three recorded runs on the workers and the
# two probed runs here): far longer than a page's usual run on a shared machine.
FIRST_VISIT_MS = 300_000


def _values(v) -> np.ndarray:
    """A trace's x or y as the page holds it: a list, or Plotly's {"dtype", "bdata"} encoding."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v)


def _charts_drawn(page) -> list:
    charts = plot_data(page)
    assert len(charts) == 3  # accuracy, percentiles, landscape
    accuracy, percentiles, landscape = charts
    assert [t["name"] for t in accuracy] == ["BN", "noisy BN", "no BN"]
    assert len(percentiles) == 9  # three percentiles of three runs
    assert len(landscape) == 6  # per run: the loss variation, the gradient band's two edges
    assert all(len(_values(t["x"])) == 20 for t in landscape)  # every 5 % of training
    assert all(np.isfinite(_values(t["y"])).all() for t in landscape)
    return charts


def test_why_view_opens_by_url_at_projector_size(app_server, new_page):
    page = new_page(PROJECTOR)
    open_app(page, f"{app_server}/why", timeout=FIRST_VISIT_MS)
    assert exceptions(page) == []
    assert page.bnviz_errors == []
    assert page.locator("h1").first.inner_text() == "Why does BN help?"
    assert page.locator('[data-testid="stMarkdownContainer"] .katex-display').count() >= 2
    _charts_drawn(page)
    accuracy = page.locator('[data-testid="stMetric"]').filter(has_text="Final test accuracy, noisy BN")
    assert accuracy.locator('[data-testid="stMetricValue"]').inner_text().endswith("%")
    assert page.locator('[data-testid="stAlertContentInfo"]').filter(has_text="Try this").count() == 1
    screenshot(page, "teach-why-1280x720")
    page.get_by_text("(a) Noisy BN").evaluate("el => el.scrollIntoView({block: 'start'})")
    screenshot(page, "teach-why-1280x720-noisy")
    page.get_by_text("(b) The loss along the gradient").evaluate("el => el.scrollIntoView({block: 'start'})")
    screenshot(page, "teach-why-1280x720-landscape")


def test_why_view_small_network_in_dark_mode_and_the_noise_choice(app_server, new_page):
    page = new_page(PROJECTOR, color_scheme="dark")
    open_app(page, f"{app_server}/why?why_net=explorer&why_noise=0.5", timeout=FIRST_VISIT_MS)
    assert exceptions(page) == []
    assert page.bnviz_errors == []
    before = _charts_drawn(page)
    page.get_by_text("(b) The loss along the gradient").evaluate("el => el.scrollIntoView({block: 'start'})")
    screenshot(page, "teach-why-1280x720-dark-landscape")
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="Noise after BN").get_by_role("slider")
    with rerun(page, timeout=FIRST_VISIT_MS):
        slider.focus()
        page.keyboard.press("End")  # the largest n
    assert exceptions(page) == []
    after = _charts_drawn(page)
    np.testing.assert_array_equal(_values(after[0][0]["y"]), _values(before[0][0]["y"]))  # plain BN
    assert not np.array_equal(_values(after[0][1]["y"]), _values(before[0][1]["y"]))  # noisy BN, n = 3
    assert "why_noise=3" in page.url

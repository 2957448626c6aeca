"""Teaching view 7 (BN folded away) in a real browser at the projector's size: it opens by its
URL with its equations, its tables and a difference at rounding level, and no error."""

from __future__ import annotations

from bnviz.app.harness import PROJECTOR, exceptions, open_app

from .helpers import screenshot


def test_folding_view_opens_by_url_at_projector_size(app_server, new_page):
    page = new_page(PROJECTOR)
    open_app(page, f"{app_server}/folding?fold_stats=population&depth=2")
    assert exceptions(page) == []
    assert page.bnviz_errors == []
    assert page.locator("h1").first.inner_text() == "BN folded away at inference"
    assert page.locator('[data-testid="stMarkdownContainer"] .katex-display').count() >= 3
    difference = page.locator('[data-testid="stMetric"]').filter(has_text="max |logit difference|")
    value = difference.locator('[data-testid="stMetricValue"]').inner_text()
    assert float(value) <= 1e-10
    assert page.locator('[data-testid="stDataFrame"]').count() == 2  # one per hidden layer
    checked = page.locator('[data-testid="stRadio"] input:checked')
    assert checked.count() == 1
    assert page.get_by_text("the population statistics").count() == 1
    assert page.locator('[data-testid="stAlertContentInfo"]').filter(has_text="Try this").count() == 1
    screenshot(page, "teach-folding-1280x720")
    tables = page.locator('[data-testid="stDataFrame"]')
    page.get_by_text("What folding did").evaluate("el => el.scrollIntoView({block: 'start'})")
    for i in range(tables.count()):  # every column fits: nothing to scroll to inside a table
        scroller = tables.nth(i).locator(".dvn-scroller")
        assert scroller.evaluate("el => el.scrollWidth - el.clientWidth") <= 1
    screenshot(page, "teach-folding-1280x720-tables")

"""The app starts in a real browser at both sizes a class uses, with no error on the page."""

import pytest

from bnviz.app.harness import DESKTOP, PROJECTOR, exceptions, open_app, plot_data

from .helpers import screenshot


@pytest.mark.parametrize("viewport,name", [(DESKTOP, "1440x900"), (PROJECTOR, "1280x720")])
def test_app_opens_with_charts_and_no_errors(app_server, new_page, viewport, name):
    page = new_page(viewport)
    open_app(page, app_server)
    assert exceptions(page) == []
    assert page.bnviz_errors == []
    assert len(plot_data(page)) >= 1, "the default page shows at least one chart"
    screenshot(page, f"home-{name}")

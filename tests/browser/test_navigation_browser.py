"""A shared link to any page works on a freshly started server.

A folder named ``pages/`` beside ``app.py`` would turn on Streamlit's older folder-based
navigation, which answers a fresh server's first request for ``/sweep`` by running the page
file alone: file names in the sidebar, no wide layout, no app.py setup. That is why the pages
live in ``bnviz/app/pages/``, away from ``app.py``. This test starts its own server so the
request really is the first.
"""

import pytest

from bnviz.app.harness import (
    LOGS,
    ROOT,
    exceptions,
    free_port,
    open_app,
    start_server,
    stop_server,
    wait_idle,
)

TITLES = ["Explorer", "Sweeps", "Covariate shift"]


@pytest.mark.parametrize("path", ["sweep", "covariate-shift"])
def test_a_deep_link_on_a_fresh_server_runs_the_whole_app(new_page, path):
    port = free_port()
    proc = start_server(ROOT / "app.py", port, LOGS / f"fresh-server-{path}.log")
    try:
        page = new_page()
        open_app(page, f"http://127.0.0.1:{port}/{path}")
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        for title in TITLES:
            assert title in nav, nav
        assert "teach_common" not in nav and "teach common" not in nav
        assert exceptions(page) == []
    finally:
        stop_server(proc)


def test_the_explorer_by_name_lands_on_the_root_with_its_settings(app_server, page):
    """The Explorer is the default page, served at "/"; "/explorer?..." must not say "Page not found"."""
    open_app(page, f"{app_server}/explorer?seed=3&batch_size=8")
    page.wait_for_function("() => !location.pathname.endsWith('/explorer')")
    wait_idle(page)
    assert page.get_by_role("dialog").count() == 0
    assert exceptions(page) == []
    assert "seed=3" in page.url and "batch_size=8" in page.url
    assert page.get_by_text("Batch Normalization, visible").count() >= 1

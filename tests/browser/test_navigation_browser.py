"""A shared link to any page works on a freshly started server.

With the pages in a folder named ``pages/``, Streamlit's older folder-based navigation
answered a fresh server's first request for ``/sweep`` by running the page file alone:
file names in the sidebar, no wide layout, no app.py setup. That is why the pages live
in ``views/``. This test starts its own server so the request really is the first.
"""

import pytest

from .conftest import LOGS, ROOT, free_port, start_server
from .helpers import exceptions, open_app

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
        proc.terminate()
        proc.wait(timeout=10)

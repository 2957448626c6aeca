"""Fixtures that run the real app in a real browser (Debian's headless Chromium).

Starting the server, launching Chromium and waiting on pages is :mod:`bnviz.app.harness`;
this file holds only the pytest side. Outside CI a missing Chromium skips these tests with
a message saying how to get one; in CI (``CI=true``) it is a failure, so missing browser
coverage can't hide.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from bnviz.app.harness import (
    COUNT_MESSAGES_JS,
    DESKTOP,
    LOGS,
    ROOT,
    free_port,
    launch_chromium,
    missing_chromium,
    start_server,
    stop_server,
)

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


def _require_chromium() -> None:
    message = missing_chromium()
    if message is None:
        return
    message += " to run the browser tests"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def app_server() -> Iterator[str]:
    """Base URL of the real app (``streamlit run app.py``)."""
    _require_chromium()
    port = free_port()
    proc = start_server(ROOT / "app.py", port, LOGS / "streamlit-server.log")
    yield f"http://127.0.0.1:{port}"
    stop_server(proc)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture
def new_page(browser) -> Iterator[Callable]:
    """``new_page(viewport=DESKTOP, color_scheme="light", scale=1)``: a fresh page, closed
    afterwards; ``scale`` is the device pixel ratio (with PROJECTOR_ZOOMED: 150 % zoom).

    Uncaught page errors are collected in ``page.bnviz_errors``, errors logged to the
    console (the page's or a chart iframe's) in ``page.bnviz_console_errors``.
    """
    contexts = []

    def make(viewport: ViewportSize | None = None, color_scheme: str = "light", scale: float = 1):
        ctx = browser.new_context(viewport=viewport or DESKTOP, color_scheme=color_scheme,
                                  device_scale_factor=scale)
        ctx.add_init_script(COUNT_MESSAGES_JS)  # the rerun waits' second witness (bnviz.app.harness)
        contexts.append(ctx)
        page = ctx.new_page()
        page.bnviz_errors = []
        page.on("pageerror", lambda exc: page.bnviz_errors.append(str(exc)))
        page.bnviz_console_errors = []
        page.on("console", lambda m: page.bnviz_console_errors.append(m.text) if m.type == "error" else None)
        return page

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def page(new_page):
    """A fresh 1440×900 page."""
    return new_page(DESKTOP)

"""Fixtures that run the real app in a real browser (Debian's headless Chromium).

Starting the server, launching Chromium and waiting on pages is :mod:`bnviz.app.harness`;
this file holds only the pytest side. Outside CI a missing Chromium skips these tests with
a message saying how to get one; in CI (``CI=true``) it is a failure, so missing browser
coverage can't hide.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bnviz.app.harness import (
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


@contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    """Hold an advisory lock on ``path`` (fcntl.LOCK_EX or LOCK_SH); the kernel drops it when
    the process ends, however it ends."""
    with path.open("a") as f:
        fcntl.flock(f, mode)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of the real app (``streamlit run app.py``): one server for the whole run.

    Under pytest-xdist the workers share one server, so what a page keeps in the server's
    st.cache_data (a sweep, a teaching view's grid of runs) trains once, not once per
    worker, and one server starts instead of one per worker. The first worker to need it
    starts it and writes its URL to a file in the run's shared temporary folder; each
    worker using it holds a shared lock on ``users.lock`` for as long as it does, and the
    worker that started it stops it once it gets that lock alone (every other user has
    finished or died). ``server.lock`` makes "read or start, then join" one step.
    """
    _require_chromium()
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        port = free_port()
        server = start_server(ROOT / "app.py", port, LOGS / "streamlit-server.log")
        yield f"http://127.0.0.1:{port}"
        stop_server(server)
        return
    shared = tmp_path_factory.getbasetemp().parent  # the controller's: one per run
    info, mutex, users = shared / "app_server.json", shared / "server.lock", shared / "users.lock"
    with ExitStack() as using:
        proc = None
        with _flock(mutex, fcntl.LOCK_EX):
            if info.exists():
                url = json.loads(info.read_text())["url"]
            else:
                port = free_port()
                proc = start_server(ROOT / "app.py", port, LOGS / "streamlit-server.log")
                url = f"http://127.0.0.1:{port}"
                info.write_text(json.dumps({"url": url}))
            using.enter_context(_flock(users, fcntl.LOCK_SH))
        yield url
        if proc is None:
            return  # ExitStack releases this worker's shared lock
        with _flock(mutex, fcntl.LOCK_EX):  # a worker arriving now starts a server of its own
            using.close()
            with _flock(users, fcntl.LOCK_EX):  # granted once no other worker uses the server
                info.unlink()
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

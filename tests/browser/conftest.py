"""Fixtures that run the real app in a real browser (Debian's headless Chromium).

Outside CI a missing Chromium skips these tests with a message saying how to get
one; in CI (``CI=true``) it is a failure, so missing browser coverage can't hide.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("BNVIZ_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "tests" / "output"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DESKTOP = {"width": 1440, "height": 900}
PROJECTOR = {"width": 1280, "height": 720}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


def _require_chromium() -> None:
    if os.path.exists(CHROMIUM):
        return
    message = (
        f"no Chromium at {CHROMIUM}: install Debian's with `sudo apt-get install chromium` "
        "(or point BNVIZ_CHROMIUM at one) to run the browser tests"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(script: str | Path, port: int, log: Path) -> subprocess.Popen:
    """``streamlit run`` a script headless on 127.0.0.1:port; returns once /_stcore/health answers."""
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(script),
        "--server.headless", "true", "--server.port", str(port),
        "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    url = f"http://127.0.0.1:{port}/_stcore/health"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.1)  # polling a server that is starting, not synchronising the app
    proc.kill()
    raise RuntimeError(f"streamlit did not answer {url} within 60 s; see {log}")


def stop_server(proc: subprocess.Popen) -> None:
    """Stop a server from :func:`start_server`: terminate, then kill after 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def app_server() -> Iterator[str]:
    """Base URL of the real app (``streamlit run app.py``)."""
    _require_chromium()
    port = free_port()
    proc = start_server(ROOT / "app.py", port, LOGS / "streamlit-server.log")
    yield f"http://127.0.0.1:{port}"
    stop_server(proc)


@pytest.fixture(scope="session")
def browser() -> Iterator:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def new_page(browser) -> Iterator[Callable]:
    """``new_page(viewport=DESKTOP, color_scheme="light")``: a fresh page, closed afterwards.

    Uncaught page errors are collected in ``page.bnviz_errors``, errors logged to the
    console (the page's or a chart iframe's) in ``page.bnviz_console_errors``.
    """
    contexts = []

    def make(viewport: dict | None = None, color_scheme: str = "light"):
        ctx = browser.new_context(viewport=viewport or DESKTOP, color_scheme=color_scheme)
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

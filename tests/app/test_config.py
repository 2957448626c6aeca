"""`.streamlit/config.toml`: starting the app (`make run`) asks no other machine anything.

Streamlit's start-up banner looks up the machine's addresses unless ``browser.serverAddress``
is set: a UDP connect towards 8.8.8.8 for the "Network URL" and, headless, an HTTP request to
checkip.amazonaws.com for the "External URL". The tests run Streamlit's own code in a child
process with an audit hook (``sys.addaudithook``) that reports every name lookup and every
connect to an address that is not this machine's loopback: such a lookup is seen before any
packet leaves, so the tests need no network and fail whether or not one is there.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import tomllib
import urllib.request
from pathlib import Path

from bnviz.app.harness import ROOT, free_port, stop_server

CONFIG = ROOT / ".streamlit" / "config.toml"
START_TIMEOUT_S = 120  # generous: the machine is shared; nothing here asserts on time

# Installed first in the child: prints "OUTBOUND <event> <address>" for every name lookup
# or connect that leaves the machine (loopback, wildcard and Unix sockets are local).
HOOK = textwrap.dedent(
    """
    import ipaddress, sys

    def _local(host):
        if host in (None, "", b"", "localhost"):
            return True
        try:
            address = ipaddress.ip_address(host.decode() if isinstance(host, bytes) else host)
        except ValueError:
            return False
        return address.is_loopback or address.is_unspecified

    def _hook(event, args):
        if event == "socket.getaddrinfo":
            host = args[0]
        elif event == "socket.connect" and isinstance(args[1], tuple):
            host = args[1][0]
        else:
            return
        if not _local(host):
            sys.__stderr__.write(f"OUTBOUND {event} {host!r}\\n")
            sys.__stderr__.flush()

    sys.addaudithook(_hook)
    """
)


def outbound(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("OUTBOUND ")]


def test_the_config_sets_what_stops_the_lookups():
    config = tomllib.loads(CONFIG.read_text())
    assert config["browser"]["serverAddress"] == "localhost"
    assert config["browser"]["gatherUsageStats"] is False
    assert config["server"]["showEmailPrompt"] is False


def test_the_start_up_banner_looks_nothing_up():
    """Streamlit's banner code with the project's config, headless (the External URL case)."""
    code = HOOK + textwrap.dedent(
        """
        from streamlit import config
        from streamlit.runtime import credentials
        from streamlit.web import bootstrap
        config.get_config_options(force_reparse=True, options_from_flags={"server.headless": True})
        assert config.get_option("server.headless")
        credentials.check_credentials()
        bootstrap._print_url(False)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=START_TIMEOUT_S
    )
    assert done.returncode == 0, done.stderr
    assert "URL: http://localhost:" in done.stdout
    assert outbound(done.stderr) == []


def test_the_server_starts_without_outbound_connections(tmp_path: Path):
    """``streamlit run app.py`` as ``make run`` starts it (no --server.address), headless."""
    port = free_port()
    code = HOOK + textwrap.dedent(
        f"""
        from streamlit.web import cli
        sys.argv = ["streamlit", "run", "app.py", "--server.headless", "true",
                    "--server.port", "{port}", "--server.fileWatcherType", "none"]
        cli.main()
        """
    )
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=o, stderr=e)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        # The banner is printed after its lookups: once its URL line is out, they are done.
        while "URL: " not in out.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, f"streamlit exited with {proc.returncode}: {err.read_text()}"
            time.sleep(0.1)  # polling a server that is starting
        assert "URL: http://localhost:" in out.read_text(), out.read_text() + err.read_text()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=30) as r:
            assert r.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as r:
            assert r.status == 200
    finally:
        stop_server(proc)
    assert outbound(err.read_text()) == []

"""deploy/: nginx in front of the replicas, the compose file and the image's command.

Debian's nginx (``/usr/sbin/nginx``) runs a copy of ``deploy/nginx.conf`` in which the
replicas' compose service names (which resolve only inside compose's network) become
127.0.0.1 ports, ``listen 8080`` a free port, and the pid file, logs and temporary files go
to a temporary folder, so it runs without root (``bnviz.app.nginx``, which
``bench/classroom.py --replicas N`` runs too). In front of two real bnviz servers, that
copy also reports which replica answered (``X-Bnviz-Upstream``), which the real file keeps
to itself. Outside CI a missing nginx skips these tests with a message saying how to get
it; in CI (``CI=true``) it is a failure, so missing coverage can't hide.

No YAML parser is among the dev dependencies: ``deploy/compose.yaml`` is read with regular
expressions, so it keeps compose's block style (one key a line, two-space indents).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from websockets.sync.client import connect
from websockets.typing import Origin, Subprotocol

from bnviz.app.harness import LOGS, ROOT, free_port, start_server, stop_server
from bnviz.app.nginx import (
    NGINX_CONF,
    REPORT_UPSTREAM,
    UPSTREAM_HEADER,
    listen_port,
    local_conf,
    missing_nginx,
    nginx_argv,
    running_nginx,
    upstream_servers,
)

DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
ONE_COMMAND = "docker compose -f deploy/compose.yaml up --build"

REQUEST_TIMEOUT_S = 10.0
VISITS = 24  # first visits: all on one replica by chance has odds 2**-23
COOKIE = re.compile(r"bnviz_replica=([0-9a-f]{32}); Path=/; HttpOnly; SameSite=Lax")


def _require_nginx() -> None:
    message = missing_nginx()
    if message is None:
        return
    message += " to run the deploy tests"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


# --------------------------------------------------------------------------- the files


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each logical line of deploy/Dockerfile."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def dockerfile(instruction: str) -> str:
    found = [rest for word, rest in dockerfile_instructions() if word == instruction]
    assert len(found) == 1, f"deploy/Dockerfile should have one {instruction}, has {len(found)}"
    return found[0]


def streamlit_options(argv: list[str]) -> tuple[str, dict[str, str]]:
    """The script and the ``--option value`` pairs of a ``python -m streamlit run`` command."""
    i = argv.index("streamlit")
    assert argv[i - 1] == "-m" and argv[i + 1] == "run", argv
    script, rest = argv[i + 2], argv[i + 3 :]
    assert len(rest) % 2 == 0 and all(r.startswith("--") for r in rest[::2]), rest
    return script, dict(zip(rest[::2], rest[1::2]))


def docs_command() -> list[str]:
    """The ``streamlit run`` command that docs/deploy.md runs for each replica."""
    text = re.sub(r"\\\n", " ", DEPLOY_DOC.read_text())
    lines = [line for line in text.splitlines() if "-m streamlit run" in line]
    assert len(lines) == 1, f"docs/deploy.md should run one `streamlit run` command, has {lines}"
    argv = shlex.split(lines[0])
    return argv[:-1] if argv[-1] == "&" else argv


def compose_services() -> dict[str, str]:
    """Each service of deploy/compose.yaml: its name and its block of lines."""
    text = COMPOSE.read_text()
    block = re.search(r"^services:\n(.*?)(?=^\S|\Z)", text, re.M | re.S)
    assert block, "no `services:` in deploy/compose.yaml"
    parts = re.split(r"^  ([A-Za-z0-9_.-]+):[ \t]*\n", block.group(1), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


# --------------------------------------------------------------------------- the files agree


def test_image_runs_the_docs_command() -> None:
    """The image's CMD is docs/deploy.md's replica command; only where it listens differs:
    every interface of the container on the port it EXPOSEs, for nginx in another container."""
    image_script, image = streamlit_options(json.loads(dockerfile("CMD")))
    docs_script, docs = streamlit_options(docs_command())
    assert image_script == docs_script == "app.py"
    assert image.keys() == docs.keys()
    listen = {"--server.address", "--server.port"}
    for option in image.keys() - listen:
        assert image[option] == docs[option], option
    assert image["--server.address"] == "0.0.0.0"
    assert image["--server.port"] == dockerfile("EXPOSE")
    assert f"127.0.0.1:{image['--server.port']}/_stcore/health" in dockerfile("HEALTHCHECK")


def test_compose_replicas_are_nginx_upstream() -> None:
    """Every replica service of compose.yaml is a server of nginx's upstream, on the port
    the image listens on, and nginx waits for each; nginx publishes the port it listens on."""
    services = compose_services()
    replicas = [name for name, body in services.items() if "<<: *replica" in body]
    assert len(replicas) >= 2, services.keys()
    assert set(services) == {*replicas, "nginx"}
    conf = NGINX_CONF.read_text()
    port = int(dockerfile("EXPOSE"))
    assert upstream_servers(conf) == [(name, port) for name in replicas]
    nginx = services["nginx"]
    depends = re.search(r"^    depends_on:\n((?:      .*\n)+)", nginx, re.M)
    assert depends, "nginx should wait for the replicas (depends_on)"
    assert re.findall(r"^      (\S+):", depends.group(1), re.M) == replicas
    assert f'"{listen_port(conf)}:{listen_port(conf)}"' in nginx
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in nginx


def test_docs_give_the_one_command() -> None:
    doc = DEPLOY_DOC.read_text()
    assert ONE_COMMAND in doc
    assert ONE_COMMAND in COMPOSE.read_text()
    assert "deploy/nginx.conf" in doc


# --------------------------------------------------------------------------- nginx


def test_nginx_accepts_the_config(tmp_path: Path) -> None:
    """``nginx -t``: the configuration parses and every directive is one Debian's nginx has."""
    _require_nginx()
    conf = local_conf(tmp_path, free_port(), [port for _, port in upstream_servers(NGINX_CONF.read_text())])
    done = subprocess.run(nginx_argv(tmp_path, conf, "-t"), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


@pytest.mark.parametrize("n", [1, 3])
def test_the_local_copy_has_one_server_per_replica(tmp_path: Path, n: int) -> None:
    """The copy for n local replicas (``bench/classroom.py --replicas n``) passes ``nginx -t``,
    names exactly their addresses in the upstream, and keeps every other line of the file."""
    _require_nginx()
    ports = [20001 + i for i in range(n)]  # nginx -t connects to none of them
    conf = local_conf(tmp_path, free_port(), ports)
    text = conf.read_text()
    assert upstream_servers(text) == [("127.0.0.1", port) for port in ports]
    done = subprocess.run(nginx_argv(tmp_path, conf, "-t"), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr

    def kept(conf: str) -> list[str]:
        placed = re.compile(r"\s*(server\s+[\w.-]+:\d+|listen\s|\w+_temp_path\s).*|\s*")
        return [line for line in conf.splitlines() if not placed.fullmatch(line)]

    assert kept(text) == kept(NGINX_CONF.read_text())


@pytest.fixture(scope="module")
def replicas() -> Iterator[list[str]]:
    """Two real bnviz servers; yields their addresses ("127.0.0.1:port")."""
    _require_nginx()
    procs, addresses = [], []
    try:
        for i in (1, 2):
            port = free_port()
            procs.append(start_server(ROOT / "app.py", port, LOGS / f"deploy-replica-{i}.log"))
            addresses.append(f"127.0.0.1:{port}")
        yield addresses
    finally:
        for p in procs:
            stop_server(p)


@pytest.fixture(scope="module")
def proxy(replicas: list[str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """nginx.conf in front of ``replicas``; yields its port. Its responses say which replica
    answered in ``X-Bnviz-Upstream``."""
    tmp = tmp_path_factory.mktemp("nginx")
    port = free_port()
    ports = [int(a.rsplit(":", 1)[1]) for a in replicas]
    conf = local_conf(tmp, port, ports, REPORT_UPSTREAM)
    with running_nginx(tmp, conf, port):
        yield port


def get(port: int, path: str = "/_stcore/health", cookie: str | None = None) -> http.client.HTTPResponse:
    """One GET through nginx, body read; the response keeps its status and headers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    try:
        conn.request("GET", path, headers={"Cookie": f"bnviz_replica={cookie}"} if cookie else {})
        r = conn.getresponse()
        r.read()
        return r
    finally:
        conn.close()


def replica_cookies(r: http.client.HTTPResponse) -> list[str]:
    """The response's Set-Cookie headers for nginx's cookie (Streamlit sets its own too)."""
    return [c for c in r.headers.get_all("Set-Cookie") or [] if c.startswith("bnviz_replica=")]


def first_visit(port: int, path: str = "/_stcore/health") -> tuple[str, str]:
    """A browser's first request: (the cookie's key nginx sets, the replica that answered)."""
    r = get(port, path)
    assert r.status == 200
    cookies = replica_cookies(r)
    assert len(cookies) == 1, r.headers.get_all("Set-Cookie")
    m = COOKIE.fullmatch(cookies[0])
    assert m, cookies[0]
    return m.group(1), r.headers[UPSTREAM_HEADER]


def test_first_visit_gets_a_cookie(proxy: int, replicas: list[str]) -> None:
    key, upstream = first_visit(proxy, "/")  # the page itself
    assert upstream in replicas
    r = get(proxy, "/", cookie=key)
    assert r.status == 200 and "text/html" in r.headers["Content-Type"]
    assert replica_cookies(r) == []  # a browser with a cookie keeps it


def test_a_cookie_keeps_its_replica(proxy: int, replicas: list[str]) -> None:
    """Every request with the key nginx gave reaches the replica that answered the first one."""
    for _ in range(VISITS):
        key, upstream = first_visit(proxy)
        for _ in range(3):
            r = get(proxy, cookie=key)
            assert r.status == 200 and replica_cookies(r) == []
            assert r.headers[UPSTREAM_HEADER] == upstream


def test_a_class_behind_one_address_is_spread(proxy: int, replicas: list[str]) -> None:
    """Browsers from one address (127.0.0.1 here, a NAT in a classroom) use every replica,
    both on their first visits and by the keys they send."""
    assert {first_visit(proxy)[1] for _ in range(VISITS)} == set(replicas)
    keys = [f"{i:032x}" for i in range(VISITS)]
    assert {get(proxy, cookie=key).headers[UPSTREAM_HEADER] for key in keys} == set(replicas)


def test_websocket_through_nginx(proxy: int, replicas: list[str]) -> None:
    """Streamlit's websocket opens through nginx, like a browser's (same Origin, the
    cookie), on the replica of the cookie, and carries frames both ways."""
    key, upstream = first_visit(proxy)
    with connect(
        f"ws://127.0.0.1:{proxy}/_stcore/stream",
        origin=Origin(f"http://127.0.0.1:{proxy}"),
        subprotocols=[Subprotocol("streamlit")],
        additional_headers={"Cookie": f"bnviz_replica={key}"},
        proxy=None,
        open_timeout=REQUEST_TIMEOUT_S,
    ) as ws:
        assert ws.response is not None and ws.response.status_code == 101
        assert ws.response.headers[UPSTREAM_HEADER] == upstream
        assert ws.subprotocol == "streamlit"
        assert ws.ping().wait(REQUEST_TIMEOUT_S), "no pong through nginx"


class _Recorder(BaseHTTPRequestHandler):
    """Answers 200 and keeps the headers of each request it gets in ``server.seen``."""

    def do_GET(self) -> None:
        self.server.seen.append(self.headers)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_replica_gets_what_streamlit_checks(tmp_path: Path) -> None:
    """What a replica receives for a browser's websocket request: the Host the browser
    used, port included (Streamlit accepts a websocket whose Origin is that host:port),
    the upgrade, the cookie and the client's address."""
    _require_nginx()
    recorder = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    recorder.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=recorder.serve_forever, daemon=True)
    thread.start()
    try:
        port = free_port()
        n = len(upstream_servers(NGINX_CONF.read_text()))
        conf = local_conf(tmp_path, port, [recorder.server_address[1]] * n)
        with running_nginx(tmp_path, conf, port):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
            conn.request("GET", "/_stcore/stream", headers={
                "Host": "bnviz.example.edu:8080", "Origin": "http://bnviz.example.edu:8080",
                "Upgrade": "websocket", "Connection": "Upgrade", "Cookie": "bnviz_replica=abc",
            })  # fmt: skip
            assert conn.getresponse().status == 200
            conn.close()
    finally:
        recorder.shutdown()
        recorder.server_close()
        thread.join()
    (seen,) = recorder.seen  # type: ignore[attr-defined]
    assert seen["Host"] == "bnviz.example.edu:8080"
    assert seen["Upgrade"] == "websocket"
    assert seen["Connection"].lower() == "upgrade"
    assert seen["Cookie"] == "bnviz_replica=abc"
    assert seen["X-Forwarded-For"] == "127.0.0.1"

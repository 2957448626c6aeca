"""deploy/nginx.conf in front of replicas on this machine, with Debian's nginx and no root.

``tests/deploy`` and ``bench/classroom.py --replicas N`` run the shipped configuration
through this module, so both exercise what a department deploys: :func:`local_conf` reads
``deploy/nginx.conf`` and changes only where things are — its ``server`` lines of the
``upstream bnviz`` block become one ``server 127.0.0.1:<port>;`` per local replica (compose's
service names resolve only inside compose's network), ``listen 8080`` becomes a free port
of 127.0.0.1, and the temporary files go to a folder of the caller's. The upstream's
``hash ... consistent``, the sticky cookie and the websocket directives stay the file's own.
:func:`running_nginx` runs it in the foreground, its pid file and logs in that folder.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bnviz.app.harness import ROOT, stop_server

NGINX = "/usr/sbin/nginx"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
# Added to ``location /`` by the tests and the bench, never by the shipped file: each
# response says which replica answered it.
REPORT_UPSTREAM = "add_header X-Bnviz-Upstream $upstream_addr always;"
UPSTREAM_HEADER = "X-Bnviz-Upstream"
UPSTREAM_SERVER = re.compile(r"^([ \t]*server[ \t]+)([\w.-]+):(\d+)([ \t]*;)", re.M)
START_TIMEOUT_S = 10.0  # an upper bound: nginx answers within milliseconds
POLL_S = 0.05  # between two connection attempts to an nginx that is starting


def missing_nginx() -> str | None:
    """Why nginx cannot be run (no binary at :data:`NGINX`), or None."""
    if os.path.exists(NGINX):
        return None
    return f"no nginx at {NGINX}: install Debian's with `sudo apt-get install nginx`"


def upstream_servers(conf: str) -> list[tuple[str, int]]:
    """(host, port) of each ``server`` line of the ``upstream bnviz`` block."""
    block = re.search(r"upstream bnviz \{(.*?)\}", conf, re.S)
    assert block, "no `upstream bnviz { ... }` block in nginx.conf"
    return [(m.group(2), int(m.group(3))) for m in UPSTREAM_SERVER.finditer(block.group(1))]


def listen_port(conf: str) -> int:
    ports = re.findall(r"^\s*listen\s+(\d+)\s*;", conf, re.M)
    assert len(ports) == 1, f"nginx.conf should listen on one port, found {ports}"
    return int(ports[0])


def local_conf(folder: Path, listen: int, ports: list[int], location_extra: str = "") -> Path:
    """Write the copy of deploy/nginx.conf that runs here, as ``folder/nginx.conf``; return its path.

    The upstream gets one server per port (127.0.0.1:port, in the order given, where the
    file's first server line stands; the file's others go), the server listens on
    127.0.0.1:listen, temporary files go under ``folder`` and ``location_extra`` is added
    to ``location /``.
    """
    assert ports, "nginx needs at least one replica"
    conf = NGINX_CONF.read_text()
    block = re.search(r"upstream bnviz \{(.*?)\}", conf, re.S)
    assert block, "no `upstream bnviz { ... }` block in nginx.conf"
    lines = block.group(1).split("\n")
    found = [(i, m) for i, line in enumerate(lines) if (m := UPSTREAM_SERVER.fullmatch(line))]
    assert found, "the upstream block has no `server host:port;` line"
    first, m = found[0]
    servers = [f"{m.group(1)}127.0.0.1:{port}{m.group(4)}" for port in ports]
    others = {i for i, _ in found[1:]}
    inner = lines[:first] + servers + [line for i, line in enumerate(lines) if i > first and i not in others]
    conf = conf[: block.start(1)] + "\n".join(inner) + conf[block.end(1) :]
    conf, n = re.subn(r"^(\s*)listen\s+\d+\s*;", rf"\g<1>listen 127.0.0.1:{listen};", conf, flags=re.M)
    assert n == 1
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = "".join(f"\n    {kind}_temp_path {folder / kind};" for kind in kinds)
    conf, n = re.subn(r"^http \{", lambda m: m.group(0) + temp, conf, flags=re.M)
    assert n == 1
    conf, n = re.subn(r"location / \{", lambda m: m.group(0) + "\n" + location_extra, conf)
    assert n == 1
    path = folder / "nginx.conf"
    path.write_text(conf)
    return path


def nginx_argv(folder: Path, conf: Path, *extra: str) -> list[str]:
    """nginx on ``conf`` with its prefix, pid file and startup log in ``folder``, in the
    foreground (as the official image runs it: ``-g "daemon off;"``)."""
    return [
        NGINX, "-p", f"{folder}/", "-c", str(conf), "-e", str(folder / "startup.log"),
        "-g", f"daemon off; pid {folder / 'nginx.pid'};", *extra,
    ]  # fmt: skip


@contextmanager
def running_nginx(folder: Path, conf: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """nginx on ``conf`` until the block ends (then stopped and reaped); yields its master
    process once it accepts on ``port``. Its output (the access log, errors) goes to
    ``folder/nginx.out``."""
    with (folder / "nginx.out").open("wb") as out:  # nginx writes to its own copy of the descriptor
        proc = subprocess.Popen(nginx_argv(folder, conf), stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                output = (folder / "nginx.out").read_text()
                raise RuntimeError(f"nginx exited with {proc.returncode}: {output}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(POLL_S)  # polling a server that is starting, not synchronising
        yield proc
    finally:
        stop_server(proc)

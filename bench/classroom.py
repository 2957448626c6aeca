"""A classroom on one server: N students open a shared link and play with the Explorer at once.

Starts the real app (``app.py``) on a free port and lets ``--sessions`` students open
the shared link and act for ``--seconds`` each: move a sidebar slider one notch (and
back), pick a layer or unit, press Step or Reset. Two kinds of client:

- ``--client ws`` (default; ``bench/classroom_ws.py``): each student is one websocket
  speaking Streamlit's own protocol from Python, as the browser does
  (``/_stcore/stream``, subprotocol "streamlit"; a ``BackMsg.rerun_script`` with the
  query string, every widget's state and, for the layer/unit boxes, the fragment id;
  ForwardMsgs back until ``script_finished``; unchanged large elements come back as
  references to the client's cache, as for a browser). A student costs the client a few
  ms of CPU per action, so the figures measure the server. Each action is timed from
  sending the rerun request to its ``script_finished``. Play/Pause and the scrubber run
  in the browser (Plotly), so there is no server work to simulate for them.
- ``--client browser`` (``bench/classroom_browser.py``): real pages (one Playwright
  context each, all in one headless Chromium) that also press Play and Pause; each
  action is timed from the key press or click until the rerun it caused has finished
  (the MutationObserver on ``data-test-script-state`` of ``bnviz.app.harness``).
  Chromium needs several CPU seconds to draw one Explorer page (``/usr/bin/time`` around
  ``--client browser --sessions 1 --seconds 0``, which draws two: about 14 CPU seconds in
  all, of which the server reports 3), so on a small machine the browser, not the
  server, is what this measures beyond a handful of pages.

Checks, each counted as an error:

- exception elements (exception boxes), uncaught page errors, a "Page not found"
  dialog, actions that time out, dropped websockets, runs that do not finish;
- determinism: every session of a group opened the same link and must show the same
  numbers (summary line and training-curve data); after moving a slider and back it
  must show them again;
- isolation: groups use different seeds, so their numbers must differ, and every
  session's URL must keep its own seed and its own slider values;
- navigation: every session must list the same pages as a session opened at "/".

Prints sessions served, errors, p50/p95 interaction latency (ms), server peak RSS and
RSS per session, and the server's own cache counters (``/_stcore/metrics``). Exits 1
on any error.

``--replicas N`` serves the class as docs/deploy.md's deployment does: N app servers on
free ports, each training in ``BNVIZ_WORKERS`` = the cores / N processes (at least 1), all
with one run cache (``BNVIZ_CACHE_DIR``), behind Debian's nginx running the shipped
``deploy/nginx.conf`` (``bnviz.app.nginx``: only its upstream's server lines, the port it
listens on and its temporary paths are changed) as an unprivileged foreground process,
its config, logs and temporary files in ``tests/output/classroom-nginx/``. Each client
gets nginx's sticky cookie from its first response and sends it from then on, as a
browser does. Then it also prints, per replica, the sessions it served, its peak RSS with
its workers and its CPU; the server RSS line sums the replicas. A replica's "server CPU"
is its server process's own (the interpreter lock's core), its workers' is apart.

    .venv/bin/python bench/classroom.py                 # 30 websocket sessions for 60 s
    .venv/bin/python bench/classroom.py --sessions 60 --seconds 60
    .venv/bin/python bench/classroom.py --client browser --sessions 3 --seconds 45
    .venv/bin/python bench/classroom.py --replicas 2    # one replica per core, behind nginx

In browser mode all pages share the machine's cores with the server, so latencies are
an upper bound on what a class with its own laptops sees.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import classroom_browser
import classroom_ws
from classroom_common import Results

from bnviz.app.harness import LOGS, ROOT, free_port, missing_chromium, start_server, stop_server
from bnviz.app.nginx import REPORT_UPSTREAM, local_conf, missing_nginx, running_nginx
from bnviz.workers import DiskCache

LOG = LOGS / "classroom-server.log"
# The shared link: a permalink with a few settings, as the address bar shows it (the
# Explorer is the default page, so it lives at "/"); group g of the class gets seed=g.
LINK = "/?dataset=moons&steps=300&width=8&lr=0.1&batch_size=16"
SAMPLE_EVERY = 0.25  # seconds between RSS samples of the server (a sampling period)


# --------------------------------------------------------------------------- the server


def rss_kb(pid: int, field_name: str = "VmRSS") -> int:
    """A /proc/<pid>/status memory field in kB (0 once the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def process_trees(roots: list[int]) -> list[list[int]]:
    """Each root pid and all its descendants, from one pass over /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        children[ppid].append(int(stat.parent.name))
    trees = []
    for root in roots:
        tree, todo = [], [root]
        while todo:
            p = todo.pop()
            tree.append(p)
            todo.extend(children.get(p, []))
        trees.append(tree)
    return trees


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MemorySampler:
    """Samples the RSS of some processes (the servers, nginx) and their children, in sum and
    each with its children; the peaks also from the kernel's VmHWM of each root process."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.samples: list[tuple[float, int]] = []  # (time, kB of every tree together)
        self.tree_peaks = [0] * len(pids)  # kB of each root with its children, the largest sample
        self.children_peaks = [0] * len(pids)  # kB of each root's children together, the largest sample
        self.hwm = [0] * len(pids)  # VmHWM of each root, read by finish() while it runs
        self._stop = asyncio.Event()

    def sample(self) -> int:
        per_process = [[rss_kb(p) for p in tree] for tree in process_trees(self.pids)]
        per_tree = [sum(kb) for kb in per_process]
        self.tree_peaks = [max(a, b) for a, b in zip(self.tree_peaks, per_tree, strict=True)]
        children = [sum(kb[1:]) for kb in per_process]
        self.children_peaks = [max(a, b) for a, b in zip(self.children_peaks, children, strict=True)]
        total = sum(per_tree)
        self.samples.append((time.monotonic(), total))
        return total

    async def run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            try:
                await asyncio.wait_for(self._stop.wait(), SAMPLE_EVERY)
            except TimeoutError:
                pass

    def stop(self) -> None:
        self._stop.set()

    def finish(self) -> None:
        """Read each root's VmHWM: call it before the processes stop."""
        self.hwm = [max(h, rss_kb(pid, "VmHWM")) for h, pid in zip(self.hwm, self.pids, strict=True)]

    def peak_kb(self) -> int:
        """The larger of the sampled total and the sum of the root processes' own peaks."""
        sampled = max((kb for _, kb in self.samples), default=0)
        return max(sampled, sum(self.hwm))

    def tree_peak_kb(self, i: int) -> int:
        return max(self.tree_peaks[i], self.hwm[i])

    def split(self) -> str:
        """The peak of the root processes alone and the peak of their children, in words."""
        own, children = sum(self.hwm) // 1024, sum(self.children_peaks) // 1024
        return (f"{own} MB the server process{'es' * (len(self.pids) > 1)} alone (VmHWM), "
                f"{children} MB their child processes, the training workers (largest sample)")


class CpuMeter:
    """CPU seconds of some root processes, and of their children, since it was made."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.start = {p: cpu_seconds(p) for tree in process_trees(pids) for p in tree}
        self.own = [0.0] * len(pids)  # each root process's own
        self.children = [0.0] * len(pids)  # its children's (a server's training workers)

    def read(self) -> None:
        """CPU used since the start, as of now (children that have exited are not counted)."""
        for i, tree in enumerate(process_trees(self.pids)):
            used = [cpu_seconds(p) - self.start.get(p, 0.0) for p in tree]
            self.own[i], self.children[i] = used[0], sum(used[1:])


@dataclass
class Replica:
    """One app server of the class."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def start_replicas(args: argparse.Namespace) -> list[Replica]:
    """``args.replicas`` app servers on free ports, each with ``BNVIZ_WORKERS=args.workers``
    training processes and all with one run cache (``BNVIZ_CACHE_DIR=args.cache_dir``)."""
    os.environ["BNVIZ_WORKERS"] = str(args.workers)
    os.environ["BNVIZ_CACHE_DIR"] = str(args.cache_dir)
    replicas: list[Replica] = []
    try:
        for i in range(1, args.replicas + 1):
            port = free_port()
            log = LOG if args.replicas == 1 else LOG.with_name(f"{LOG.stem}-{i}{LOG.suffix}")
            replicas.append(Replica(start_server(args.app, port, log), port, log))
    except BaseException:
        for r in replicas:
            stop_server(r.proc)
        raise
    return replicas


def server_metrics(base: str) -> dict[str, float]:
    """The server's cache counters from /_stcore/metrics, summed per metric and cache."""
    try:
        with urllib.request.urlopen(base + "/_stcore/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        m = re.match(r'^(\w+)\{([^}]*)\}\s+(\S+)$', line)
        if not m or m.group(1).endswith("_bucket"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
        parts = [m.group(1), labels.get("cache", "")] + ([labels["result"]] if "result" in labels else [])
        key = ":".join(parts)
        out[key] += float(m.group(3))
    return dict(out)


# --------------------------------------------------------------------------- the class


def check_groups(res: Results) -> None:
    """Same link, same numbers; different seed, different numbers."""
    homes = {}
    for seed, by_session in sorted(res.fingerprints.items()):
        values = set(by_session.values())
        if len(values) > 1:
            res.error("determinism", f"seed {seed}: sessions {sorted(by_session)} opened the same link "
                                     f"and showed {len(values)} different sets of numbers")
        homes[seed] = next(iter(values))
    seen: dict[str, int] = {}
    for seed, home in homes.items():
        if home in seen:
            res.error("isolation", f"seeds {seen[home]} and {seed} showed identical numbers")
        seen[home] = seed


@dataclass
class Measured:
    """What the bench measured of the servers (and nginx) while the class ran."""

    replicas: list[Replica]
    memory: MemorySampler  # the replicas, their workers included
    cpu: CpuMeter  # the replicas' own, and their workers'
    idle_kb: int
    wall: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    nginx_memory: MemorySampler | None = None
    nginx_cpu: CpuMeter | None = None


def summed(dicts: list[dict[str, float]]) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for d in dicts:
        for k, v in d.items():
            out[k] += v
    return dict(out)


async def classroom(args: argparse.Namespace) -> int:
    replicas = start_replicas(args)
    res = Results()
    try:
        with contextlib.ExitStack() as stack:
            nginx = None
            if args.proxied:
                folder = LOGS / "classroom-nginx"  # the generated config, nginx's logs and temporary files
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
                port = free_port()
                conf = local_conf(folder, port, [r.port for r in replicas], REPORT_UPSTREAM)
                nginx = stack.enter_context(running_nginx(folder, conf, port))
                base = f"http://127.0.0.1:{port}"
            else:
                base = f"http://{replicas[0].address}"
            pids = [r.proc.pid for r in replicas]
            m = Measured(replicas, MemorySampler(pids), CpuMeter(pids), 0)
            m.idle_kb = m.memory.sample()
            if nginx is not None:
                m.nginx_memory, m.nginx_cpu = MemorySampler([nginx.pid]), CpuMeter([nginx.pid])
            samplers = [x for x in (m.memory, m.nginx_memory) if x is not None]
            wall0, client0 = time.monotonic(), time.process_time()
            tasks = [asyncio.create_task(x.run()) for x in samplers]

            def done() -> None:
                m.wall = time.monotonic() - wall0
                for meter in (m.cpu, m.nginx_cpu):
                    if meter is not None:
                        meter.read()
                res.client_cpu = time.process_time() - client0
                for x in samplers:
                    x.stop()

            run_class = classroom_ws.run_class if args.client == "ws" else classroom_browser.run_class
            try:
                nav = await run_class(base, args, res, done)
            finally:
                for x in samplers:
                    x.stop()
                    x.finish()
                await asyncio.gather(*tasks)
            m.metrics = summed([server_metrics(f"http://{r.address}") for r in replicas])
    finally:
        for r in replicas:
            stop_server(r.proc)

    check_groups(res)
    unknown = set(res.replica.values()) - {r.address for r in replicas}
    if unknown:
        res.error("sticky", f"sessions reached {sorted(unknown)}, none of the replicas")
    wrong_nav = sorted(i for i, links in res.nav.items() if links != nav)
    if wrong_nav:
        res.error("navigation", f"sessions {wrong_nav} listed {list(res.nav[wrong_nav[0]])}; "
                                f"a session opened at / lists {list(nav)}")
    report(args, res, m)
    return 1 if res.errors or res.served < args.sessions else 0


def percentile(values: list[float], q: float) -> int:
    if not values:
        return 0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def p50_p95(values: list[float]) -> str:
    return f"p50 {percentile(values, 0.5)} ms, p95 {percentile(values, 0.95)} ms"


def report(args: argparse.Namespace, res: Results, m: Measured) -> None:
    everything = [ms for values in res.latency.values() for ms in values]
    memory, wall, metrics, n_rep = m.memory, m.wall, m.metrics, len(m.replicas)
    peak = memory.peak_kb()
    cpu = sum(m.cpu.own)
    client = "websocket clients" if args.client == "ws" else "browser pages (headless Chromium)"
    print(f"classroom: {args.sessions} {client} x {args.seconds:g} s on {args.link} "
          f"(+ seed=0…{args.groups - 1}), ramp {args.ramp:g} s, think time {args.think:g} s, "
          f"{os.cpu_count()} CPU cores, "
          f"load average {os.getloadavg()[0]:.0f}")
    runs = f"{args.cache_runs} runs in it at the start"
    if args.proxied:
        print(f"servers                {n_rep} replica{'s' * (n_rep > 1)} behind nginx (deploy/nginx.conf), "
              f"BNVIZ_WORKERS={args.workers} each, one run cache {args.cache_dir} ({runs})")
    else:
        print(f"server                 BNVIZ_WORKERS={args.workers}, run cache {args.cache_dir} ({runs})")
    print(f"sessions served        {res.served}/{args.sessions}")
    print(f"errors                 {sum(res.errors.values())}"
          + "".join(f"\n  {kind:20} {n}   e.g. {res.examples[kind]}" for kind, n in res.errors.items()))
    print(f"first load             {p50_p95(res.load_ms)} ({len(res.load_ms)} loads)")
    print(f"interaction latency    {p50_p95(everything)} ({len(everything)} actions)")
    for kind, values in sorted(res.latency.items()):
        print(f"  {kind:20} {p50_p95(values)} ({len(values)})")
    if res.play_rate:
        print(f"play (in the browser)  {statistics.median(res.play_rate):.1f} checkpoints/s median "
              f"(nominal {1 / 0.4:.1f}), {len(res.play_rate)} plays")
    every = f" of {n_rep} replicas together, their workers included" if n_rep > 1 else ""
    print(f"server RSS             idle {m.idle_kb // 1024} MB, peak {peak // 1024} MB, "
          f"+{(peak - m.idle_kb) // 1024 // max(args.sessions, 1)} MB per session{every}; "
          f"of it at most {memory.split()}")
    n = len(memory.samples)
    quarters = [memory.samples[min(n - 1, k * n // 4)][1] // 1024 for k in (1, 2, 3, 4)] if n else []
    print(f"server RSS over time   {' → '.join(f'{mb} MB' for mb in quarters)} "
          "(at 25/50/75/100 % of the run)")
    print(f"server CPU             {cpu:.0f} s in {wall:.0f} s wall "
          f"({100 * cpu / max(wall, 1e-9):.0f} % of a core"
          + (f", {n_rep} server processes together)" if n_rep > 1 else ")"))
    sessions = Counter(res.replica.values())
    if args.proxied:
        for i, r in enumerate(m.replicas):
            own, workers = m.cpu.own[i], m.cpu.children[i]
            served = f"{sessions[r.address]} sessions" if args.client == "ws" else "sessions not known"
            print(f"  replica {i + 1} {r.address:15} {served}, peak RSS {memory.tree_peak_kb(i) // 1024} MB, "
                  f"CPU {own:.0f} s ({100 * own / max(wall, 1e-9):.0f} % of a core), "
                  f"its workers {workers:.0f} s")
        if m.nginx_memory is not None and m.nginx_cpu is not None:
            nginx_cpu = m.nginx_cpu.own[0] + m.nginx_cpu.children[0]
            print(f"  nginx                {nginx_cpu:.1f} s CPU ({100 * nginx_cpu / max(wall, 1e-9):.0f} % "
                  f"of a core), peak RSS {m.nginx_memory.tree_peak_kb(0) // 1024} MB")
    if args.client == "ws":
        actions = len(everything) + len(res.load_ms)
        print(f"client                 {res.client_cpu:.1f} s CPU for all sessions "
              f"({100 * res.client_cpu / max(wall, 1e-9):.0f} % of a core), received "
              f"{res.bytes / 2**20:.0f} MB ({res.bytes / 2**10 / max(actions, 1):.0f} kB per rerun; "
              f"{res.refs} unchanged elements not resent, as for a browser's message cache)")
    caches = {k.split(":")[1] or "session state": v for k, v in metrics.items()
              if k.startswith("cache_memory_bytes:")}
    if caches:
        sizes = ", ".join(f"{name} {v / 2**20:.1f} MB" for name, v in caches.items())
        print(f"server caches          {sizes}" + (" (summed over the replicas)" if n_rep > 1 else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "client": args.client, "sessions": args.sessions, "served": res.served,
            "errors": dict(res.errors),
            "p50_ms": percentile(everything, 0.5), "p95_ms": percentile(everything, 0.95),
            "by_action": {kind: {"n": len(v), "p50_ms": percentile(v, 0.5), "p95_ms": percentile(v, 0.95)}
                          for kind, v in sorted(res.latency.items())},
            "load_p50_ms": percentile(res.load_ms, 0.5), "load_p95_ms": percentile(res.load_ms, 0.95),
            "server_cpu_s": round(cpu, 1), "wall_s": round(wall, 1), "client_cpu_s": round(res.client_cpu, 1),
            "peak_rss_mb": peak // 1024, "idle_rss_mb": m.idle_kb // 1024, "metrics": metrics,
            "replicas": [{"address": r.address, "sessions": sessions[r.address],
                          "peak_rss_mb": memory.tree_peak_kb(i) // 1024, "cpu_s": round(m.cpu.own[i], 1),
                          "workers_cpu_s": round(m.cpu.children[i], 1)} for i, r in enumerate(m.replicas)],
            "workers_per_replica": args.workers, "proxied": args.proxied,
        }, indent=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--client", choices=("ws", "browser"), default="ws",
                        help="ws: Streamlit's websocket protocol from Python, so the figures measure the "
                             "server (default); browser: real pages in headless Chromium")
    parser.add_argument("--sessions", type=int, default=30, help="concurrent sessions (default 30)")
    parser.add_argument("--seconds", type=float, default=60, help="how long each session acts (default 60)")
    parser.add_argument("--groups", type=int, default=3,
                        help="sessions i and j open the same link when i ≡ j mod groups (default 3)")
    parser.add_argument("--think", type=float, default=1.0,
                        help="mean pause of a student between actions, in s (default 1; 0 = back to back)")
    parser.add_argument("--ramp", type=float,
                        help="the class opens the link over this many seconds "
                             "(default 10 for ws, 30 for browser; 0 = all at once)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds before an action times out")
    parser.add_argument("--link", default=LINK, help=f"the shared link, without seed (default {LINK})")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--app", type=Path, default=ROOT / "app.py",
                        help="the app to serve (another checkout's app.py, say; default this one's)")
    parser.add_argument("--replicas", type=int, default=1,
                        help="app servers; more than one go behind nginx with deploy/nginx.conf (default 1)")
    parser.add_argument("--proxy", action="store_true", help="nginx in front even of one replica")
    parser.add_argument("--workers", type=int,
                        help="BNVIZ_WORKERS of each replica (default: BNVIZ_WORKERS if set, else the "
                             "cores divided by the replicas, at least 1)")
    parser.add_argument("--cache-dir", type=Path,
                        help="the run cache of every replica (default: BNVIZ_CACHE_DIR if set, else the "
                             "server's default; an empty folder measures a cold cache)")
    args = parser.parse_args(argv)
    if args.client == "browser" and (missing := missing_chromium()):
        parser.error(missing)
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    args.proxied = args.replicas > 1 or args.proxy
    if args.proxied and (missing := missing_nginx()):
        parser.error(missing)
    if args.workers is None:
        cores = len(os.sched_getaffinity(0))
        args.workers = int(os.environ.get("BNVIZ_WORKERS") or max(1, cores // args.replicas))
    args.cache_dir = args.cache_dir or DiskCache().folder
    args.cache_runs = len(list(Path(args.cache_dir).glob("*.pkl")))
    if args.ramp is None:
        args.ramp = 10.0 if args.client == "ws" else 30.0
    args.groups = max(1, min(args.groups, args.sessions))
    return asyncio.run(classroom(args))


if __name__ == "__main__":
    sys.exit(main())

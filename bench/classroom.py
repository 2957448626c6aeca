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

    .venv/bin/python bench/classroom.py                 # 30 websocket sessions for 60 s
    .venv/bin/python bench/classroom.py --sessions 60 --seconds 60
    .venv/bin/python bench/classroom.py --client browser --sessions 3 --seconds 45

In browser mode all pages share the machine's cores with the server, so latencies are
an upper bound on what a class with its own laptops sees.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import classroom_browser
import classroom_ws
from classroom_common import Results

from bnviz.app.harness import LOGS, ROOT, free_port, missing_chromium, start_server, stop_server

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


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        children[ppid].append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MemorySampler:
    """Samples the RSS of the server and its children; the peak also from the kernel's VmHWM."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, int]] = []
        self._stop = asyncio.Event()

    def sample(self) -> int:
        total = sum(rss_kb(p) for p in process_tree(self.pid))
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

    def peak_kb(self) -> int:
        sampled = max((kb for _, kb in self.samples), default=0)
        return max(sampled, rss_kb(self.pid, "VmHWM"))


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


async def classroom(args: argparse.Namespace) -> int:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(ROOT / "app.py", port, LOG)
    res = Results()
    try:
        memory = MemorySampler(proc.pid)
        idle_kb = memory.sample()
        cpu0, wall0, client0 = cpu_seconds(proc.pid), time.monotonic(), time.process_time()
        sampler = asyncio.create_task(memory.run())
        wall = cpu = 0.0

        def done() -> None:
            nonlocal wall, cpu
            wall, cpu = time.monotonic() - wall0, cpu_seconds(proc.pid) - cpu0
            res.client_cpu = time.process_time() - client0
            memory.stop()

        run_class = classroom_ws.run_class if args.client == "ws" else classroom_browser.run_class
        try:
            nav = await run_class(base, args, res, done)
        finally:
            memory.stop()
            await sampler
        metrics = server_metrics(base)
    finally:
        stop_server(proc)

    check_groups(res)
    wrong_nav = sorted(i for i, links in res.nav.items() if links != nav)
    if wrong_nav:
        res.error("navigation", f"sessions {wrong_nav} listed {list(res.nav[wrong_nav[0]])}; "
                                f"a session opened at / lists {list(nav)}")
    report(args, res, memory, idle_kb, cpu, wall, metrics)
    return 1 if res.errors or res.served < args.sessions else 0


def percentile(values: list[float], q: float) -> int:
    if not values:
        return 0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def p50_p95(values: list[float]) -> str:
    return f"p50 {percentile(values, 0.5)} ms, p95 {percentile(values, 0.95)} ms"


def report(args: argparse.Namespace, res: Results, memory: MemorySampler, idle_kb: int, cpu: float,
           wall: float, metrics: dict[str, float]) -> None:
    everything = [ms for values in res.latency.values() for ms in values]
    peak = memory.peak_kb()
    client = "websocket clients" if args.client == "ws" else "browser pages (headless Chromium)"
    print(f"classroom: {args.sessions} {client} x {args.seconds:g} s on {args.link} "
          f"(+ seed=0…{args.groups - 1}), ramp {args.ramp:g} s, think time {args.think:g} s, "
          f"{os.cpu_count()} CPU cores, "
          f"load average {os.getloadavg()[0]:.0f}")
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
    print(f"server RSS             idle {idle_kb // 1024} MB, peak {peak // 1024} MB, "
          f"+{(peak - idle_kb) // 1024 // max(args.sessions, 1)} MB per session")
    n = len(memory.samples)
    quarters = [memory.samples[min(n - 1, k * n // 4)][1] // 1024 for k in (1, 2, 3, 4)] if n else []
    print(f"server RSS over time   {' → '.join(f'{mb} MB' for mb in quarters)} "
          "(at 25/50/75/100 % of the run)")
    print(f"server CPU             {cpu:.0f} s in {wall:.0f} s wall "
          f"({100 * cpu / max(wall, 1e-9):.0f} % of a core)")
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
        print(f"server caches          {sizes}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "client": args.client, "sessions": args.sessions, "served": res.served,
            "errors": dict(res.errors),
            "p50_ms": percentile(everything, 0.5), "p95_ms": percentile(everything, 0.95),
            "by_action": {kind: {"n": len(v), "p50_ms": percentile(v, 0.5), "p95_ms": percentile(v, 0.95)}
                          for kind, v in sorted(res.latency.items())},
            "load_p50_ms": percentile(res.load_ms, 0.5), "load_p95_ms": percentile(res.load_ms, 0.95),
            "server_cpu_s": round(cpu, 1), "wall_s": round(wall, 1), "client_cpu_s": round(res.client_cpu, 1),
            "peak_rss_mb": peak // 1024, "idle_rss_mb": idle_kb // 1024, "metrics": metrics,
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
    args = parser.parse_args(argv)
    if args.client == "browser" and (missing := missing_chromium()):
        parser.error(missing)
    if args.ramp is None:
        args.ramp = 10.0 if args.client == "ws" else 30.0
    args.groups = max(1, min(args.groups, args.sessions))
    return asyncio.run(classroom(args))


if __name__ == "__main__":
    sys.exit(main())

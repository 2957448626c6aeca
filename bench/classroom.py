"""A classroom on one server: N students open a shared link and play with the Explorer at once.

Starts the real app (``app.py``) on a free port, opens ``--sessions`` browser pages
(one Playwright context each, all in one headless Chromium) at the same moment, and
lets every page act like a student for ``--seconds``: move sidebar sliders with the
keyboard (and back), pick a layer or unit, press Step, Reset, Play and Pause. Each
action is timed from the key press or click until the rerun it caused has finished
(the MutationObserver on ``data-test-script-state`` of ``tests/browser/helpers.py``).

Checks, each counted as an error:

- exception boxes on the page, uncaught page errors, actions that time out;
- determinism: every session of a group opened the same link and must show the same
  numbers (summary line and training-curve data); after moving a slider and back it
  must show them again;
- isolation: groups use different seeds, so their numbers must differ, and every
  session's URL must keep its own seed and its own slider values;
- navigation: every session must list the same pages as a session opened at "/".

Prints sessions served, errors, p50/p95 interaction latency (ms), server peak RSS and
RSS per session, and the server's own cache counters (``/_stcore/metrics``). Exits 1
on any error.

    .venv/bin/python bench/classroom.py                 # 30 sessions for 60 s
    .venv/bin/python bench/classroom.py --sessions 4 --seconds 20

Figures are from one machine and one browser: all pages share the machine's cores with
the server, so latencies are an upper bound on what a class with its own laptops sees.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.async_api import Browser, Page, async_playwright  # noqa: E402
from playwright.async_api import TimeoutError as PlaywrightTimeout  # noqa: E402

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, DESKTOP, free_port, start_server  # noqa: E402

LOG = ROOT / "tests" / "output" / "classroom-server.log"
# The shared link: a permalink with a few settings; group g of the class gets seed=g.
LINK = "/explorer?dataset=moons&steps=300&width=8&lr=0.1&batch_size=16"
# Sidebar sliders a student moves (one key press there and one back). "steps" is left
# out so the work per move stays that of the link's runs.
SLIDERS = ("gamma_init", "beta_init", "noise", "batch_size", "eps", "decay", "lr", "depth", "width")
SAMPLE_EVERY = 0.25  # seconds between RSS samples of the server (a sampling period)

IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector('[data-testid="stStatusWidget"]')
    && !document.querySelector('[data-testid="stSkeleton"]');
}"""
ARM_JS = """() => {
  window.__bnvizSawRun = false;
  const app = document.querySelector('[data-testid="stApp"]');
  if (window.__bnvizObserver) window.__bnvizObserver.disconnect();
  window.__bnvizObserver = new MutationObserver((records) => {
    if (app.getAttribute('data-test-script-state') !== 'notRunning'
        || records.some(r => r.oldValue !== 'notRunning')) window.__bnvizSawRun = true;
  });
  window.__bnvizObserver.observe(app, {attributes: true, attributeOldValue: true,
                                       attributeFilter: ['data-test-script-state']});
}"""
# The numbers a session shows for its settings (not for its view): the summary line and
# the y values of every training curve.
FINGERPRINT_JS = """() => {
  const s = document.querySelector('.st-key-summary');
  const c = document.querySelector('.st-key-curves .js-plotly-plot');
  const ys = c && c.data ? c.data.filter(t => t.y && t.y.length > 2).map(t => t.y) : null;
  return JSON.stringify({summary: s ? s.innerText : null, curves: ys});
}"""
CHECKPOINT_JS = """() => {
  const el = document.querySelector('.st-key-step_counter');
  const m = el && el.innerText.match(/checkpoint\\s+(\\d+)\\s*\\/\\s*(\\d+)/);
  return m ? [parseInt(m[1]), parseInt(m[2])] : null;
}"""
NAV_JS = """() => Array.from(document.querySelectorAll(
    '[data-testid="stSidebarNavLink"], [data-testid="stTopNavLink"]'))
  .map(a => new URL(a.href).pathname + ' ' + a.innerText.replace(/\\s+/g, ' ').trim())"""
SLIDER_JS = """(name) => {
  const el = document.querySelector(`.st-key-s_${name} [data-testid="stSlider"] input[type="range"]`);
  return el ? [parseFloat(el.value), parseFloat(el.min), parseFloat(el.max)] : null;
}"""


# --------------------------------------------------------------------------- results


@dataclass
class Results:
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    load_ms: list[float] = field(default_factory=list)
    play_rate: list[float] = field(default_factory=list)  # checkpoints per second while playing
    errors: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    served: int = 0
    fingerprints: dict[int, dict[int, str]] = field(default_factory=lambda: defaultdict(dict))
    nav: dict[int, tuple[str, ...]] = field(default_factory=dict)

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        self.examples.setdefault(kind, detail[:400])


def percentile(values: list[float], q: float) -> int:
    if not values:
        return 0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


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


# --------------------------------------------------------------------------- one student


class Student:
    def __init__(self, index: int, page: Page, link: str, seed: int, res: Results, timeout_ms: float) -> None:
        self.i = index
        self.page = page
        self.link = link
        self.seed = seed
        self.res = res
        self.timeout = timeout_ms
        self.rng = random.Random(index)
        self.home: str | None = None  # this session's fingerprint right after loading
        self.clean = True  # every slider moved is back where the link put it
        page.on("pageerror", lambda exc: res.error("page error", f"session {index}: {exc}"))

    async def wait_idle(self) -> None:
        await self.page.wait_for_function(IDLE_JS, timeout=self.timeout)

    async def timed(
        self, kind: str, action: Callable[[], Awaitable[Any]], done_js: str = "true", idle_first: bool = True
    ) -> float | None:
        """Do ``action``; return ms until the rerun it caused finished (None on a timeout).

        ``idle_first=False`` acts without waiting for the app to be idle (Pause: while
        playing, the play timer may keep it busy).
        """
        try:
            if idle_first:
                await self.wait_idle()
            await self.page.evaluate(ARM_JS)
            start = time.perf_counter()
            await action()
            await self.page.wait_for_function(
                f"() => window.__bnvizSawRun && ({IDLE_JS})() && ({done_js})", timeout=self.timeout
            )
        except PlaywrightTimeout:
            self.res.error("timeout", f"session {self.i}: {kind} unfinished after {self.timeout / 1e3:.0f} s")
            return None
        ms = (time.perf_counter() - start) * 1000
        self.res.latency[kind].append(ms)
        await self.check_page(kind)
        return ms

    async def check_page(self, when: str) -> None:
        boxes = await self.page.locator('[data-testid="stException"]').all_inner_texts()
        for text in boxes:
            self.res.error("exception box", f"session {self.i} after {when}: {text}")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.page.url).query)
        if query.get("seed") != [str(self.seed)]:
            self.res.error("isolation", f"session {self.i} (seed {self.seed}) has seed={query.get('seed')} "
                                        f"in its URL after {when}")

    async def fingerprint(self) -> str:
        text = await self.page.evaluate(FINGERPRINT_JS)
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    async def load(self, base: str) -> bool:
        start = time.perf_counter()
        try:
            sep = "&" if "?" in self.link else "?"
            await self.page.goto(f"{base}{self.link}{sep}seed={self.seed}", timeout=self.timeout)
            await self.page.wait_for_selector('[data-testid="stApp"]', timeout=self.timeout)
            await self.wait_idle()
            await self.page.wait_for_selector(".st-key-curves .js-plotly-plot", timeout=self.timeout)
        except PlaywrightTimeout:
            self.res.error("timeout", f"session {self.i}: the shared link did not load")
            return False
        self.res.load_ms.append((time.perf_counter() - start) * 1000)
        await self.check_page("loading")
        self.home = await self.fingerprint()
        self.res.fingerprints[self.seed][self.i] = self.home
        self.res.nav[self.i] = tuple(await self.page.evaluate(NAV_JS))
        return True

    # ---- what a student does

    async def slider(self) -> None:
        """One key press on a sidebar slider and one back: the numbers must come back too."""
        names = [n for n in SLIDERS if await self.page.evaluate(SLIDER_JS, n)]
        if not names:
            self.res.error("missing control", f"session {self.i}: no sidebar slider found")
            return
        name = self.rng.choice(names)
        value, _, hi = await self.page.evaluate(SLIDER_JS, name)
        there, back = ("ArrowLeft", "ArrowRight") if value >= hi else ("ArrowRight", "ArrowLeft")
        before = urllib.parse.parse_qs(urllib.parse.urlsplit(self.page.url).query).get(name)
        box = self.page.locator(f'.st-key-s_{name} [data-testid="stSlider"] input[type="range"]')
        for key in (there, back):
            await box.focus()
            if await self.timed("slider", lambda key=key: self.page.keyboard.press(key)) is None:
                self.clean = False
                return
        after = urllib.parse.parse_qs(urllib.parse.urlsplit(self.page.url).query).get(name)
        if after != before:
            self.res.error("isolation", f"session {self.i}: {name} went {before} → {after} after a key "
                                        "press there and back")
            self.clean = False
        elif self.clean and await self.fingerprint() != self.home:
            self.res.error("determinism", f"session {self.i}: {name} moved there and back, "
                                          "but the numbers differ from the ones the link showed")

    async def select(self) -> None:
        """Pick another layer or unit (display only: the fragment redraws)."""
        key = self.rng.choice(("v_layer", "v_unit"))
        box = self.page.locator(f'.st-key-{key} [data-baseweb="select"]')
        if not await box.count():
            return
        await self.wait_idle()
        await box.click()
        options = self.page.locator('[role="option"]')
        try:
            await options.first.wait_for(timeout=self.timeout)
        except PlaywrightTimeout:
            self.res.error("timeout", f"session {self.i}: the {key} list did not open")
            return
        n = await options.count()
        chosen = await self.page.locator('[role="option"][aria-selected="true"]').count()
        pick = self.rng.randrange(n)
        if n == 1 or (chosen and await options.nth(pick).get_attribute("aria-selected") == "true"):
            await self.page.keyboard.press("Escape")  # nothing else to pick: close, no rerun
            return
        await self.timed("display", lambda: options.nth(pick).click())

    async def button(self) -> None:
        key = self.rng.choice(("v_step", "v_step", "v_reset"))
        button = self.page.locator(f".st-key-{key} button").filter(visible=True)
        await self.timed("button", lambda: button.click())

    async def play(self) -> None:
        """Play, watch three checkpoints go by, Pause."""
        play = self.page.locator(".st-key-v_play button").filter(visible=True)
        label = ("Array.from(document.querySelectorAll('.st-key-v_play button'))"
                 ".some(b => b.offsetWidth > 0 && b.innerText.includes('{}'))")
        if await self.timed("play", lambda: play.click(), label.format("Pause")) is None:
            return
        at = await self.page.evaluate(CHECKPOINT_JS)
        if at:
            target = min(at[0] + 3, at[1])
            if target > at[0]:
                start = time.perf_counter()
                try:
                    await self.page.wait_for_function(
                        f"() => {{ const c = ({CHECKPOINT_JS})(); return c && c[0] >= {target}; }}",
                        timeout=self.timeout,
                    )
                    self.res.play_rate.append((target - at[0]) / (time.perf_counter() - start))
                except PlaywrightTimeout:
                    self.res.error("timeout", f"session {self.i}: Play never reached checkpoint {target}")
        # While playing the page re-renders every tick, so Playwright's click would wait
        # for the button to hold still; a student's click lands at once, like this one.
        click = ("() => Array.from(document.querySelectorAll('.st-key-v_play button'))"
                 ".find(b => b.offsetWidth > 0 && b.innerText.includes('Pause'))?.click()")
        if await self.page.evaluate("() => " + label.format("Pause")):
            before = await self.page.evaluate(CHECKPOINT_JS)
            await self.timed("pause", lambda: self.page.evaluate(click), label.format("Play"),
                             idle_first=False)
            after = await self.page.evaluate(CHECKPOINT_JS)
            if before and after and after[0] - before[0] > 3:
                self.res.error("pause ignored", f"session {self.i}: Pause pressed at checkpoint {before[0]}, "
                                                f"it played on to {after[0]}/{after[1]}")

    async def run(self, seconds: float, think: float) -> None:
        actions = [self.slider] * 3 + [self.select] * 2 + [self.button] * 2 + [self.play]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if think:  # a student's pause between two actions: pacing, not synchronisation
                await asyncio.sleep(think * self.rng.uniform(0.5, 1.5))
            await self.rng.choice(actions)()
        await self.check_page("the last action")
        if self.clean and await self.fingerprint() != self.home:
            self.res.error("determinism", f"session {self.i}: at the end the numbers differ from the "
                                          "ones its link showed")


async def student(index: int, browser: Browser, base: str, args: argparse.Namespace, res: Results) -> None:
    if args.ramp:  # students open the link over the first --ramp seconds: pacing, not synchronisation
        await asyncio.sleep(args.ramp * index / args.sessions)
    context = await browser.new_context(viewport=DESKTOP, color_scheme="light")
    try:
        page = await context.new_page()
        s = Student(index, page, args.link, index % args.groups, res, args.timeout * 1000)
        if await s.load(base):
            res.served += 1
            await s.run(args.seconds, args.think)
    except Exception as exc:  # a crashed page counts as an error, and the class goes on
        res.error("crash", f"session {index}: {type(exc).__name__}: {exc}")
    finally:
        await context.close()


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


async def reference_nav(browser: Browser, base: str, timeout_ms: float) -> tuple[str, ...]:
    """The pages a session opened at "/" lists."""
    context = await browser.new_context(viewport=DESKTOP)
    try:
        page = await context.new_page()
        await page.goto(base + "/", timeout=timeout_ms)
        await page.wait_for_function(IDLE_JS, timeout=timeout_ms)
        return tuple(await page.evaluate(NAV_JS))
    finally:
        await context.close()


async def classroom(args: argparse.Namespace) -> int:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(ROOT / "app.py", port, LOG)
    res = Results()
    try:
        memory = MemorySampler(proc.pid)
        idle_kb = memory.sample()
        cpu0, wall0 = cpu_seconds(proc.pid), time.monotonic()
        sampler = asyncio.create_task(memory.run())
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            await asyncio.gather(*(student(i, browser, base, args, res) for i in range(args.sessions)))
            wall = time.monotonic() - wall0
            cpu = cpu_seconds(proc.pid) - cpu0
            memory.stop()
            await sampler
            nav = await reference_nav(browser, base, args.timeout * 1000)
            await browser.close()
        metrics = server_metrics(base)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()

    check_groups(res)
    wrong_nav = sorted(i for i, links in res.nav.items() if links != nav)
    if wrong_nav:
        res.error("navigation", f"sessions {wrong_nav} listed {list(res.nav[wrong_nav[0]])}; "
                                f"a session opened at / lists {list(nav)}")
    report(args, res, memory, idle_kb, cpu, wall, metrics)
    return 1 if res.errors or res.served < args.sessions else 0


def p50_p95(values: list[float]) -> str:
    return f"p50 {percentile(values, 0.5)} ms, p95 {percentile(values, 0.95)} ms"


def report(args: argparse.Namespace, res: Results, memory: MemorySampler, idle_kb: int, cpu: float,
           wall: float, metrics: dict[str, float]) -> None:
    everything = [ms for values in res.latency.values() for ms in values]
    peak = memory.peak_kb()
    print(f"classroom: {args.sessions} sessions x {args.seconds:g} s on {args.link} "
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
        print(f"play                   {statistics.median(res.play_rate):.1f} checkpoints/s median "
              f"(nominal {1 / 0.4:.1f}), {len(res.play_rate)} plays")
    print(f"server RSS             idle {idle_kb // 1024} MB, peak {peak // 1024} MB, "
          f"+{(peak - idle_kb) // 1024 // max(args.sessions, 1)} MB per session")
    n = len(memory.samples)
    quarters = [memory.samples[min(n - 1, k * n // 4)][1] // 1024 for k in (1, 2, 3, 4)] if n else []
    print(f"server RSS over time   {' → '.join(f'{mb} MB' for mb in quarters)} "
          "(at 25/50/75/100 % of the run)")
    print(f"server CPU             {cpu:.0f} s in {wall:.0f} s wall "
          f"({100 * cpu / max(wall, 1e-9):.0f} % of a core)")
    train = "bnviz.ui._cached_train"
    hits = metrics.get(f"cache_lookups_total:{train}:hit", 0)
    misses = metrics.get(f"cache_lookups_total:{train}:miss", 0)
    if hits or misses:
        computed = metrics.get(f"cache_compute_duration_seconds_sum:{train}", 0)
        print(f"cached_run             {hits:.0f} hits, {misses:.0f} misses ({computed:.0f} s training), "
              f"{metrics.get(f'cache_memory_bytes:{train}', 0) / 2**20:.0f} MB cached")
    caches = {k.split(":")[1] or "session state": v for k, v in metrics.items()
              if k.startswith("cache_memory_bytes:")}
    if caches:
        sizes = ", ".join(f"{name} {v / 2**20:.1f} MB" for name, v in caches.items())
        print(f"server caches          {sizes}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "sessions": args.sessions, "served": res.served, "errors": dict(res.errors),
            "p50_ms": percentile(everything, 0.5), "p95_ms": percentile(everything, 0.95),
            "peak_rss_mb": peak // 1024, "idle_rss_mb": idle_kb // 1024, "metrics": metrics,
        }, indent=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=30, help="concurrent browser sessions (default 30)")
    parser.add_argument("--seconds", type=float, default=60, help="how long each session acts (default 60)")
    parser.add_argument("--groups", type=int, default=3,
                        help="sessions i and j open the same link when i ≡ j mod groups (default 3)")
    parser.add_argument("--think", type=float, default=1.0,
                        help="mean pause of a student between actions, in s (default 1; 0 = back to back)")
    parser.add_argument("--ramp", type=float, default=30,
                        help="the class opens the link over this many seconds (default 30; 0 = all at once)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds before an action times out")
    parser.add_argument("--link", default=LINK, help=f"the shared link, without seed (default {LINK})")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        parser.error(f"no Chromium at {CHROMIUM} (set BNVIZ_CHROMIUM)")
    args.groups = max(1, min(args.groups, args.sessions))
    return asyncio.run(classroom(args))


if __name__ == "__main__":
    sys.exit(main())

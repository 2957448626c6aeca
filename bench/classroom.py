"""A classroom on one server: N students open a shared link and play with the Explorer at once.

Starts the real app (``app.py``) on a free port and lets ``--sessions`` students open
the shared link and act for ``--seconds`` each: move a sidebar slider one notch (and
back), pick a layer or unit, press Step or Reset. Two kinds of client:

- ``--client ws`` (default): each student is one websocket speaking Streamlit's own
  protocol from Python, as the browser does (``/_stcore/stream``, subprotocol
  "streamlit"; a ``BackMsg.rerun_script`` with the query string, every widget's state
  and, for the layer/unit boxes, the fragment id; ForwardMsgs back until
  ``script_finished``; unchanged large elements come back as references to the
  client's cache, as for a browser). A student costs the client a few ms of CPU per
  action, so the figures measure the server. Each action is timed from sending the
  rerun request to its ``script_finished``. Play/Pause and the scrubber run in the
  browser (Plotly), so there is no server work to simulate for them.
- ``--client browser``: real pages (one Playwright context each, all in one headless
  Chromium) that also press Play and Pause; each action is timed from the key press or
  click until the rerun it caused has finished (the MutationObserver on
  ``data-test-script-state`` of ``tests/browser/helpers.py``). Chromium needs 5-7 CPU
  seconds to draw one Explorer page, so on a small machine the browser, not the
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
import hashlib
import json
import os
import random
import re
import statistics
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
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ClientState_pb2 import ContextInfo  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from streamlit.proto.WidgetStates_pb2 import WidgetState  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidHandshake  # noqa: E402
from websockets.typing import Subprotocol  # noqa: E402

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, DESKTOP, free_port, start_server, stop_server  # noqa: E402
from tests.browser.helpers import ARM_JS, CHART_JS, IDLE_JS, PLAYER_PAUSED_JS, PLAYER_STEP_JS  # noqa: E402

LOG = ROOT / "tests" / "output" / "classroom-server.log"
# The shared link: a permalink with a few settings, as the address bar shows it (the
# Explorer is the default page, so it lives at "/"); group g of the class gets seed=g.
LINK = "/?dataset=moons&steps=300&width=8&lr=0.1&batch_size=16"
KEY_PREFIX = "s_"  # bnviz.app.ui.KEY_PREFIX, the sidebar widgets' keys (importing bnviz.app.ui here would
# set up its st.cache_data outside a server)
# Sidebar sliders a student moves (one key press there and one back). "steps" is left
# out so the work per move stays that of the link's runs.
SLIDERS = ("gamma_init", "beta_init", "noise", "batch_size", "eps", "decay", "lr", "depth", "width")
SAMPLE_EVERY = 0.25  # seconds between RSS samples of the server (a sampling period)

# The numbers a session shows for its settings (not for its view): the summary line and
# the y values of every training curve.
FINGERPRINT_JS = """() => {""" + CHART_JS + """
  const s = document.querySelector('.st-key-summary');
  const c = chartIn('.st-key-curves');
  const ys = c && c.data ? c.data.filter(t => t.y && t.y.length > 2).map(t => t.y) : null;
  return JSON.stringify({summary: s ? s.innerText : null, curves: ys});
}"""
# The run's last step, from the step counter ("Step 120/500" → 500).
LAST_STEP_JS = """() => {
  const m = document.querySelector('.st-key-step_counter')?.innerText.match(/Step\\s+\\d+\\s*\\/\\s*(\\d+)/);
  return m ? Number(m[1]) : null;
}"""
# What an unfinished action left behind: the script's state and each live chart's.
STATE_JS = """() => 'script '
  + document.querySelector('[data-testid="stApp"]')?.getAttribute('data-test-script-state')
  + ', saw run ' + window.__bnvizSawRun + ', charts busy ' + JSON.stringify(Array.from(
    document.querySelectorAll('iframe[src*="livechart"]'),
    f => f.contentWindow && f.contentWindow.livechart ? f.contentWindow.livechart.busy() : 'not loaded'))"""
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
    bytes: int = 0  # received by the websocket clients
    refs: int = 0  # elements the server did not resend: references to a client's cached copy
    client_cpu: float = 0.0  # CPU seconds of this process (the websocket clients; not Chromium's)
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
        page.on("pageerror", self.page_error)

    def page_error(self, exc: Exception) -> None:
        self.res.error("page error", f"session {self.i}: {exc}")

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
            state = await self.page.evaluate(STATE_JS)
            self.res.error("timeout", f"session {self.i}: {kind} unfinished after {self.timeout / 1e3:.0f} s "
                                      f"({state})")
            return None
        ms = (time.perf_counter() - start) * 1000
        self.res.latency[kind].append(ms)
        await self.check_page(kind)
        return ms

    async def check_page(self, when: str) -> None:
        boxes = await self.page.locator('[data-testid="stException"]').all_inner_texts()
        for text in boxes:
            self.res.error("exception box", f"session {self.i} after {when}: {text}")
        for text in await self.page.locator('[role="dialog"]').all_inner_texts():
            if text.startswith("Page not found"):
                self.res.error("page not found", f"session {self.i} after {when}: {text}")
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
            await self.page.wait_for_function(
                "() => {" + CHART_JS + " return !!chartIn('.st-key-curves'); }", timeout=self.timeout
            )
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
        box = self.page.locator(f".st-key-{key} input")
        if not await box.count():
            self.res.error("missing control", f"session {self.i}: no {key} box")
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
        """Play in the histogram figure, watch three checkpoints go by, Pause.

        Play / Pause is the live chart player's button: the frames run in the browser, so
        the server must not run at all meanwhile.
        """
        button = self.page.frame_locator(".st-key-movie iframe").locator("#play")
        if not await button.count():
            self.res.error("missing control", f"session {self.i}: no Play button in the histogram figure")
            return
        await self.wait_idle()
        at = await self.page.evaluate(PLAYER_STEP_JS)
        last = await self.page.evaluate(LAST_STEP_JS)
        if at is not None and last is not None and at >= last:  # at the end, Play has nothing to show
            reset = self.page.locator(".st-key-v_reset button").filter(visible=True)
            if await self.timed("button", lambda: reset.click()) is None:
                return
            at = await self.page.evaluate(PLAYER_STEP_JS)
        await self.page.evaluate(ARM_JS)
        await button.click()  # ▶ Play
        start = time.perf_counter()
        try:
            for _ in range(3):  # three new checkpoints, PLAY_MS apart
                await self.page.wait_for_function(f"() => ({PLAYER_STEP_JS})() !== {at}",
                                                  timeout=min(self.timeout, 30_000))
                at = await self.page.evaluate(PLAYER_STEP_JS)
            self.res.play_rate.append(3 / (time.perf_counter() - start))
        except PlaywrightTimeout:
            self.res.error("timeout", f"session {self.i}: Play never showed three new checkpoints")
        await button.click()  # ❚❚ Pause
        try:
            await self.page.wait_for_function(PLAYER_PAUSED_JS, timeout=self.timeout)
        except PlaywrightTimeout:
            self.res.error("pause ignored", f"session {self.i}: the histograms kept playing after Pause")
        if await self.page.evaluate("() => window.__bnvizSawRun"):
            self.res.error("play ran on the server", f"session {self.i}: Play or Pause caused a server run")

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


# --------------------------------------------------------------------------- websocket students
#
# What the browser does, from Python: one websocket per session at /_stcore/stream
# (subprotocol "streamlit"; no XSRF token is needed without an Origin header), one
# BackMsg ``rerun_script`` per interaction carrying the query string, every widget's
# state and, for a fragment's widgets, the fragment id; the server answers with
# ForwardMsgs (new_session, deltas, page_info_changed, ..., script_finished).
# Large elements the client already holds come back as ``ref_hash`` references, as
# they do for a browser that reports its cached messages.

OK_FINISH = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)
WIDGETS = ("slider", "selectbox", "checkbox", "number_input", "button", "download_button")


@dataclass
class Widget:
    """A widget as the last delta drew it: what a browser's widget manager knows."""

    id: str
    kind: str  # "slider", "select_slider", "selectbox", "checkbox", "number_input", "button", ...
    fragment: str
    options: list[str]
    proto: Any


def widget_key(widget_id: str) -> str:
    """The user key of a widget id ``$$ID-<hash>-<key>`` (the id itself if it has none)."""
    parts = widget_id.split("-", 2)
    return parts[2] if widget_id.startswith("$$ID-") and len(parts) == 3 else widget_id


def initial_state(w: Widget, old: WidgetState | None) -> WidgetState | None:
    """The value a browser would hold for ``w`` after drawing it: the server's value when it
    sets one (``set_value``), else what the browser had, else the widget's default."""
    e = w.proto
    if w.kind in ("button", "download_button"):
        return None  # triggers: only sent when pressed
    if not e.set_value and old is not None:
        return old
    s = WidgetState(id=w.id)
    if w.kind == "slider":
        s.double_array_value.data.extend(list(e.value) if e.set_value else list(e.default))
    elif w.kind == "select_slider":
        raw = list(e.raw_value) if e.set_value else []
        s.string_array_value.data.extend(raw or [w.options[int(i)] for i in (e.value or e.default)])
    elif w.kind == "selectbox":
        default = w.options[e.default] if w.options else ""
        s.string_value = e.raw_value if e.set_value and e.raw_value else default
    elif w.kind == "checkbox":
        s.bool_value = e.value if e.set_value else e.default
    elif w.kind == "number_input":
        s.double_value = e.value if e.set_value else e.default
    else:
        return None
    return s


class WsStudent:
    """One session spoken to over Streamlit's websocket protocol: the server's side of a student."""

    def __init__(self, index: int, base: str, link: str, seed: int, res: Results, timeout_s: float) -> None:
        self.i = index
        self.base = base
        parts = urllib.parse.urlsplit(link)
        self.page_name = parts.path.strip("/")
        self.query = "&".join(q for q in (parts.query, f"seed={seed}" if seed >= 0 else "") if q)
        self.seed = seed
        self.res = res
        self.timeout = timeout_s
        self.rng = random.Random(index)
        self.ws: ClientConnection | None = None
        self.page_hash = ""
        self.widgets: dict[str, Widget] = {}  # by key
        self.states: dict[str, WidgetState] = {}  # by widget id
        self.seen: set[str] = set()  # widget ids drawn since the last rerun request
        self.cache: dict[str, tuple[ForwardMsg, int]] = {}  # hash -> (message, run it was last used in)
        self.max_age = 2
        self.runs = 0
        self.summary = ""
        self.curves = ""
        self.nav: tuple[str, ...] = ()
        self.home: str | None = None
        self.clean = True
        self.broken = False  # timed out or disconnected: the stream can't be trusted any more
        self.bytes = 0
        self.refs = 0

    # ---- the protocol

    async def connect(self) -> None:
        url = self.base.replace("http://", "ws://", 1) + "/_stcore/stream"
        self.ws = await connect(url, subprotocols=[Subprotocol("streamlit")], max_size=None,
                                ping_interval=None, open_timeout=self.timeout, compression=None)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    def handle(self, msg: ForwardMsg, when: str) -> ForwardMsg.ScriptFinishedStatus.ValueType | None:
        """Take one ForwardMsg in; the run's status once it says script_finished."""
        kind = msg.WhichOneof("type")
        if kind == "ref_hash":
            cached = self.cache.get(msg.ref_hash)
            if cached is None:
                self.res.error("protocol", f"session {self.i}: a reference to message {msg.ref_hash} "
                                           "this client never received")
                return None
            self.cache[msg.ref_hash] = (cached[0], self.runs)
            self.refs += 1
            msg, kind = cached[0], cached[0].WhichOneof("type")
        elif msg.metadata.cacheable and msg.hash:
            self.cache[msg.hash] = (msg, self.runs)
        if kind == "new_session":
            self.page_hash = msg.new_session.page_script_hash
            self.max_age = msg.new_session.config.max_cached_message_age or self.max_age
        elif kind == "navigation":
            self.page_hash = msg.navigation.page_script_hash or self.page_hash
            self.nav = tuple(f"/{p.url_pathname} {p.page_name}" for p in msg.navigation.app_pages)
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "page_not_found":
            self.res.error("page not found", f"session {self.i}: the server found no page "
                                             f"{self.page_name!r} and ran the main page (a browser "
                                             "shows a 'Page not found' dialog)")
        elif kind == "session_event" and msg.session_event.HasField("script_compilation_exception"):
            self.res.error("exception box", f"session {self.i} after {when}: "
                                            f"{msg.session_event.script_compilation_exception.message}")
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            self.element(msg.delta.new_element, msg.delta.fragment_id, when)
        elif kind == "script_finished":
            return msg.script_finished
        return None

    def element(self, el: Any, fragment: str, when: str) -> None:
        kind = el.WhichOneof("type")
        if kind == "exception":
            self.res.error("exception box", f"session {self.i} after {when}: "
                                            f"{el.exception.type}: {el.exception.message}")
        elif kind == "markdown" and el.markdown.body.startswith("Test accuracy **"):  # the summary line
            self.summary = el.markdown.body
        elif kind == "component_instance" and widget_key(el.component_instance.id) == "curves_live":
            # the curves are a live chart (bnviz.app.livechart): its one argument is the figure's JSON
            figure = json.loads(json.loads(el.component_instance.json_args)["figure"])
            ys = [t["y"] for t in figure.get("data", [])
                  if isinstance(t.get("y"), dict) or len(t.get("y") or ()) > 2]  # fmt: skip
            self.curves = json.dumps(ys, sort_keys=True)
        elif kind in WIDGETS:
            e = getattr(el, kind)
            if kind == "slider" and e.type == e.SELECT_SLIDER:
                kind = "select_slider"
            w = Widget(e.id, kind, fragment, list(getattr(e, "options", [])), e)
            self.widgets[widget_key(e.id)] = w
            self.seen.add(e.id)
            state = initial_state(w, self.states.get(e.id))
            if state is not None:
                self.states[e.id] = state

    async def rerun(self, when: str, change: WidgetState | None = None, fragment: str = "") -> float | None:
        """Send one rerun request like a browser's; ms until its script_finished (None on failure)."""
        assert self.ws is not None
        if change is not None and not change.HasField("trigger_value"):
            self.states[change.id] = change
        self.cache = {h: (m, run) for h, (m, run) in self.cache.items() if self.runs - run < self.max_age}
        back = BackMsg()
        cs = back.rerun_script
        cs.query_string = self.query
        cs.page_script_hash = self.page_hash
        if not self.page_hash:
            cs.page_name = self.page_name
        cs.fragment_id = fragment
        cs.widget_states.widgets.extend(self.states.values())
        if change is not None and change.HasField("trigger_value"):
            cs.widget_states.widgets.append(change)
        cs.cached_message_hashes.extend(self.cache)
        cs.context_info.CopyFrom(ContextInfo(timezone="UTC", timezone_offset=0, locale="en-US",
                                             url=f"{self.base}/{self.page_name}?{self.query}",
                                             is_embedded=False, color_scheme="light"))
        self.seen = set()
        start = time.perf_counter()
        try:
            await self.ws.send(back.SerializeToString())
            async with asyncio.timeout(self.timeout):
                while True:
                    data = await self.ws.recv()
                    self.bytes += len(data)
                    msg = ForwardMsg()
                    msg.ParseFromString(data)
                    status = self.handle(msg, when)
                    if status is not None and status != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                        break
        except TimeoutError:
            self.res.error("timeout", f"session {self.i}: {when} unfinished after {self.timeout:.0f} s")
            self.broken = True
            return None
        except ConnectionClosed as exc:
            self.res.error("disconnect", f"session {self.i} during {when}: {exc}")
            self.broken = True
            return None
        ms = (time.perf_counter() - start) * 1000
        self.runs += 1
        if status not in OK_FINISH:
            self.res.error("script failed", f"session {self.i}: {when} finished with status {status}")
            return None
        if status == ForwardMsg.FINISHED_SUCCESSFULLY:  # a full run redraws every widget there is
            self.states = {i: s for i, s in self.states.items() if i in self.seen}
            self.widgets = {k: w for k, w in self.widgets.items() if w.id in self.seen}
        if self.seed >= 0 and urllib.parse.parse_qs(self.query).get("seed") != [str(self.seed)]:
            self.res.error("isolation", f"session {self.i} (seed {self.seed}) has seed="
                                        f"{urllib.parse.parse_qs(self.query).get('seed')} after {when}")
        return ms

    def fingerprint(self) -> str:
        return hashlib.sha1((self.summary + self.curves).encode()).hexdigest()[:12]

    async def load(self) -> bool:
        start = time.perf_counter()
        try:
            await asyncio.wait_for(self.connect(), self.timeout)
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            self.res.error("connect", f"session {self.i}: {type(exc).__name__}: {exc}")
            return False
        if await self.rerun("loading") is None:
            return False
        if not self.summary or not self.curves:
            self.res.error("missing content", f"session {self.i}: the link's page has no summary or curves")
            return False
        self.res.load_ms.append((time.perf_counter() - start) * 1000)
        self.home = self.fingerprint()
        self.res.fingerprints[self.seed][self.i] = self.home
        self.res.nav[self.i] = self.nav
        return True

    # ---- what a student does

    def query_value(self, name: str) -> list[str] | None:
        return urllib.parse.parse_qs(self.query).get(name)

    async def slider(self) -> None:
        """One notch on a sidebar slider and one back: the numbers must come back too."""
        names = [n for n in SLIDERS if KEY_PREFIX + n in self.widgets]
        if not names:
            self.res.error("missing control", f"session {self.i}: no sidebar slider found")
            return
        name = self.rng.choice(names)
        w = self.widgets[KEY_PREFIX + name]
        before = self.query_value(name)
        state = self.states[w.id]
        there, back = WidgetState(id=w.id), WidgetState(id=w.id)
        if w.kind == "select_slider":
            at = w.options.index(state.string_array_value.data[0])
            to = at + 1 if at + 1 < len(w.options) else at - 1
            there.string_array_value.data.append(w.options[to])
            back.string_array_value.data.append(w.options[at])
        else:
            e, value = w.proto, state.double_array_value.data[0]
            to = value + e.step if value + e.step <= e.max else value - e.step
            there.double_array_value.data.append(round(to, 10))
            back.double_array_value.data.append(value)
        for label, s in (("there", there), ("back", back)):
            ms = await self.rerun(f"{name} {label}", s)
            if ms is None:
                self.clean = False
                return
            self.res.latency["slider"].append(ms)
        after = self.query_value(name)
        if after != before:
            self.res.error("isolation", f"session {self.i}: {name} went {before} → {after} after a move "
                                        "there and back")
            self.clean = False
        elif self.clean and self.fingerprint() != self.home:
            self.res.error("determinism", f"session {self.i}: {name} moved there and back, "
                                          "but the numbers differ from the ones the link showed")

    async def select(self) -> None:
        """Pick another layer or unit: only the unit_view fragment reruns."""
        w = self.widgets.get(self.rng.choice(("v_layer", "v_unit")))
        if w is None or len(w.options) < 2:
            return
        current = self.states[w.id].string_value
        pick = self.rng.choice([o for o in w.options if o != current])
        ms = await self.rerun(f"{widget_key(w.id)} = {pick}", WidgetState(id=w.id, string_value=pick),
                              fragment=w.fragment)
        if ms is not None:
            self.res.latency["display"].append(ms)

    async def button(self) -> None:
        w = self.widgets.get(self.rng.choice(("v_step", "v_step", "v_reset")))
        if w is None:
            self.res.error("missing control", f"session {self.i}: no Step/Reset button")
            return
        ms = await self.rerun(widget_key(w.id), WidgetState(id=w.id, trigger_value=True), fragment=w.fragment)
        if ms is not None:
            self.res.latency["button"].append(ms)

    async def run(self, seconds: float, think: float) -> None:
        # Play/Pause and the scrubber are the live chart's, in the browser: no server work to simulate.
        actions = [self.slider] * 3 + [self.select] * 2 + [self.button] * 2
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if think:  # a student's pause between two actions: pacing, not synchronisation
                await asyncio.sleep(think * self.rng.uniform(0.5, 1.5))
            await self.rng.choice(actions)()
            if self.broken:
                return
        if self.clean and self.fingerprint() != self.home:
            self.res.error("determinism", f"session {self.i}: at the end the numbers differ from the "
                                          "ones its link showed")


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


async def ws_student(index: int, base: str, args: argparse.Namespace, res: Results) -> None:
    if args.ramp:  # students open the link over the first --ramp seconds: pacing, not synchronisation
        await asyncio.sleep(args.ramp * index / args.sessions)
    s = WsStudent(index, base, args.link, index % args.groups, res, args.timeout)
    try:
        if await s.load():
            res.served += 1
            await s.run(args.seconds, args.think)
    except Exception as exc:  # a crashed session counts as an error, and the class goes on
        res.error("crash", f"session {index}: {type(exc).__name__}: {exc}")
    finally:
        res.bytes += s.bytes
        res.refs += s.refs
        await s.close()


async def ws_reference_nav(base: str, timeout_s: float) -> tuple[str, ...]:
    """The pages a session opened at "/" lists."""
    s = WsStudent(-1, base, "/", -1, Results(), timeout_s)
    try:
        await s.connect()
        await s.rerun("loading /")
        return s.nav
    finally:
        await s.close()


async def browser_class(base: str, args: argparse.Namespace, res: Results,
                        done: Callable[[], None]) -> tuple[str, ...]:
    """The class in headless Chromium; calls ``done`` when the last student has finished."""
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            await asyncio.gather(*(student(i, browser, base, args, res) for i in range(args.sessions)))
            done()
            return await reference_nav(browser, base, args.timeout * 1000)
        finally:
            await browser.close()


async def ws_class(base: str, args: argparse.Namespace, res: Results,
                   done: Callable[[], None]) -> tuple[str, ...]:
    """The class over websockets; calls ``done`` when the last student has finished."""
    await asyncio.gather(*(ws_student(i, base, args, res) for i in range(args.sessions)))
    done()
    return await ws_reference_nav(base, args.timeout)


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

        run_class = ws_class if args.client == "ws" else browser_class
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
    train = "bnviz.app.ui._cached_train"
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
    if args.client == "browser" and not os.path.exists(CHROMIUM):
        parser.error(f"no Chromium at {CHROMIUM} (set BNVIZ_CHROMIUM)")
    if args.ramp is None:
        args.ramp = 10.0 if args.client == "ws" else 30.0
    args.groups = max(1, min(args.groups, args.sessions))
    return asyncio.run(classroom(args))


if __name__ == "__main__":
    sys.exit(main())

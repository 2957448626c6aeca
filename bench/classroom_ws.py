"""The ``--client ws`` class of ``bench/classroom.py``: students speaking Streamlit's
websocket protocol from Python, so the figures measure the server.

What the browser does, from Python: one websocket per session at ``/_stcore/stream``
(subprotocol "streamlit"; no XSRF token is needed without an Origin header), one
BackMsg ``rerun_script`` per interaction carrying the query string, every widget's
state and, for a fragment's widgets, the fragment id; the server answers with
ForwardMsgs (new_session, deltas, page_info_changed, ..., script_finished). Large
elements the client already holds come back as ``ref_hash`` references, as they do for
a browser that reports its cached messages. Each action is timed from sending the rerun
request to its ``script_finished``.

Behind nginx (``bench/classroom.py --replicas N``) a student does first what a browser
does: it GETs the link's page and keeps the cookies the response sets (nginx's
``bnviz_replica``, the key that picks a replica), and sends them with the websocket
handshake, as a browser sends a page's cookies with its websocket. nginx says which replica
answered each (``X-Bnviz-Upstream``, added by ``bnviz.app.nginx.REPORT_UPSTREAM``): the
page and the websocket must have reached the same one, else the session counts a "sticky"
error. The page's load time includes that GET.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.client
import json
import random
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from classroom_common import SLIDERS, Results, ramp_in, think
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ContextInfo
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from bnviz.app.nginx import UPSTREAM_HEADER

# bnviz.app.ui.KEY_PREFIX, the sidebar widgets' keys (importing bnviz.app.ui here would set
# up its st.cache_data outside a server)
KEY_PREFIX = "s_"

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

    def __init__(self, index: int, base: str, link: str, seed: int, res: Results, timeout_s: float,
                 proxied: bool = False) -> None:
        self.i = index
        self.base = base
        self.proxied = proxied  # behind nginx: GET the page first and keep its cookies
        self.cookies: dict[str, str] = {}
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

    def get_page(self) -> str:
        """GET the link's page as a browser's first request does and keep the cookies its
        response sets; the replica that answered (nginx's header)."""
        host, port = urllib.parse.urlsplit(self.base).netloc.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=self.timeout)
        try:
            headers = {"Accept": "text/html"}
            if self.cookies:
                headers["Cookie"] = self.cookie_header()
            path = f"/{self.page_name}" + (f"?{self.query}" if self.query else "")
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                raise OSError(f"GET of the page answered {r.status} {r.reason}")
            for cookie in r.headers.get_all("Set-Cookie") or []:
                name, _, value = cookie.split(";", 1)[0].partition("=")
                self.cookies[name.strip()] = value.strip()
            return r.headers.get(UPSTREAM_HEADER, "")
        finally:
            conn.close()

    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    async def connect(self) -> str:
        """Open the websocket (with the page's cookies); the replica nginx sent it to ("" without nginx)."""
        url = self.base.replace("http://", "ws://", 1) + "/_stcore/stream"
        headers = {"Cookie": self.cookie_header()} if self.cookies else None
        self.ws = await connect(url, subprotocols=[Subprotocol("streamlit")], max_size=None,
                                ping_interval=None, open_timeout=self.timeout, compression=None,
                                additional_headers=headers)
        response = self.ws.response
        return response.headers.get(UPSTREAM_HEADER, "") if response is not None else ""

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
            page_replica = await asyncio.to_thread(self.get_page) if self.proxied else ""
            ws_replica = await asyncio.wait_for(self.connect(), self.timeout)
        except (OSError, TimeoutError, InvalidHandshake, http.client.HTTPException) as exc:
            self.res.error("connect", f"session {self.i}: {type(exc).__name__}: {exc}")
            return False
        if self.proxied:
            self.res.replica[self.i] = ws_replica
            if ws_replica != page_replica or "bnviz_replica" not in self.cookies:
                self.res.error("sticky", f"session {self.i}: its page came from replica {page_replica!r}, "
                                         f"its websocket went to {ws_replica!r} (cookies {self.cookies})")
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

    async def run(self, seconds: float, think_s: float) -> None:
        # Play/Pause and the scrubber are the live chart's, in the browser: no server work to simulate.
        actions = [self.slider] * 3 + [self.select] * 2 + [self.button] * 2
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await think(self.rng, think_s)
            await self.rng.choice(actions)()
            if self.broken:
                return
        if self.clean and self.fingerprint() != self.home:
            self.res.error("determinism", f"session {self.i}: at the end the numbers differ from the "
                                          "ones its link showed")


async def student(index: int, base: str, args: argparse.Namespace, res: Results) -> None:
    await ramp_in(index, args)
    s = WsStudent(index, base, args.link, index % args.groups, res, args.timeout, args.proxied)
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


async def reference_nav(base: str, timeout_s: float, proxied: bool) -> tuple[str, ...]:
    """The pages a session opened at "/" lists."""
    s = WsStudent(-1, base, "/", -1, Results(), timeout_s, proxied)
    try:
        if proxied:
            await asyncio.to_thread(s.get_page)
        await s.connect()
        await s.rerun("loading /")
        return s.nav
    finally:
        await s.close()


async def run_class(base: str, args: argparse.Namespace, res: Results,
                    done: Callable[[], None]) -> tuple[str, ...]:
    """The class over websockets; calls ``done`` when the last student has finished."""
    await asyncio.gather(*(student(i, base, args, res) for i in range(args.sessions)))
    done()
    return await reference_nav(base, args.timeout, args.proxied)

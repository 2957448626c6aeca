"""The ``--client browser`` class of ``bench/classroom.py``: real pages in headless Chromium.

One Playwright context per student, all in one browser. A student moves a sidebar slider
one notch and back, picks a layer or unit, presses Step or Reset, and presses Play and
Pause in the histograms' player. Each action is timed from the key press or click until
the rerun it caused has finished (``ARM_JS`` and ``IDLE_JS`` of :mod:`bnviz.app.harness`).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from classroom_common import SLIDERS, Results, ramp_in, think
from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeout

from bnviz.app.harness import (
    ARM_JS,
    CHART_JS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    IDLE_JS,
    PLAYER_PAUSED_JS,
    PLAYER_STATE_JS,
    PLAYER_STEP_JS,
)

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


class BrowserStudent:
    """One student: a page on the shared link, and what the student does in it."""

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
            if await self.timed("slider", partial(self.page.keyboard.press, key)) is None:
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
        the server must not run at all while Play runs. Pause reports the frame it stopped
        on and the page reruns to show that step everywhere (``on_frame`` of
        ``bnviz.app.livechart``): that run is expected, waited for and timed as "pause".
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
        saw_run = await self.page.evaluate("() => window.__bnvizSawRun")
        player = await self.page.evaluate(PLAYER_STATE_JS)  # read second: a run before it is Play's
        if not player["playing"]:
            return  # Play reached the last step and stopped there (the page follows it, by design)
        if saw_run:
            self.res.error("play ran on the server", f"session {self.i}: a server run while Play ran")
        reports = player["reports"]
        await self.page.evaluate(ARM_JS)  # from here on a run is Pause's
        start = time.perf_counter()
        await button.click()  # ❚❚ Pause
        try:
            await self.page.wait_for_function(PLAYER_PAUSED_JS, timeout=self.timeout)
        except PlaywrightTimeout:
            self.res.error("pause ignored", f"session {self.i}: the histograms kept playing after Pause")
            return
        if (await self.page.evaluate(PLAYER_STATE_JS))["reports"] == reports:
            return  # paused on the frame the page already shows: nothing reported, no rerun
        try:
            await self.page.wait_for_function(f"() => window.__bnvizSawRun && ({IDLE_JS})()",
                                              timeout=self.timeout)
        except PlaywrightTimeout:
            state = await self.page.evaluate(STATE_JS)
            self.res.error("timeout", f"session {self.i}: the page never showed the paused step ({state})")
            return
        self.res.latency["pause"].append((time.perf_counter() - start) * 1000)
        await self.check_page("pause")

    async def run(self, seconds: float, think_s: float) -> None:
        actions = [self.slider] * 3 + [self.select] * 2 + [self.button] * 2 + [self.play]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await think(self.rng, think_s)
            await self.rng.choice(actions)()
        await self.check_page("the last action")
        if self.clean and await self.fingerprint() != self.home:
            self.res.error("determinism", f"session {self.i}: at the end the numbers differ from the "
                                          "ones its link showed")


async def student(index: int, browser: Browser, base: str, args: argparse.Namespace, res: Results) -> None:
    await ramp_in(index, args)
    context = await browser.new_context(viewport=DESKTOP, color_scheme="light")
    try:
        page = await context.new_page()
        s = BrowserStudent(index, page, args.link, index % args.groups, res, args.timeout * 1000)
        if await s.load(base):
            res.served += 1
            await s.run(args.seconds, args.think)
    except Exception as exc:  # a crashed page counts as an error, and the class goes on
        res.error("crash", f"session {index}: {type(exc).__name__}: {exc}")
    finally:
        await context.close()


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


async def run_class(base: str, args: argparse.Namespace, res: Results,
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

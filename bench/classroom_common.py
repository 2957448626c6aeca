"""What both clients of ``bench/classroom.py`` share: the sliders a student moves, the
record every session writes its figures and errors into, and the pacing of a class.

``classroom_ws.py`` speaks Streamlit's websocket protocol, ``classroom_browser.py`` drives
real pages; each exposes ``run_class(base, args, res, done)`` with these records.
"""

from __future__ import annotations

import argparse
import asyncio
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field

# Sidebar sliders a student moves (one notch there and one back). "steps" is left out so
# the work per move stays that of the link's runs.
SLIDERS = ("gamma_init", "beta_init", "noise", "batch_size", "eps", "decay", "lr", "depth", "width")


@dataclass
class Results:
    """Everything the class measured and every error it saw, filled by all sessions at once."""

    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # ms, by action
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
    replica: dict[int, str] = field(default_factory=dict)  # session -> the replica nginx sent it to

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        self.examples.setdefault(kind, detail[:400])


async def ramp_in(index: int, args: argparse.Namespace) -> None:
    """Student ``index`` opens the link ``index / sessions`` of the way through ``--ramp``
    seconds: pacing, not synchronisation."""
    if args.ramp:
        await asyncio.sleep(args.ramp * index / args.sessions)


async def think(rng: random.Random, mean_s: float) -> None:
    """A student's pause between two actions, 0.5–1.5 × ``mean_s``: pacing, not synchronisation."""
    if mean_s:
        await asyncio.sleep(mean_s * rng.uniform(0.5, 1.5))

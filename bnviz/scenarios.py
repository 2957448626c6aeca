"""One-click scenarios for the Explorer, and the BN-against-no-BN comparison that checks them.

A :class:`Scenario` is a permalink: the Settings fields it changes from the defaults, as
the URL query the app reads (``Settings.from_query``), and one sentence saying what to
look at. :func:`compare` trains the same settings with and without Batch Norm over a few
seeds and measures what the defaults promise (``bench/defaults.py`` prints it):

- gain: the mean over seeds of BN's final test accuracy minus the mean of no-BN's;
- steps to match: on the mean test-accuracy curve over seeds, the first checkpoint at
  which BN reaches no-BN's final mean accuracy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

import numpy as np
from numpy.typing import NDArray

from .settings import Settings
from .train import checkpoint_steps, train


@dataclass(frozen=True)
class Scenario:
    name: str
    query: str  # URL query string of the Settings fields that differ from the defaults
    look: str  # one sentence: what to look at

    @property
    def params(self) -> dict[str, str]:
        """The query as the app sees it in ``st.query_params.to_dict()`` (last value per key)."""
        return dict(parse_qsl(self.query, keep_blank_values=True))

    @property
    def href(self) -> str:
        """A link to the Explorer with these settings, relative to any page of the app (so it
        also works when the app is served under a base path, docs/deploy.md)."""
        return "./?" + self.query

    def settings(self) -> Settings:
        """The Settings the Explorer shows for this link (raises if the link is not taken as is)."""
        settings, notices = Settings.from_query(self.params)
        if notices:
            raise ValueError(f"{self.name}: {'; '.join(notices)}")
        return settings


def _q(**changes: object) -> str:
    return urlencode({k: ("1" if v is True else "0" if v is False else v) for k, v in changes.items()})


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "Deep sigmoid net",
        _q(dataset="moons", activation="sigmoid", depth=6, width=8, optimizer="sgd", lr=0.5),
        "Six layers of sigmoid units with plain SGD: without BN the test accuracy stays near "
        "chance (50 %) for all 500 steps, with BN it passes 90 %.",
    ),
    Scenario(
        "Batch of 2",
        _q(batch_size=2),
        "With m = 2 a mini-batch's two values of a unit normalize to z_norm = ±√(σ²_B/(σ²_B + ε)), "
        "nearly always ±1, and μ_B, σ²_B jump from step to step far more than at m = 32.",
    ),
    Scenario(
        "Batch of 1",
        _q(batch_size=1),
        "With m = 1, μ_B = z and σ²_B = 0, so z_norm = 0 and z̃ = β for every example: no signal "
        "reaches the output, the loss stays near ln 2 and γ never moves.",
    ),
    Scenario(
        "ε too large",
        _q(eps=1.0),
        "With ε = 1, larger than most σ² here, z_norm = (z − μ)/√(σ² + 1) has a spread well below 1: "
        "Z_norm is narrower than ±1 on its axis.",
    ),
    Scenario(
        "Decay too slow",
        _q(decay=0.999, bias_correction=False),
        "With decay 0.999 the raw running estimates cover only 1 − 0.999⁵⁰⁰ ≈ 39 % of their way up "
        "from 0: the running σ² ends far below the population's, and test accuracy with them lags.",
    ),
    Scenario(
        "Decay too slow, bias-corrected",
        _q(decay=0.999, bias_correction=True),
        "The same run with bias correction: dividing by 1 − decayᵗ lifts the running σ² onto the "
        "population's; what remains is a lag, as they average 500 steps of a changing network.",
    ),
    Scenario(
        "γ, β frozen",
        _q(gamma_init=3, beta_init=-3, freeze_affine=True),
        "γ = 3 and β = −3 held fixed: at every step Z̃ is Z_norm stretched 3× and centred on −3.",
    ),
)


@dataclass(frozen=True)
class Comparison:
    """Test-accuracy curves of ``settings`` with and without BN, one row per seed."""

    settings: Settings
    seeds: tuple[int, ...]
    steps: NDArray[np.int64]  # the checkpoint steps
    bn: NDArray[np.float64]  # (seeds, checkpoints) test accuracy with BN (NaN at step 0)
    plain: NDArray[np.float64]  # without BN
    diverged: tuple[bool, ...]  # per seed: either run stopped early

    @property
    def final_bn(self) -> NDArray[np.float64]:
        return self.bn[:, -1]

    @property
    def final_plain(self) -> NDArray[np.float64]:
        return self.plain[:, -1]

    @property
    def gain(self) -> float:
        """Mean over seeds of BN's final test accuracy minus the mean of no-BN's."""
        return float(self.final_bn.mean() - self.final_plain.mean())

    @property
    def steps_to_match(self) -> int | None:
        """First checkpoint at which the mean BN curve reaches no-BN's final mean (None: never)."""
        return _first_at_or_above(self.steps, self.bn.mean(axis=0), float(self.final_plain.mean()))

    def seed_steps_to_match(self) -> list[int | None]:
        """Per seed: the first checkpoint at which BN reaches that seed's final no-BN accuracy."""
        return [_first_at_or_above(self.steps, b, float(p[-1])) for b, p in zip(self.bn, self.plain)]

    def holds(self, gain: float = 0.02, fraction: float = 0.5) -> bool:
        """BN ends at least ``gain`` higher and matches no-BN within ``fraction`` of the steps."""
        reached = self.steps_to_match
        return self.gain >= gain and reached is not None and reached <= fraction * self.settings.steps


def _first_at_or_above(steps: NDArray, curve: NDArray, level: float) -> int | None:
    hits = np.flatnonzero(curve >= level - 1e-12)
    return None if len(hits) == 0 else int(steps[hits[0]])


def compare(settings: Settings, seeds: Iterable[int] = range(5)) -> Comparison:
    """Train ``settings`` with and without BN for each seed (``bnviz.train.train``).

    A run that stopped early keeps its last accuracy for the remaining checkpoints, as the
    Explorer shows it ("final" is the last one measured). BN's accuracy at step 0 is NaN:
    inference then uses running estimates that have averaged nothing (v₀ = 0), so it never
    counts as reaching no-BN's accuracy.
    """
    seeds = tuple(seeds)
    steps = checkpoint_steps(settings.steps).astype(np.int64)
    curves: dict[bool, list[NDArray]] = {True: [], False: []}
    diverged = []
    for seed in seeds:
        stopped = False
        for use_bn in (True, False):
            run = train(settings.replace(use_bn=use_bn, seed=seed))
            acc = run.curves["test_acc"].to_numpy(np.float64)
            full = np.full(len(steps), acc[-1])
            full[: len(acc)] = acc
            if use_bn:  # step 0 with running estimates v₀ = 0: undefined, as the Explorer shows it
                full[0] = np.nan
            curves[use_bn].append(full)
            stopped = stopped or run.diverged is not None
        diverged.append(stopped)
    bn, plain = np.array(curves[True]), np.array(curves[False])
    return Comparison(settings, seeds, steps, bn, plain, tuple(diverged))

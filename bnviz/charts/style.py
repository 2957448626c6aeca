"""The look every bnviz chart shares: one base layout and one set of colours.

A BN run is drawn in ``BN`` and the no-BN baseline in ``PLAIN`` on every page; the
statistics (mini-batch, running EWA, bias-corrected, population) have one colour each,
so a reader who learnt them on the Explorer reads them the same on a teaching view.
No Streamlit and no Plotly objects here: plain values and layout dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Colours chosen to read on both Streamlit's light and dark backgrounds.
BN = "#1f77d0"  # the BN run
PLAIN = "#e8710a"  # the no-BN baseline
HIST = ("#5b8def", "#2ca58d", "#c25ad6")  # Z, Z_norm, Z~
MARK = "#d62728"  # mu and sigma markers
IMPLIED = "#7f7f7f"  # what gamma, beta imply; reference lines and laws
BATCH = "rgba(120,120,120,0.45)"  # the noisy mini-batch statistics
RUNNING = "#1f77d0"  # the running EWA
CORRECTED = "#2ca58d"  # the bias-corrected running EWA
POP = "#d62728"  # the population statistics
CLASS_COLORS = ("#f28e2b", "#4e79a7")  # class 0, class 1 of the 2-D sets
# Several lines of one kind (one per value of a swept setting), the first ones as above.
SERIES = (BN, PLAIN, CORRECTED, HIST[2], POP, IMPLIED, "#8c564b", "#bcbd22")
GRID_COLOR = "rgba(128,128,128,0.25)"

FONT = 12
PROJECTOR_FONT = 13  # the teaching views: shown on projectors
MARGIN = {"l": 48, "r": 16, "t": 48, "b": 40}


def legend_below(y: float = -0.18) -> dict[str, Any]:
    """A horizontal legend under the plot, ``y`` in paper coordinates (more negative: lower)."""
    return {"orientation": "h", "y": y, "x": 0}


def legend_above() -> dict[str, Any]:
    """A horizontal legend on top of the plot: it says what the colours are before the reader scrolls."""
    return {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0}


def base_layout(
    height: int,
    *,
    font: int = FONT,
    margin: Mapping[str, int] = MARGIN,
    legend: Mapping[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The layout every figure starts from: its height in pixels, the font size, the margins,
    a horizontal legend (under the plot unless ``legend`` says otherwise), hover on the
    closest point; ``extra`` keys are added (or replace these)."""
    layout: dict[str, Any] = {
        "height": height,
        "margin": dict(margin),
        "font": {"size": font},
        "legend": dict(legend) if legend is not None else legend_below(),
        "hovermode": "closest",
    }
    layout.update(extra)
    return layout

"""The look every bnviz chart shares: one base layout and one set of colours.

A BN run is drawn in ``BN`` and the no-BN baseline in ``PLAIN`` on every page; the
statistics (mini-batch, running EWA, bias-corrected, population) have one colour and one
line style each, so a reader who learnt them on the Explorer reads them the same on a
teaching view.
No Streamlit and no Plotly objects here: plain values and layout dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The Okabe–Ito palette (Okabe & Ito, "Color Universal Design", 2008): its hues stay
# apart under the common colour-vision deficiencies. Every colour that draws a line or a
# marker has a contrast ratio of at least 3:1 (WCAG 2.1, non-text) against both of
# Streamlit's backgrounds, white #ffffff and dark #0e1117 (tests/charts/test_accessibility.py
# computes and checks them; on white / on dark):
#   blue #0072B2 5.19 / 3.64, vermillion #D55E00 3.87 / 4.89, bluish green #009E73 3.42 / 5.52,
#   reddish purple #CC79A7 3.06 / 6.17, grey #7F7F7F 4.00 / 4.72.
# Orange #E69F00 (2.25 / 8.39) and sky blue #56B4E9 (2.31 / 8.19) are under 3:1 on white:
# they fill the classes' regions (drawn with an outline) and the later sweep series only.
# Colour is never the only difference: lines of different meaning also differ by dash or
# marker (the DASH_* and *_SYMBOL names below).
BN = "#0072B2"  # the BN run (blue)
PLAIN = "#D55E00"  # the no-BN baseline (vermillion)
HIST = ("#0072B2", "#009E73", "#CC79A7")  # Z, Z_norm, Z~ (blue, bluish green, reddish purple)
MARK = "#D55E00"  # mu and sigma markers (vermillion)
IMPLIED = "#7F7F7F"  # what gamma, beta imply; reference lines and laws (grey)
BATCH = "rgba(127,127,127,0.45)"  # the noisy mini-batch statistics (grey, thin: it stays behind)
RUNNING = "#0072B2"  # the running EWA (blue)
CORRECTED = "#009E73"  # the bias-corrected running EWA (bluish green)
POP = "#CC79A7"  # the population statistics (reddish purple)
CLASS_COLORS = ("#E69F00", "#0072B2")  # class 0, class 1 of the 2-D sets (orange, blue)
# Several lines of one kind (one per value of a swept setting), the first ones as above;
# each also has its own dash and marker (SERIES_DASHES, SERIES_SYMBOLS).
SERIES = (BN, PLAIN, CORRECTED, POP, IMPLIED, "#E69F00", "#56B4E9")
SERIES_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
SERIES_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "cross", "star")

# Runs: BN and no BN differ by colour and by marker.
BN_SYMBOL = "circle"
PLAIN_SYMBOL = "x"
BN_GLYPH = "●"  # the same markers in text (a panel's title)
PLAIN_GLYPH = "×"
# Quantities: the loss is solid, training accuracy dashed, test accuracy dotted.
DASH_LOSS = "solid"
DASH_TRAIN = "dash"
DASH_TEST = "dot"
# Statistics: the running EWA is solid, bias-corrected dashed; the population is drawn as
# markers (POP_SYMBOL), known at the checkpoints only.
DASH_RUNNING = "solid"
DASH_CORRECTED = "dash"
POP_SYMBOL = "diamond-open"
MARKERS_SHOWN = 12  # markers on a long curve (Plotly's marker.maxdisplayed): the line stays readable
GRID_COLOR = "rgba(128,128,128,0.25)"

FONT = 14  # every chart: readable on a projector from the back of a room
PROJECTOR_FONT = 15  # the teaching views: a little larger still
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


PRESENTER_SCALE = 18 / FONT  # presenter mode: chart text of at least 18 px on a projector


def scaled_text(figure: Mapping[str, Any], factor: float) -> dict[str, Any]:
    """A copy of a figure dict (``data``, ``layout``, ``frames``) with every font size,
    the base font's included, multiplied by ``factor`` (presenter mode)."""

    def walk(node: Any, key: str = "") -> Any:
        if isinstance(node, Mapping):
            out = {k: walk(v, k) for k, v in node.items()}
            if key.endswith("font") and isinstance(out.get("size"), int | float):
                out["size"] = round(out["size"] * factor, 1)
            return out
        if isinstance(node, list):
            return [walk(v, key) for v in node]
        return node

    out = walk(figure)
    layout = out.setdefault("layout", {})
    base = layout.setdefault("font", {})
    if "size" not in base:
        base["size"] = round(FONT * factor, 1)
    return out


def pinned_text(figure: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a figure dict whose axes' tick labels and titles, legend, annotations and
    hover labels without a font size of their own get the base font's size (``layout.font``).

    Plotly gives them that size anyway; a template does not: Streamlit's theme
    (``st.plotly_chart``) sets 12 px ticks and legends, which presenter mode must enlarge too.
    """
    out = scaled_text(figure, 1.0)
    layout = out["layout"]
    size = layout["font"]["size"]

    def pin(node: dict[str, Any], key: str) -> None:
        font = node.setdefault(key, {})
        if isinstance(font, dict) and "size" not in font:
            font["size"] = size

    for name, axis in layout.items():
        if isinstance(axis, dict) and (name.startswith("xaxis") or name.startswith("yaxis")):
            pin(axis, "tickfont")
            title = axis.get("title")
            axis["title"] = title = {"text": title} if isinstance(title, str) else dict(title or {})
            pin(title, "font")
    for key in ("legend", "hoverlabel"):
        if not isinstance(layout.get(key), dict):
            layout[key] = {}
        pin(layout[key], "font")
    for note in layout.get("annotations") or []:
        if isinstance(note, dict):
            pin(note, "font")
    for trace in out.get("data") or []:
        if isinstance(trace, dict) and isinstance(trace.get("colorbar"), dict):
            pin(trace["colorbar"], "tickfont")
    return out

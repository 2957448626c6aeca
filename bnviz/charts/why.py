"""Figures of the "Why does BN help?" view: numbers from ``bnviz.why`` in, Plotly figures out.

The three runs keep one look on every panel: BN blue and solid with circles, noisy BN
bluish green and dash-dotted with diamonds, no BN vermillion and dashed with crosses
(``RUNS``), so they differ without colour too. The bands of the landscape panels are the
range over the step sizes η, in the run's colour at a low opacity (read on Streamlit's
light and dark backgrounds alike). No Streamlit and no math here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from .style import (
    BN,
    BN_SYMBOL,
    CORRECTED,
    FONT,
    MARKERS_SHOWN,
    PLAIN,
    PLAIN_SYMBOL,
    PROJECTOR_FONT,
    base_layout,
    legend_below,
)

MARGIN = {"l": 64, "r": 16, "t": 44, "b": 44}  # room for the axis titles
# name -> colour, dash, marker, band fill
RUNS: dict[str, tuple[str, str, str, str]] = {
    "BN": (BN, "solid", BN_SYMBOL, "rgba(0,114,178,0.22)"),
    "noisy BN": (CORRECTED, "dashdot", "diamond", "rgba(0,158,115,0.22)"),
    "no BN": (PLAIN, "dash", PLAIN_SYMBOL, "rgba(213,94,0,0.22)"),
}


def _layout(height: int, **extra: Any) -> dict[str, Any]:
    return base_layout(height, font=PROJECTOR_FONT, margin=MARGIN, legend=legend_below(-0.24), **extra)


def _look(name: str) -> tuple[str, str, str, str]:
    return RUNS.get(name, RUNS["BN"])


def _line(name: str, width: float = 3) -> dict[str, Any]:
    color, dash, _, _ = _look(name)
    return {"color": color, "width": width, "dash": dash}


def _marker(name: str) -> dict[str, Any]:
    color, _, symbol, _ = _look(name)
    return {"color": color, "symbol": symbol, "size": 8, "maxdisplayed": MARKERS_SHOWN}


def _panel_titles(titles: Sequence[str], xs: Sequence[float]) -> list[dict[str, Any]]:
    return [
        {"xref": "paper", "yref": "paper", "x": x, "y": 1.0, "yanchor": "bottom", "xanchor": "left",
         "text": t, "showarrow": False, "font": {"size": FONT}}
        for x, t in zip(xs, titles)
    ]  # fmt: skip


# ----------------------------------------------------------------------------- (a) noisy BN


def accuracy_figure(curves: Sequence[tuple[str, pd.DataFrame]]) -> go.Figure:
    """Test accuracy against step of each run (name, its ``Run.curves``)."""
    traces = [
        {"type": "scatter", "x": c["step"], "y": c["test_acc"], "name": name, "mode": "lines+markers",
         "line": _line(name), "marker": _marker(name),
         "hovertemplate": f"{name}: %{{y:.1%}} at step %{{x}}<extra></extra>"}
        for name, c in curves
    ]  # fmt: skip
    layout = _layout(340, title={"text": "test accuracy", "x": 0.01})
    layout["xaxis"] = {"title": {"text": "training step"}}
    layout["yaxis"] = {"range": [0, 1.02], "tickformat": ".0%"}
    return go.Figure(data=traces, layout=layout)


def percentile_figure(tracks: Sequence[tuple[str, pd.DataFrame]], unit: int) -> go.Figure:
    """One panel per run: the 15th, 50th and 85th percentiles of one unit's sigmoid input
    (with the noise in it for noisy BN) over training, on one shared y scale."""
    n = len(tracks)
    gap = 0.06
    width = (1 - gap * (n - 1)) / n
    traces: list[dict[str, Any]] = []
    layout = _layout(340, showlegend=False)
    lo, hi = float("inf"), float("-inf")
    for i, (name, track) in enumerate(tracks):
        ax = "" if i == 0 else str(i + 1)
        color = _look(name)[0]
        for col, w, dash in (("p85", 1.5, "dot"), ("p50", 3.0, "solid"), ("p15", 1.5, "dot")):
            traces.append(
                {"type": "scatter", "x": track["step"], "y": track[col], "name": f"{name}: {col[1:]}th",
                 "mode": "lines", "line": {"color": color, "width": w, "dash": dash},
                 "xaxis": f"x{ax}", "yaxis": f"y{ax}",
                 "hovertemplate": f"{col[1:]}th: %{{y:.3f}} at step %{{x}}<extra></extra>"}
            )  # fmt: skip
        values = track[["p15", "p50", "p85"]].to_numpy()
        lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
        x0 = i * (width + gap)
        layout[f"xaxis{ax}"] = {"domain": [x0, x0 + width], "anchor": f"y{ax}",
                                "title": {"text": "training step"}}  # fmt: skip
        layout[f"yaxis{ax}"] = {"anchor": f"x{ax}"}
    pad = 0.08 * (hi - lo) if hi > lo else 0.5
    for i in range(n):
        layout[f"yaxis{'' if i == 0 else i + 1}"]["range"] = [lo - pad, hi + pad]
    layout["yaxis"]["title"] = {"text": f"unit {unit}: 15th / 50th / 85th pct."}
    layout["annotations"] = _panel_titles([name for name, _ in tracks], [i * (width + gap) for i in range(n)])
    return go.Figure(data=traces, layout=layout)


# ----------------------------------------------------------------------------- (b) the landscape


def landscape_figure(tables: Sequence[tuple[str, pd.DataFrame]]) -> go.Figure:
    """Left: the loss variation max − min over the step sizes η of L(θ_t − η g), at each probe
    step; right: the band of ‖∇L(θ_t) − ∇L(θ_t − η g)‖ over η and its upper edge. One line per
    run (name, ``why.Landscape.table()``)."""
    traces: list[dict[str, Any]] = []
    for name, table in tables:
        fill = _look(name)[3]
        traces.append(
            {"type": "scatter", "x": table["step"], "y": table["loss_variation"], "mode": "lines+markers",
             "fill": "tozeroy", "fillcolor": fill, "line": _line(name, 2.5), "marker": _marker(name),
             "name": name, "legendgroup": name, "customdata": table[["loss_min", "loss_max"]],
             "hovertemplate": f"{name}, step %{{x}}: L(θ − ηg) from %{{customdata[0]:.4g}} to "
                              "%{customdata[1]:.4g}, a variation of %{y:.3g}<extra></extra>"}
        )  # fmt: skip
        common = {"xaxis": "x2", "yaxis": "y2", "legendgroup": name, "showlegend": False}
        traces.append(
            {"type": "scatter", "x": table["step"], "y": table["grad_change_min"], "mode": "lines",
             "line": {"width": 0, "color": fill}, "hoverinfo": "skip", **common}
        )  # fmt: skip
        traces.append(
            {"type": "scatter", "x": table["step"], "y": table["grad_change_max"], "mode": "lines+markers",
             "fill": "tonexty", "fillcolor": fill, "line": _line(name, 2.5), "marker": _marker(name),
             "name": name, "customdata": table["grad_change_min"],
             "hovertemplate": f"{name}, step %{{x}}: ‖Δ gradient‖ from %{{customdata:.3g}} to %{{y:.3g}}"
                              "<extra></extra>", **common}
        )  # fmt: skip
    layout = _layout(360)
    layout["xaxis"] = {"domain": [0, 0.45], "title": {"text": "training step"}, "anchor": "y"}
    layout["xaxis2"] = {"domain": [0.55, 1], "title": {"text": "training step"}, "anchor": "y2"}
    layout["yaxis"] = {"anchor": "x", "title": {"text": "max − min of L(θ − ηg)"}, "rangemode": "tozero"}
    layout["yaxis2"] = {"anchor": "x2", "title": {"text": "‖∇L(θ) − ∇L(θ − ηg)‖"}, "rangemode": "tozero"}
    layout["annotations"] = _panel_titles(
        ["(1) loss variation along the gradient", "(2) gradient predictiveness: change over η"], [0.0, 0.55]
    )
    return go.Figure(data=traces, layout=layout)

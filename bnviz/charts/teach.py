"""Figures of the teaching views: numbers from ``bnviz.teach`` in, Plotly figures out.

No Streamlit and no math here beyond arranging the numbers. Colours and the base
layout are ``bnviz.charts.style``'s, so BN / no BN and the statistics look the same on
every page; the font is a little larger (``PROJECTOR_FONT``): these views are shown on
projectors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .. import fmt
from ..teach import GlassBox
from .style import (
    BATCH,
    BN,
    BN_SYMBOL,
    CORRECTED,
    DASH_TEST,
    DASH_TRAIN,
    FONT,
    GRID_COLOR,
    HIST,
    IMPLIED,
    MARK,
    MARKERS_SHOWN,
    PLAIN,
    PLAIN_SYMBOL,
    POP,
    PROJECTOR_FONT,
    RUNNING,
    SERIES_DASHES,
    base_layout,
    legend_above,
    legend_below,
)

MARGIN = {"l": 56, "r": 16, "t": 40, "b": 44}  # room for the axis titles


def _layout(height: int, **extra: Any) -> dict[str, Any]:
    return base_layout(height, font=PROJECTOR_FONT, margin=MARGIN, legend=legend_below(-0.22), **extra)


def _run_marker(is_bn: bool) -> dict[str, Any]:
    """The marker of the BN run or the no-BN run: its colour and its own symbol, so the
    two are told apart without colour too."""
    return {"color": BN if is_bn else PLAIN, "symbol": BN_SYMBOL if is_bn else PLAIN_SYMBOL, "size": 8,
            "maxdisplayed": MARKERS_SHOWN}  # fmt: skip


def _vline(x: float, xref: str = "x", color: str = IMPLIED, dash: str = "dash") -> dict[str, Any]:
    return {"type": "line", "xref": xref, "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
            "line": {"color": color, "width": 1.2, "dash": dash}}  # fmt: skip


# ----------------------------------------------------------------------------- 1. glass box


def glass_box_figure(gb: GlassBox) -> go.Figure:
    """Three number lines, top to bottom: z, z_norm, z̃, each example labelled by its row.

    The z line marks μ and μ ± √(σ² + ε); the z_norm line 0 and ±1; the z̃ line β and
    β ± γ: the same band, moved and scaled by each step of the note's equations.
    """
    rows = [
        ("z", gb.z, gb.mu, gb.denom, HIST[0], "μ"),
        ("z_norm", gb.z_norm, 0.0, 1.0, HIST[1], "0"),
        ("z̃", gb.z_tilde, gb.beta, abs(gb.gamma), HIST[2], "β"),
    ]
    fig_data: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    layout = _layout(330, showlegend=False)
    layout["margin"] = {"l": 70, "r": 24, "t": 16, "b": 28}
    labels = [str(i) for i in range(1, gb.m + 1)]
    for k, (name, values, centre, half, color, centre_name) in enumerate(rows):
        ax = "" if k == 0 else str(k + 1)
        top = 1 - k / 3
        layout[f"yaxis{ax}"] = {"domain": [top - 0.30, top - 0.04], "range": [-1, 1.4], "visible": False,
                                "fixedrange": True, "anchor": f"x{ax}"}  # fmt: skip
        lo = min(float(np.min(values)), centre - half)
        hi = max(float(np.max(values)), centre + half)
        pad = 0.12 * (hi - lo) if hi > lo else 1.0
        layout[f"xaxis{ax}"] = {"range": [lo - pad, hi + pad], "anchor": f"y{ax}", "zeroline": False,
                                "showgrid": True, "gridcolor": GRID_COLOR, "fixedrange": True}  # fmt: skip
        fig_data.append(
            {"type": "scatter", "x": list(map(float, values)), "y": [0.0] * gb.m, "mode": "markers+text",
             "text": labels, "textposition": "top center", "name": name, "xaxis": f"x{ax}", "yaxis": f"y{ax}",
             "marker": {"size": 13, "color": color, "line": {"width": 1, "color": "white"}},
             "hovertemplate": f"{name} = %{{x:.4g}}<br>row %{{text}}<extra></extra>"}
        )  # fmt: skip
        shapes.append({"type": "rect", "xref": f"x{ax}", "yref": f"y{ax}", "x0": centre - half,
                       "x1": centre + half, "y0": -0.45, "y1": 0.45, "fillcolor": color, "opacity": 0.12,
                       "line": {"width": 0}})  # fmt: skip
        shapes.append({"type": "line", "xref": f"x{ax}", "yref": f"y{ax}", "x0": centre, "x1": centre,
                       "y0": -0.7, "y1": 0.7, "line": {"color": MARK, "width": 2}})  # fmt: skip
        annotations.append({"xref": "paper", "yref": f"y{ax}", "x": 0, "xanchor": "right", "y": 0,
                            "text": f"<b>{name}</b>", "showarrow": False, "xshift": -8,
                            "font": {"size": PROJECTOR_FONT}})  # fmt: skip
        annotations.append({"xref": f"x{ax}", "yref": f"y{ax}", "x": centre, "y": -0.95, "text": centre_name,
                            "showarrow": False, "font": {"color": MARK, "size": PROJECTOR_FONT}})  # fmt: skip
    layout["shapes"] = shapes
    layout["annotations"] = annotations
    return go.Figure(data=fig_data, layout=layout)


# ----------------------------------------------------------------------------- 2. bias


def bias_shift_figure(bn_effect: pd.DataFrame, plain_effect: pd.DataFrame, shift: float) -> go.Figure:
    """Training-set loss against the shift δ added to b: flat with BN, a valley without."""
    traces = [
        {"type": "scatter", "x": bn_effect["shift"], "y": bn_effect["loss"], "name": "with BN",
         "mode": "lines+markers", "line": {"color": BN, "width": 3}, "marker": _run_marker(True)},
        {"type": "scatter", "x": plain_effect["shift"], "y": plain_effect["loss"], "name": "without BN",
         "mode": "lines+markers", "line": {"color": PLAIN, "width": 3, "dash": "dash"},
         "marker": _run_marker(False)},
    ]  # fmt: skip
    layout = _layout(340, shapes=[_vline(shift)])
    layout["xaxis"] = {"title": {"text": "shift δ added to every b of the layer"}, "zeroline": False}
    layout["yaxis"] = {"title": {"text": "loss on the training set"}, "rangemode": "tozero"}
    return go.Figure(data=traces, layout=layout)


# ----------------------------------------------------------------------------- 3. covariate shift


def accuracy_figure(bn_curves: pd.DataFrame, plain_curves: pd.DataFrame) -> go.Figure:
    """(a) Test accuracy against step, with and without BN (as in the paper's Fig. 1a)."""
    traces = [
        {"type": "scatter", "x": bn_curves["step"], "y": bn_curves["test_acc"], "name": "with BN",
         "mode": "lines+markers", "line": {"color": BN, "width": 3}, "marker": _run_marker(True)},
        {"type": "scatter", "x": plain_curves["step"], "y": plain_curves["test_acc"], "name": "without BN",
         "mode": "lines+markers", "line": {"color": PLAIN, "width": 3, "dash": "dash"},
         "marker": _run_marker(False)},
    ]  # fmt: skip
    layout = _layout(320, title={"text": "(a) test accuracy", "x": 0.01})
    layout["xaxis"] = {"title": {"text": "training step"}}
    layout["yaxis"] = {"range": [0, 1.02], "tickformat": ".0%"}
    return go.Figure(data=traces, layout=layout)


def percentile_figure(
    plain_track: pd.DataFrame, bn_track: pd.DataFrame, bn_label: str = "z̃", same_scale: bool = True
) -> go.Figure:
    """(b) without BN and (c) with BN: the 15th, 50th, 85th percentiles of a sigmoid's input."""
    traces: list[dict[str, Any]] = []
    panels = ((plain_track, "", PLAIN, "(b) without BN: z"), (bn_track, "2", BN, f"(c) with BN: {bn_label}"))
    for track, ax, color, _ in panels:
        common = {"xaxis": f"x{ax}", "yaxis": f"y{ax}", "showlegend": False}
        for col, width, dash in (("p85", 1.5, "dot"), ("p50", 3.0, "solid"), ("p15", 1.5, "dot")):
            traces.append(
                {"type": "scatter", "x": track["step"], "y": track[col], "name": f"{col[1:]}th percentile",
                 "line": {"color": color, "width": width, "dash": dash},
                 "hovertemplate": f"{col[1:]}th: %{{y:.3f}} at step %{{x}}<extra></extra>", **common}
            )  # fmt: skip
    layout = _layout(320, showlegend=False)
    layout["xaxis"] = {"domain": [0, 0.46], "title": {"text": "training step"}, "anchor": "y"}
    layout["xaxis2"] = {"domain": [0.54, 1], "title": {"text": "training step"}, "anchor": "y2"}
    layout["yaxis"] = {"anchor": "x", "title": {"text": "15th / 50th / 85th percentile"}}
    layout["yaxis2"] = {"anchor": "x2"}
    if same_scale:
        both = pd.concat([plain_track, bn_track])[["p15", "p50", "p85"]].to_numpy()
        lo, hi = float(both.min()), float(both.max())
        pad = 0.08 * (hi - lo) if hi > lo else 0.5
        layout["yaxis"]["range"] = layout["yaxis2"]["range"] = [lo - pad, hi + pad]
    layout["annotations"] = [
        {"xref": "paper", "yref": "paper", "x": x, "y": 1.0, "yanchor": "bottom", "xanchor": "left",
         "text": title, "showarrow": False, "font": {"size": FONT}}
        for x, (_, _, _, title) in zip((0.0, 0.54), panels)
    ]  # fmt: skip
    return go.Figure(data=traces, layout=layout)


# ----------------------------------------------------------------------------- 4. noise


def spread_figure(spread: pd.DataFrame) -> go.Figure:
    """Measured spread of μ_B and σ²_B against m (log–log), with the laws for a batch of m
    of the N training examples drawn without replacement (dotted), and for μ_B the 1/√m
    law of m independent draws (solid)."""
    # m = 1 has no variance and m = N no spread: neither has a place on a log axis
    d = spread[(spread["m"] >= 2) & (spread["law_mu_fpc"] > 0) & (spread["sd_mu"] > 1e-12)]
    traces = [
        {"type": "scatter", "x": d["m"], "y": d["law_mu"], "name": "law 1/√m", "mode": "lines",
         "line": {"color": IMPLIED, "width": 2}},
        # the laws for m of the N examples drawn without replacement, dotted in both panels
        # (one legend entry): 1/√m·√((N−m)/(N−1)) for μ_B; for σ²_B the exact spread
        # (bnviz.teach.var_sd_without_replacement), √((κ−1)/m) for N ≫ m
        {"type": "scatter", "x": d["m"], "y": d["law_mu_fpc"], "name": "law without replacement from N",
         "mode": "lines", "line": {"color": IMPLIED, "width": 1.5, "dash": "dot"}, "legendgroup": "fpc"},
        {"type": "scatter", "x": d["m"], "y": d["sd_mu"], "name": "measured sd(μ_B)/σ", "mode": "markers",
         "marker": {"color": RUNNING, "size": 10, "symbol": "circle"}},
        {"type": "scatter", "x": d["m"], "y": d["law_var_fpc"], "name": "law without replacement from N",
         "mode": "lines", "line": {"color": IMPLIED, "width": 1.5, "dash": "dot"}, "xaxis": "x2",
         "yaxis": "y2", "legendgroup": "fpc", "showlegend": False},
        {"type": "scatter", "x": d["m"], "y": d["sd_var"], "name": "measured sd(σ²_B)/σ²", "mode": "markers",
         "marker": {"color": CORRECTED, "size": 10, "symbol": "diamond"}, "xaxis": "x2", "yaxis": "y2"},
    ]  # fmt: skip
    layout = _layout(360)
    layout["legend"] = legend_below(-0.28)
    # labelled ticks only where a reader looks (log axes otherwise print every digit)
    m_ticks = {"tickvals": [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024], "type": "log"}
    s_ticks = {"tickvals": [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2], "type": "log"}
    layout["xaxis"] = {"domain": [0, 0.46], **m_ticks, "title": {"text": "batch size m"}, "anchor": "y"}
    layout["xaxis2"] = {"domain": [0.54, 1], **m_ticks, "title": {"text": "batch size m"}, "anchor": "y2"}
    layout["yaxis"] = {**s_ticks, "anchor": "x", "title": {"text": "spread of μ_B (÷ σ)"}}
    layout["yaxis2"] = {**s_ticks, "anchor": "x2", "title": {"text": "spread of σ²_B (÷ σ²)"}}
    return go.Figure(data=traces, layout=layout)


def gap_figure(gap: pd.DataFrame) -> go.Figure:
    """Final training and test accuracy against batch size, and the gap between them."""
    x = [str(m) for m in gap["m"]]
    traces = [
        {"type": "scatter", "x": x, "y": gap["train_acc"], "name": "training accuracy",
         "mode": "lines+markers", "line": {"color": BN, "width": 2.5, "dash": DASH_TRAIN},
         "marker": {"size": 9, "symbol": "circle"}},
        {"type": "scatter", "x": x, "y": gap["test_acc"], "name": "test accuracy", "mode": "lines+markers",
         "line": {"color": PLAIN, "width": 2.5, "dash": DASH_TEST},
         "marker": {"size": 9, "symbol": "diamond"}},
        {"type": "bar", "x": x, "y": gap["gap"], "name": "gap (train − test)", "marker": {"color": POP},
         "opacity": 0.55, "xaxis": "x2", "yaxis": "y2"},
    ]  # fmt: skip
    layout = _layout(340)
    layout["xaxis"] = {
        "domain": [0, 0.6],
        "type": "category",
        "title": {"text": "batch size m"},
        "anchor": "y",
    }
    layout["xaxis2"] = {
        "domain": [0.7, 1],
        "type": "category",
        "title": {"text": "batch size m"},
        "anchor": "y2",
    }
    layout["yaxis"] = {"anchor": "x", "tickformat": ".0%", "title": {"text": "accuracy"}}
    layout["yaxis2"] = {
        "anchor": "x2",
        "tickformat": ".1%",
        "title": {"text": "train − test"},
        "zeroline": True,
    }
    return go.Figure(data=traces, layout=layout)


# ----------------------------------------------------------------------------- 5. test time

CHOICE_COLORS = {
    "batch of one": PLAIN,
    "running EWA": RUNNING,
    "bias-corrected EWA": CORRECTED,
    "population": POP,
    "batches of m": IMPLIED,
}
# and, so that they differ without colour: a marker and dash per choice, a pattern on its bars
CHOICE_SYMBOLS = dict(zip(CHOICE_COLORS, ("x", "circle", "diamond", "square", "triangle-up")))
CHOICE_DASHES = dict(zip(CHOICE_COLORS, ("dot", "solid", "dash", "dashdot", "longdash")))
CHOICE_PATTERNS = dict(zip(CHOICE_COLORS, ("x", "", "/", ".", "\\")))


def test_example_figure(
    z_norm: Mapping[str, np.ndarray], probs: Mapping[str, np.ndarray], true_class: int
) -> go.Figure:
    """One test example: z_norm of the first hidden layer's units (left) and the class
    probabilities (right) under each choice of statistics."""
    traces: list[dict[str, Any]] = []
    for label, zn in z_norm.items():
        color = CHOICE_COLORS.get(label, IMPLIED)
        traces.append(
            {"type": "scatter", "x": list(range(1, len(zn) + 1)), "y": list(map(float, zn)), "name": label,
             "mode": "markers+lines",
             "line": {"color": color, "width": 1.5, "dash": CHOICE_DASHES.get(label, "solid")},
             "marker": {"color": color, "size": 8, "symbol": CHOICE_SYMBOLS.get(label, "circle")},
             "legendgroup": label}
        )  # fmt: skip
        p = probs[label]
        traces.append(
            {"type": "bar", "x": [str(c) for c in range(len(p))], "y": list(map(float, p)), "name": label,
             "marker": {"color": color, "pattern": {"shape": CHOICE_PATTERNS.get(label, "")}}, "xaxis": "x2",
             "yaxis": "y2", "showlegend": False, "legendgroup": label}
        )  # fmt: skip
    layout = _layout(380, barmode="group")
    layout["legend"] = legend_above()  # it says what the four colours are before the reader scrolls
    layout["margin"] = {**layout.get("margin", {}), "t": 60}
    layout["xaxis"] = {"domain": [0, 0.5], "title": {"text": "unit of hidden layer 1"}, "anchor": "y"}
    layout["yaxis"] = {"anchor": "x", "title": {"text": "z_norm"}}
    layout["xaxis2"] = {"domain": [0.58, 1], "type": "category", "anchor": "y2",
                        "title": {"text": f"class (true class: {true_class})"}}  # fmt: skip
    layout["yaxis2"] = {"anchor": "x2", "range": [0, 1.02], "title": {"text": "probability"}}
    return go.Figure(data=traces, layout=layout)


def test_time_figure(table: pd.DataFrame, choices: list[str]) -> go.Figure:
    """Test accuracy per choice of statistics, one group of bars per (m, decay)."""
    x = [f"m={m}, decay={fmt.number(d, 6)}" for m, d in zip(table["m"], table["decay"])]
    traces = [
        {"type": "bar", "x": x, "y": table[c], "name": c,
         "marker": {"color": CHOICE_COLORS.get(c, IMPLIED), "pattern": {"shape": CHOICE_PATTERNS.get(c, "")}}}
        for c in choices
    ]  # fmt: skip
    layout = _layout(380, barmode="group")
    layout["legend"] = legend_below(-0.3)
    layout["yaxis"] = {"range": [0, 1.02], "tickformat": ".0%", "title": {"text": "test accuracy"}}
    return go.Figure(data=traces, layout=layout)


# ----------------------------------------------------------------------------- 6. conventions


def conventions_figure(
    steps: np.ndarray, batch_var: np.ndarray, running_var: Mapping[str, np.ndarray], population_var: float
) -> go.Figure:
    """One unit's running σ² under each convention (a colour and a dash each), over the same
    mini-batch σ²_B."""
    colors = [RUNNING, PLAIN, CORRECTED, POP, IMPLIED]
    traces: list[dict[str, Any]] = [
        {"type": "scatter", "x": steps, "y": batch_var, "name": "mini-batch σ²_B", "mode": "lines",
         "line": {"color": BATCH, "width": 1}},
    ]  # fmt: skip
    for (label, v), color, dash in zip(running_var.items(), colors, SERIES_DASHES):
        traces.append({"type": "scatter", "x": steps, "y": v, "name": label, "mode": "lines",
                       "line": {"color": color, "width": 2.5, "dash": dash}})  # fmt: skip
    layout = _layout(360)
    layout["shapes"] = [{"type": "line", "xref": "paper", "yref": "y", "x0": 0, "x1": 1,
                         "y0": population_var, "y1": population_var,
                         "line": {"color": POP, "width": 1, "dash": "dot"}}]  # fmt: skip
    layout["xaxis"] = {"title": {"text": "training step"}}
    layout["yaxis"] = {"title": {"text": "running σ² of the unit"}, "rangemode": "tozero"}
    return go.Figure(data=traces, layout=layout)


def variance_bias_figure(table: pd.DataFrame, m: int) -> go.Figure:
    """Each running σ² estimate over the population σ² (``caveats.ratio_table``): a bar at the
    mean over seeds with the seeds' range as its error bar, and the two laws as lines: (m − 1)/m
    for the note's 1/m σ²_B (bias-corrected or not), 1 for PyTorch's m/(m − 1)·σ²_B."""
    colors = (RUNNING, CORRECTED, IMPLIED)
    patterns = ("", "/", "x")
    traces = [
        {"type": "bar", "orientation": "h", "y": [row["estimate"]], "x": [row["mean"]],
         "name": row["estimate"],
         "marker": {"color": color, "pattern": {"shape": pattern}}, "showlegend": False,
         "error_x": {"type": "data", "symmetric": False, "array": [row["max"] - row["mean"]],
                     "arrayminus": [row["mean"] - row["min"]], "color": IMPLIED},
         "hovertemplate": "%{y}: %{x:.2f} × the population σ²<extra></extra>"}
        for (_, row), color, pattern in zip(table.iterrows(), colors, patterns)
    ]  # fmt: skip
    law = (m - 1) / m
    layout = _layout(250, showlegend=False)
    layout["margin"] = {"l": 260, "r": 24, "t": 36, "b": 44}
    layout["xaxis"] = {"range": [0, 1.3], "title": {"text": "running σ² ÷ population σ² (hidden layer 1)"}}
    layout["yaxis"] = {"autorange": "reversed"}
    layout["shapes"] = [_vline(law, color=MARK), _vline(1.0, color=POP, dash="dot")]
    layout["annotations"] = [
        {"x": law, "y": 1.0, "xref": "x", "yref": "paper", "yanchor": "bottom", "showarrow": False,
         "text": f"(m − 1)/m = {fmt.number(law, 3)}", "font": {"color": MARK}},
        {"x": 1.0, "y": 1.0, "xref": "x", "yref": "paper", "yanchor": "bottom", "showarrow": False,
         "text": "1: the population σ²", "font": {"color": POP}},
    ]  # fmt: skip
    return go.Figure(data=traces, layout=layout)

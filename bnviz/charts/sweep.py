"""Figures of the Sweep page: a summary table in, a Plotly figure out.

The summary is :func:`bnviz.sweep.summarize`'s: one row per configuration with the
swept settings and ``mean``, ``std``, ``min``, ``max``, ``n``, ``seeds``,
``n_diverged`` of one metric over seeds. No Streamlit here and no math: one swept
setting gives a line with a band spanning the seeds (min to max), two give a
heatmap (first setting across, second down), or one line per value of the second.
Hovering shows the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from .. import fmt
from ..explorer import NORM_NAMES
from ..settings import Settings
from ..sweep import METRICS
from .style import BN, SERIES, SERIES_DASHES, SERIES_SYMBOLS, base_layout, legend_above

MARGIN = {"l": 64, "r": 16, "t": 40, "b": 48}  # room for the metric's axis title


def param_label(name: str) -> str:
    """The slider label of a setting (``"Batch size m"``)."""
    return Settings.spec(name).label


def value_label(name: str, value: Any) -> str:
    """A setting's value as the app writes it: on/off, ``1e-5``, ``0.9``, ``relu``, and a
    normalization by its name (``bnviz.explorer.NORM_NAMES``: "LayerNorm")."""
    if isinstance(value, bool) or Settings.spec(name).kind == "bool":
        return "on" if value else "off"
    if name == "normalization" and value in NORM_NAMES:
        return NORM_NAMES[value]
    if isinstance(value, float):
        return fmt.number(value, 6)
    return str(value)


def _numeric_axis(name: str, values: Sequence[Any]) -> dict[str, Any]:
    """Axis settings for a swept setting: log for log-like settings with positive values,
    ticked at the swept values (Plotly's own log ticks label 20 and 30 as "2" and "3")."""
    spec = Settings.spec(name)
    if spec.kind in ("bool", "choice"):
        return {"type": "category"}
    if spec.log and all(v > 0 for v in values):
        ticks = sorted(set(values))
        return {"type": "log", "tickvals": ticks, "ticktext": [value_label(name, v) for v in ticks]}
    return {"type": "linear"}


def _hover(name: str, metric: str, extra: str = "") -> str:
    m = METRICS[metric]
    f = m.fmt
    return (
        f"<b>{param_label(name)} = %{{customdata[0]}}</b>{extra}<br>"
        f"{m.label}: %{{y:{f}}} (mean)<br>" + _seeds_hover(f)
    )


def _seeds_hover(f: str) -> str:
    """The hover lines about the seeds, from ``customdata`` = [label, std, min, max, n, seeds, diverged]."""
    return (
        f"seeds: min %{{customdata[2]:{f}}}, max %{{customdata[3]:{f}}}, std %{{customdata[1]:{f}}}<br>"
        "%{customdata[4]} of %{customdata[5]} seeds have a value; %{customdata[6]} diverged"
        "<extra></extra>"
    )


def _layout(metric: str, height: int) -> dict[str, Any]:
    m = METRICS[metric]
    yaxis: dict[str, Any] = {"title": {"text": m.label}, "tickformat": m.fmt.replace(".1%", ".0%")}
    return base_layout(height, margin=MARGIN, legend=legend_above(), yaxis=yaxis)


def _custom(name: str, part: pd.DataFrame) -> list[list[Any]]:
    """Per point: [label, std, min, max, n, seeds, n_diverged, config] (config -1 if unknown).

    The page reads the config back from a clicked point."""
    configs = part["config"] if "config" in part.columns else [-1] * len(part)
    return [
        [value_label(name, v), sd, lo, hi, int(n), int(seeds), int(d), int(c)]
        for v, sd, lo, hi, n, seeds, d, c in zip(
            part[name],
            part["std"],
            part["min"],
            part["max"],
            part["n"],
            part["seeds"],
            part["n_diverged"],
            configs,
        )
    ]


def line(
    summary: pd.DataFrame, param: str, metric: str, series: str | None = None, height: int = 420
) -> go.Figure:
    """Mean of ``metric`` against ``param``, with a band from the lowest to the highest seed.

    With ``series``, one line (and band) per value of that second setting, each with its
    own colour, dash and marker (``bnviz.charts.style.SERIES*``): they differ without colour too.
    """
    fig = go.Figure()
    categorical = _numeric_axis(param, list(summary[param]))["type"] == "category"
    groups = [(None, summary)] if series is None else list(summary.groupby(series, sort=False))
    for i, (key, part) in enumerate(groups):
        color = BN if series is None else SERIES[i % len(SERIES)]
        dash = SERIES_DASHES[i % len(SERIES_DASHES)]
        symbol = SERIES_SYMBOLS[i % len(SERIES_SYMBOLS)]
        x = [value_label(param, v) for v in part[param]] if categorical else list(part[param])
        name = "mean over seeds" if series is None else f"{param_label(series)} = {value_label(series, key)}"
        if int(part["seeds"].max()) > 1:
            fig.add_trace(
                go.Scatter(
                    x=x + x[::-1],
                    y=list(part["max"]) + list(part["min"])[::-1],
                    fill="toself",
                    fillcolor=_rgba(color, 0.15),
                    line={"width": 0},
                    hoverinfo="skip",
                    showlegend=series is None,
                    name="range over seeds",
                    legendgroup=name,
                )
            )
        extra = "" if series is None else f"<br>{param_label(series)} = {value_label(series, key)}"
        fig.add_trace(
            go.Scatter(
                x=x,
                y=list(part["mean"]),
                mode="lines+markers",
                line={"color": color, "width": 2, "dash": dash},
                marker={"size": 8, "symbol": symbol},
                name=name,
                legendgroup=name,
                customdata=_custom(param, part),
                hovertemplate=_hover(param, metric, extra),
            )
        )
    layout = _layout(metric, height)
    layout["xaxis"] = {"title": {"text": param_label(param)}, **_numeric_axis(param, list(summary[param]))}
    if categorical:
        layout["xaxis"]["categoryorder"] = "array"
        layout["xaxis"]["categoryarray"] = list(dict.fromkeys(value_label(param, v) for v in summary[param]))
    fig.update_layout(**layout)
    return fig


def heatmap(summary: pd.DataFrame, x: str, y: str, metric: str, height: int = 420) -> go.Figure:
    """Mean of ``metric`` for every (``x``, ``y``) pair; each cell shows its number.

    Cells where every seed diverged say so; a cell without a value (a target never
    reached) says "never".
    """
    m = METRICS[metric]
    xs = list(dict.fromkeys(summary[x]))
    ys = list(dict.fromkeys(summary[y]))
    cell: dict[tuple[Any, Any], Any] = {  # named-tuple rows: fields by column name
        (a, b): row for a, b, row in zip(summary[x], summary[y], summary.itertuples(index=False))
    }
    z, text = [], []
    for b in ys:
        z_row, t_row = [], []
        for a in xs:
            r = cell.get((a, b))
            mean = None if r is None or pd.isna(r.mean) else float(r.mean)
            z_row.append(mean)
            if r is None:
                t_row.append("")
            elif r.n_diverged == r.seeds:
                t_row.append("diverged")
            elif mean is None:
                t_row.append("never")
            else:
                t_row.append(format(mean, m.fmt) + ("*" if r.n_diverged else ""))
        z.append(z_row)
        text.append(t_row)
    if m.higher_is_better is None:
        scale: dict[str, Any] = {"colorscale": "RdBu", "zmid": 0}
    else:
        scale = {"colorscale": "Viridis", "reversescale": not m.higher_is_better}
    f = m.fmt
    heat = go.Heatmap(
        x=[value_label(x, a) for a in xs],
        y=[value_label(y, b) for b in ys],
        z=z,
        text=text,
        texttemplate="%{text}",
        hoverinfo="skip",
        colorbar={"title": {"text": m.label, "side": "right"}, "tickformat": f.replace(".1%", ".0%")},
        **scale,
    )
    # Heatmaps cannot be selected in Plotly: one invisible marker per cell carries the hover
    # and the click (hoverdistance -1: the nearest centre, i.e. the cell under the mouse);
    # a selected cell gets a white outline.
    cells = summary[summary[x].isin(xs) & summary[y].isin(ys)]
    custom = [row + [mean] for row, mean in zip(_custom(x, cells), cells["mean"])]
    picker = go.Scatter(
        x=[value_label(x, a) for a in cells[x]],
        y=[value_label(y, b) for b in cells[y]],
        mode="markers",
        marker={"symbol": "square-open", "size": 36, "color": "white", "opacity": 0, "line": {"width": 3}},
        selected={"marker": {"opacity": 1}},
        unselected={"marker": {"opacity": 0}},
        customdata=custom,
        hovertemplate=(
            f"<b>{param_label(x)} = %{{x}}, {param_label(y)} = %{{y}}</b><br>"
            f"{m.label}: %{{customdata[8]:{f}}} (mean)<br>" + _seeds_hover(f)
        ),
        showlegend=False,
        name="cells",
    )
    fig = go.Figure([heat, picker])
    layout = _layout(metric, height)
    layout["xaxis"] = {"title": {"text": param_label(x)}, "type": "category"}
    layout["yaxis"] = {"title": {"text": param_label(y)}, "type": "category"}
    layout["hoverdistance"] = -1
    fig.update_layout(**layout)
    return fig


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"

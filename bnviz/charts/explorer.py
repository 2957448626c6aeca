"""Figures and tables of the Explorer page: a Run in, a Plotly figure or a DataFrame out.

No Streamlit here, and no statistics: what is drawn is what ``bnviz.train`` recorded,
and the numbers marked on it (μ, σ, what γ and β imply, the pooled values of all units)
come from ``bnviz.explorer``, where the page reads the same numbers for its equations.
The only arithmetic here is display arithmetic (bin centres, axis ranges, colours).

Names follow the note: ``z``, ``z_norm``, ``z_tilde``, ``mu``, ``var``, ``eps``,
``gamma``, ``beta``, ``decay``. ``layer`` is 0-based, ``unit`` is 0-based or ``-1`` for
all units pooled, ``k`` is a checkpoint index into ``run.ckpt_steps``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import struct
import threading
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from .. import fmt
from ..explorer import (
    EXAMPLE,
    NORMALIZE,
    NormOver,
    StackedBatchPoints,
    StackedHistograms,
    UnitNumbers,
    all_unit_numbers,
    mean_sd,
    normalized_with,
    per_example,
    stacked_batch_points,
    stacked_histograms,
    stat_series,
)
from ..train import HIST_BINS, Run
from .style import (
    BATCH,
    BN,
    BN_SYMBOL,
    CLASS_COLORS,
    CORRECTED,
    DASH_CORRECTED,
    DASH_LOSS,
    DASH_RUNNING,
    DASH_TEST,
    DASH_TRAIN,
    FONT,
    HIST,
    IMPLIED,
    MARK,
    MARKERS_SHOWN,
    PLAIN,
    PLAIN_SYMBOL,
    POP,
    POP_SYMBOL,
    RUNNING,
    base_layout,
)

STATS_LABELS = {
    "running": "running EWA (raw)",
    "corrected": "running EWA, bias-corrected",
    "population": "population (whole training set)",
    "batch": "the test set as one batch",
}
PLAY_MS = 400  # Play: one checkpoint every 0.4 s, in the browser
MOVIE_HEIGHT = 340  # the histograms; their player's bar adds 44 px, and the page leaves 400 for both
MAP_POINTS = 300  # training points drawn over the decision boundary (the first ones: a random sample)
MAP_PIXELS = 480  # side of the training points' image (drawn at about half size: smooth dots)
DOT = 4  # radius of a training point in that image, in pixels


def _subplot_titles(*texts: tuple[str, float]) -> list[dict[str, Any]]:
    """Small titles above subplots (text, left edge in paper coordinates).

    Used instead of axis titles, which roughly double the time Plotly takes to draw a
    figure (measured in headless Chromium: 48 → 21 ms for the statistics chart).
    """
    return [
        {"text": t, "x": x, "y": 1.0, "xref": "paper", "yref": "paper", "xanchor": "left",
         "yanchor": "bottom", "showarrow": False, "font": {"size": FONT}}
        for t, x in texts
    ]  # fmt: skip


def figure_dict(data: list[dict[str, Any]], layout: dict[str, Any]) -> dict[str, Any]:
    """What ``_figure(data, layout)`` holds, as plain dicts, without making the Figure: the
    layout gets Plotly's default template, as a Figure's does (the same JSON once parsed).

    A Figure costs 1.5–8 ms to make even unvalidated (it deep-copies the dicts and sets the
    template property by property), and the Explorer's server makes three for every run it
    shows. The template's dict is shared: nothing may change it.
    """
    return {"data": data, "layout": layout if "template" in layout else {**layout, "template": _template()}}


@functools.cache
def _template() -> dict[str, Any]:
    return pio.templates[pio.templates.default].to_plotly_json()


def figure_of(spec: dict[str, Any]) -> go.Figure:
    """The Figure of a :func:`figure_dict` (which gets the same template by itself)."""
    layout = {k: v for k, v in spec["layout"].items() if k != "template" or v is not _template()}
    return _figure(spec["data"], layout)


def _figure(data: list[dict[str, Any]], layout: dict[str, Any],
            frames: list[dict[str, Any]] | None = None) -> go.Figure:
    """A Figure from our own dicts, without Plotly's per-property validation.

    Validation costs ~50 ms for the 51 animation frames of one movie figure and would
    run on every redraw; these dicts are built here from numbers only, and the tests
    re-validate every figure (``go.Figure(fig.to_dict())``).
    """
    fig = go.Figure(data=data, layout=layout, _validate=False)
    if frames:
        objs = tuple(go.Frame(f, _validate=False) for f in frames)
        if hasattr(fig, "_frame_objs"):
            fig._frame_objs = objs  # the same as fig.frames = ..., minus re-validation
        else:  # pragma: no cover - a Plotly without the private attribute
            fig.frames = objs
    return fig


def _fmt(x: float) -> str:
    """A number in a panel title: 3 digits, and 0 for the rounding noise of an exact zero mean."""
    return fmt.number(x, 3, zero_below=1e-9)


# --------------------------------------------------------------------------- histograms


def _typed(a: np.ndarray) -> dict[str, str]:
    """A NumPy array as Plotly's base64 typed-array spec (cheap to validate and to send)."""
    a = np.ascontiguousarray(a)
    if a.dtype.kind == "f":
        a = a.astype("<f4")
    return {"dtype": a.dtype.str.lstrip("<>|="), "bdata": base64.b64encode(a.tobytes()).decode()}


def _typed_rows(a: np.ndarray) -> list[dict[str, str]]:
    """:func:`_typed` of each row of a 2-D array (``base64.b64encode`` is ``b2a_base64``
    without the newline, here read from each row's buffer without copying it to bytes)."""
    a = np.ascontiguousarray(a)
    if a.dtype.kind == "f":
        a = a.astype("<f4")
    dtype = a.dtype.str.lstrip("<>|=")
    return [{"dtype": dtype, "bdata": binascii.b2a_base64(row, newline=False).decode()} for row in a]


def _bars(h: StackedHistograms) -> list[dict[str, Any]]:
    """Each checkpoint's histogram as bars: centre of bin 0, bin width, counts; where the
    statistics are not defined, no bars (zero counts on [0, 1])."""
    defined = h.defined[:, None]
    edges = np.where(defined, h.edges, np.linspace(0.0, 1.0, HIST_BINS + 1))
    counts = np.where(defined, h.counts, 0.0)
    dx = edges[:, 1] - edges[:, 0]
    x0 = edges[:, 0] + dx / 2
    # one unit's counts: whole numbers, sent in half the bytes
    whole = (counts.max(axis=1, initial=0) < 2**16) & (counts == np.round(counts)).all(axis=1)
    as_u2 = iter(_typed_rows(counts[whole].astype(np.uint16)))
    as_f4 = iter(_typed_rows(counts[~whole]))
    y = [next(as_u2) if w else next(as_f4) for w in whole.tolist()]
    return [{"x0": x, "dx": d, "width": d, "y": t} for x, d, t in zip(x0.tolist(), dx.tolist(), y)]


def _marks(centre: float, spread: float, top: float) -> dict[str, Any]:
    """One line trace: a solid line at ``centre`` and dashed-looking ones at ±``spread``."""
    xs = [centre, centre, None, centre - spread, centre - spread, None, centre + spread, centre + spread]
    ys = [0, top, None, 0, top * 0.8, None, 0, top * 0.8]
    return {"x": xs, "y": ys}


def _lines(xs: list[float], top: float) -> dict[str, Any]:
    """Full-height vertical lines at ``xs`` (one line trace)."""
    return {"x": [v for x in xs for v in (x, x, None)], "y": [v for _ in xs for v in (0, top, None)]}


STATS_WORDS = {"batch": "this mini-batch", "running": "running EWA", "population": "population",
               EXAMPLE: "this mini-batch"}
# The Explorer's "Normalize with" choices (bnviz.explorer.NORMALIZE, EXAMPLE), as the page names them.
NORMALIZE_LABELS = {"batch": "this mini-batch (training)", "running": "running EWA (test time)",
                    "population": "population", EXAMPLE: "each example's own"}


def _panel_titles(run: Run, n: UnitNumbers, unit: int) -> list[str]:
    """Two lines per panel (its name, then its numbers): one line runs into the next panel's
    at 150 % browser zoom on a 1280×720 projector, where a panel is about 100 px wide."""
    who = f"unit {unit + 1}" if unit >= 0 else "all units"
    mu, sd = {"batch": ("μ_B", "σ_B"), EXAMPLE: ("batch mean", "sd")}.get(n.stats, ("μ", "σ"))
    if not n.defined:
        stats = f"{STATS_WORDS[n.stats]}:<br>undefined at step 0 (v₀ = 0)"
        return [f"<b>Z</b> ({who})<br>{stats}", "<b>Z_norm</b><br>–", "<b>Z̃</b><br>–"][: len(run.quantities)]
    titles = [f"<b>Z</b> ({who})<br>{mu} = {_fmt(n.mu)}, {sd} = {_fmt(n.sd)}"]
    if len(run.quantities) > 1 and (n.stats == EXAMPLE or n.norm_mean != 0):
        # per example (or Batch Renorm's r, d): a unit's z_norm has its own mean
        titles.append(f"<b>Z_norm</b><br>mean = {_fmt(n.norm_mean)}, sd = {_fmt(n.sd_norm)}")
        titles.append(f"<b>Z̃</b><br>mean = {_fmt(n.implied_mean)}, sd = {_fmt(n.implied_sd)}")
    elif len(run.quantities) > 1:
        titles.append(f"<b>Z_norm</b><br>sd = {_fmt(n.sd_norm)}")
        titles.append(f"<b>Z̃</b><br>β = {_fmt(n.implied_mean)}, |γ|·sd = {_fmt(n.implied_sd)}")
    return titles


# Two statistics can normalize the training set far beyond what the shared Z_norm / Z̃ axis
# must hold (±1, β ± |γ|, the mini-batch's points, the population-normalized histograms):
# a small mini-batch's own (at m = 2, two nearly equal values give a σ²_B near 0, and the
# training set spreads over ±100 at that step), and the running estimates early in training
# (or with a slow decay and no bias correction). Each may widen the axis by at most this many
# times that width on either side, so the rest stays readable; its bars then run off the
# panel's edge at those steps.
NORMALIZED_REACH = 1.0
RUG = 0.08  # the mini-batch's points sit this far below 0, as a share of the panel's height


def _span(*arrays: Any) -> tuple[float, float]:
    """min and max of the finite values of ``arrays`` (inf, -inf if none)."""
    flat = [np.asarray(a, dtype=np.float64).ravel() for a in arrays]
    values = np.concatenate(flat) if flat else np.zeros(0)
    values = values[np.isfinite(values)]
    return (float(values.min()), float(values.max())) if values.size else (np.inf, -np.inf)


class _Views:
    """Everything the histograms of one (run, layer, unit) show, for every checkpoint and
    every choice of statistics: the numbers, the points and the histograms (from
    ``bnviz.explorer``, stacked over checkpoints), and the axis ranges that hold all of them."""

    def __init__(self, run: Run, layer: int, unit: int, normalize: str) -> None:
        nq = len(run.quantities)
        self.nq = nq
        self.numbers = all_unit_numbers(run, layer, unit, normalize)
        self.points: dict[str, StackedBatchPoints] = {}
        self.hists: dict[str, list[StackedHistograms]] = {}
        marks = []
        z = stacked_histograms(run, layer, unit, 0)  # Z's: the same whatever the statistics
        for w in (*NORMALIZE, EXAMPLE):
            which = normalized_with(run, w)  # LayerNorm, GroupNorm: EXAMPLE whatever w is
            if which in self.points:
                self.points[w], self.hists[w] = self.points[which], self.hists[which]
                continue
            self.points[w] = self.points[which] = stacked_batch_points(run, layer, unit, which)
            self.hists[w] = self.hists[which] = [z] + [stacked_histograms(run, layer, unit, q, which)
                                                       for q in range(1, nq)]  # fmt: skip
            mu, sd, defined = mean_sd(run, layer, unit, which)
            marks += [mu[defined] - sd[defined], mu[defined] + sd[defined]]
        # Z: its histograms and the batch's z, and every choice's mean ± sd marks
        z_lo, z_hi = _span(z.edges[z.defined], self.points["batch"].z, *marks)
        self.ranges = [_padded(z_lo, z_hi)]
        self.tops = [_top([z])]
        if nq > 1:
            refs = [(-1.0, 1.0)] + [(n.beta - abs(n.gamma), n.beta + abs(n.gamma))
                                    for n in self.numbers]  # fmt: skip
            spans, point_spans = {}, {}
            for w in NORMALIZE:
                p, hists = self.points[w], self.hists[w]
                assert p.z_norm is not None and p.z_tilde is not None  # BN: nq > 1
                # each checkpoint's z_norm, then its z_tilde
                points = np.stack([p.z_norm, p.z_tilde], axis=1)
                spans[w] = _span(*(h.edges[h.defined] for h in hists[1:]), points)
                point_spans[w] = _span(points)
            # what must show; then the mini-batch's bars, then the running ones, within reach
            lo, hi = _span(refs, point_spans["batch"], spans["population"])
            lo, hi = _within_reach((lo, hi), spans["batch"])
            self.ranges += [_padded(*_within_reach((lo, hi), spans["running"]))] * 2
            for q in (1, 2):
                self.tops.append(_top([self.hists[w][q] for w in NORMALIZE]))
        self.tops = [t * 1.08 or 1.0 for t in self.tops]


def _within_reach(held: tuple[float, float], wanted: tuple[float, float]) -> tuple[float, float]:
    """The range ``held`` widened toward ``wanted`` by at most ``NORMALIZED_REACH`` times its
    width on either side."""
    lo, hi = held
    reach = NORMALIZED_REACH * (hi - lo)
    return min(lo, max(wanted[0], lo - reach)), max(hi, min(wanted[1], hi + reach))


def _top(hists: list[StackedHistograms]) -> float:
    """The highest bar of the defined checkpoints of ``hists``: each row's maximum, then the
    largest of them as Python's ``max`` picks it."""
    return max(m for h in hists for m in h.counts[h.defined].max(axis=1).tolist())


def _padded(lo: float, hi: float) -> list[float]:
    """An axis range holding [lo, hi], 3 % wider on each side (a unit width if they are equal)."""
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.03 * (hi - lo)
    return [lo - pad, hi + pad]



def _png(pixels: np.ndarray) -> str:
    """An (h, w, 3) RGB or (h, w, 4) RGBA uint8 image as a PNG data URI (zlib only)."""
    h, w, c = pixels.shape
    raw = np.zeros((h, 1 + w * c), dtype=np.uint8)  # each row: its filter type (0, none), its pixels
    raw[:, 1:] = pixels.reshape(h, w * c)

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    colour_type = {3: 2, 4: 6}[c]
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour_type, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode()


def points_image(x: np.ndarray, y: np.ndarray, classes: np.ndarray, extent: tuple[float, float, float, float],
                 dark: bool = False, size: int = MAP_PIXELS) -> str:
    """Training points as dots on a transparent square PNG covering ``extent`` (x0, x1, y0, y1).

    One image instead of hundreds of SVG markers: the browser draws it in a fraction of
    the time, and it never changes with the step, the layer or the unit.
    """
    x0, x1, y0, y1 = extent
    img = np.zeros((size, size, 4), dtype=np.uint8)
    col = np.round((np.asarray(x) - x0) / (x1 - x0) * (size - 1)).astype(int)
    row = np.round((y1 - np.asarray(y)) / (y1 - y0) * (size - 1)).astype(int)
    fills = np.array([[*_rgb(c), 255] for c in CLASS_COLORS], dtype=np.uint8)[np.asarray(classes, dtype=int)]
    edge = np.array([*_rgb("#ffffff" if dark else "#222222"), 255], dtype=np.uint8)
    reach = np.arange(-DOT - 1, DOT + 2)
    for radius, paint in ((DOT + 0.9, None), (DOT - 0.4, fills)):  # outlines first, then the dots
        for dy in reach:
            for dx in reach:
                if np.hypot(dy, dx) > radius:
                    continue
                r, c = row + dy, col + dx
                ok = (r >= 0) & (r < size) & (c >= 0) & (c < size)
                img[r[ok], c[ok]] = edge if paint is None else paint[ok]
    return _png(img)


def _rgb(color: str) -> np.ndarray:
    return np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.float64)


def boundary_images(run: Run, dark: bool = False) -> list[str]:
    """The decision boundary of each checkpoint as a PNG data URI (row 0 = the top of the plane).

    P(class 1) (0 … 255) is coloured from class 0's colour through a neutral middle to
    class 1's; the browser stretches the 32×32 grid smoothly over the plane.
    """
    assert run.boundary is not None
    img = _boundary_palette(dark)[run.boundary[:, ::-1]]  # (n_ckpt, g, g, 3); y grows upwards
    return [_png(frame) for frame in img]


@functools.cache
def _boundary_palette(dark: bool) -> np.ndarray:
    """The colour of each of the 256 values of P(class 1), as (256, 3) uint8: one lookup per
    pixel instead of the interpolation per pixel (the boundary is stored as uint8)."""
    p = np.arange(256, dtype=np.float64)[:, None] / 255.0
    c0, c1 = _rgb(CLASS_COLORS[0]), _rgb(CLASS_COLORS[1])
    mid = _rgb("#3a3a3a" if dark else "#f4f4f4")
    lo = c0 + (mid - c0) * np.clip(p * 2, 0, 1)
    hi = mid + (c1 - mid) * np.clip(p * 2 - 1, 0, 1)
    palette = np.where(p < 0.5, lo, hi).round().astype(np.uint8)
    palette.flags.writeable = False
    return palette


def movie_player(run: Run, k: int) -> dict[str, Any]:
    """The player under the histograms (``bnviz.app.livechart``): one frame per checkpoint,
    labelled with its step, frame ``k`` shown first, Play at one checkpoint per ``PLAY_MS``."""
    nk = len(run.ckpt_steps)
    return {"active": min(max(k, 0), nk - 1), "labels": [str(int(t)) for t in run.ckpt_steps],
            "prefix": "step ", "interval_ms": PLAY_MS, "label": "Training step shown by the histograms"}


def movie_figure(run: Run, layer: int, unit: int, k: int, dark: bool = False,
                 normalize: str = "batch") -> go.Figure:
    """:func:`movie_spec` as a Plotly Figure."""
    spec = movie_spec(run, layer, unit, k, dark, normalize)
    return _figure(spec["data"], spec["layout"], spec["frames"])


def movie_spec(run: Run, layer: int, unit: int, k: int, dark: bool = False,
               normalize: str = "batch") -> dict[str, Any]:
    """Histograms of Z, Z_norm, Z̃ (and the decision boundary for 2-D data), one
    animation frame per checkpoint, normalized with ``normalize`` (``bnviz.explorer.NORMALIZE``).

    Each frame draws the training sample at that checkpoint as bars and, under them as a
    rug of ticks, the mini-batch its step trained on (``bnviz.explorer.batch_points``).
    Each histogram panel marks its mean (solid red) and mean ± one standard deviation:
    μ, σ of the chosen statistics for Z (μ_B, σ_B of the batch with "batch"); 0, sd_norm
    for Z_norm; and what γ, β imply for Z̃ (β, |γ|·sd_norm). Grey lines: ±1 on Z_norm, and
    β, β ± |γ| on Z̃ (per frame, as γ and β train).

    Z_norm and Z̃ share one x-axis, and every axis is fixed over all checkpoints and all
    choices of statistics (it holds all of them, save the bars of a step whose mini-batch or
    running statistics spread the training set far wider: ``NORMALIZED_REACH``), so γ
    visibly stretches Z̃, β shifts it, ε narrows Z_norm, and switching the statistics moves
    the picture, not the axes.

    The player under the chart (:func:`movie_player`, drawn by ``bnviz.app.livechart``:
    Play / Pause and a step slider) moves between the frames without a server round
    trip. Frames carry only what changes (bar heights and positions, the points' x, the
    lines, the panel titles as text traces, and the boundary as a small PNG in
    ``layout.images``), so a step is a cheap ``redraw: false`` update. ``k`` is the frame
    shown first.

    Returned as plain ``data``, ``layout`` and ``frames`` (JSON-ready): the Explorer
    sends it to the browser on every change of the unit, and a ``go.Figure`` of it
    would cost more to build and serialise than the figure itself.
    """
    if normalize not in (*NORMALIZE, EXAMPLE):
        raise ValueError(f"normalize must be one of {(*NORMALIZE, EXAMPLE)}, got {normalize!r}")
    nq = len(run.quantities)
    nk = len(run.ckpt_steps)
    k = min(max(k, 0), nk - 1)
    views = _Views(run, layer, unit, normalize)
    has_map = run.boundary is not None and run.boundary_extent is not None
    ncols = nq + (1 if has_map else 0)
    gap = 0.05
    w = (1 - gap * (ncols - 1)) / ncols
    domains = [[i * (w + gap), i * (w + gap) + w] for i in range(ncols)]
    layout = base_layout(MOVIE_HEIGHT)
    layout["margin"] = {"l": 40, "r": 16, "t": 64, "b": 28}  # the player's bar is under the figure
    layout["showlegend"] = False
    layout["bargap"] = 0.05

    numbers = views.numbers
    p = views.points[normalize]
    points = [p.z, p.z_norm, p.z_tilde]
    titles = [_panel_titles(run, n, unit) for n in numbers]
    ink = "#f2f2f2" if dark else "#1a1a1a"
    traces: list[dict[str, Any]] = []
    frame_traces: list[list[dict[str, Any]]] = [[] for _ in range(nk)]
    title_traces: list[dict[str, Any]] = []
    title_frames: list[list[dict[str, Any]]] = [[] for _ in range(nk)]
    point_traces: list[dict[str, Any]] = []
    point_frames: list[list[dict[str, Any]]] = [[] for _ in range(nk)]
    for q in range(nq):
        ax = "" if q == 0 else str(q + 1)
        lo, hi = views.ranges[q]
        top = views.tops[q]
        layout[f"xaxis{ax}"] = {"domain": domains[q], "range": [lo, hi], "anchor": f"y{ax}",
                                "zeroline": False, **({"matches": "x2"} if q == 2 else {})}
        layout[f"yaxis{ax}"] = {"domain": [0, 1], "range": [-2 * RUG * top, top], "anchor": f"x{ax}",
                                "showgrid": True}  # no axis title: Plotly draws a figure with one ~2× slower
        bars = _bars(views.hists[normalize][q])
        xs = points[q]
        assert xs is not None  # z_norm, z_tilde: with BN (nq > 1)
        point_xs = _typed_rows(xs.astype(np.float32))
        for kk in range(nk):
            n = numbers[kk]
            centre, spread = [(n.mu, n.sd), (n.norm_mean, n.sd_norm), (n.implied_mean, n.implied_sd)][q]
            frame_traces[kk].append({"type": "bar", **bars[kk]})
            marks = _marks(centre, spread, top) if n.defined else {"x": [None], "y": [None]}
            frame_traces[kk].append({"type": "scatter", **marks})
            title_frames[kk].append({"type": "scatter", "text": [titles[kk][q]]})
            point_frames[kk].append({"type": "scatter", "x": point_xs[kk]})
        traces.append({
            "type": "bar", "xaxis": f"x{ax}", "yaxis": f"y{ax}", "marker": {"color": HIST[q]},
            "name": run.quantities[q], "hovertemplate": "%{x:.3g}: %{y:.0f}<extra></extra>",
            **frame_traces[k][2 * q],
        })  # fmt: skip
        traces.append({
            "type": "scatter", "mode": "lines", "xaxis": f"x{ax}", "yaxis": f"y{ax}",
            "line": {"color": MARK if q < 2 else IMPLIED, "width": 2}, "hoverinfo": "skip",
            "name": "mean ± sd", **frame_traces[k][2 * q + 1],
        })  # fmt: skip
        # the panel's title: a text trace, because animation frames drawn without a full
        # redraw update traces and images but not annotations
        title_traces.append({
            "type": "scatter", "mode": "text", "x": [(lo + hi) / 2], "y": [top], "xaxis": f"x{ax}",
            "yaxis": f"y{ax}", "text": [titles[k][q]], "textposition": "top center", "cliponaxis": False,
            "hoverinfo": "skip", "name": "title", "textfont": {"size": FONT},
        })  # fmt: skip
        # the mini-batch: one tick per example under the bars (y fixed, frames move x only)
        n_pts = p.z.shape[1]
        point_traces.append({
            "type": "scatter", "mode": "markers", "xaxis": f"x{ax}", "yaxis": f"y{ax}",
            "y": _typed(np.full(n_pts, -RUG * top, np.float32)),
            "marker": {"symbol": "line-ns-open", "size": 11, "color": ink,
                       "line": {"width": 1.5, "color": ink}},
            "name": "mini-batch", "hovertemplate": "%{x:.3g}<extra>mini-batch</extra>",
            **point_frames[k][q],
        })  # fmt: skip
    traces += title_traces + point_traces
    moving = list(range(len(traces)))  # bars, marks, titles and points
    line_frames: list[list[dict[str, Any]]] = [[] for _ in range(nk)]
    if nq > 1:
        grey = {"mode": "lines", "hoverinfo": "skip", "line": {"color": IMPLIED, "width": 1.2, "dash": "dot"}}
        traces.append({"type": "scatter", "xaxis": "x2", "yaxis": "y2", "name": "±1",
                       **grey, **_lines([-1.0, 1.0], views.tops[1])})  # fixed: not in the frames
        for kk, n in enumerate(numbers):
            line_frames[kk].append({"type": "scatter",
                                    **_lines([n.beta - abs(n.gamma), n.beta, n.beta + abs(n.gamma)],
                                             views.tops[2])})  # fmt: skip
        moving.append(len(traces))
        traces.append({"type": "scatter", "xaxis": "x3", "yaxis": "y3", "name": "β, β ± |γ|",
                       **grey, **line_frames[k][0]})
    annotations: list[dict[str, Any]] = []
    frame_layouts: list[dict[str, Any]] = []
    if has_map:
        assert run.boundary is not None and run.boundary_extent is not None
        x0, x1, y0, y1 = run.boundary_extent
        ax = str(ncols)
        layout[f"xaxis{ax}"] = {"domain": domains[-1], "range": [x0, x1], "anchor": f"y{ax}",
                                "showgrid": False, "zeroline": False, "showticklabels": False}
        layout[f"yaxis{ax}"] = {"domain": [0, 1], "range": [y0, y1], "anchor": f"x{ax}",
                                "showgrid": False, "zeroline": False, "showticklabels": False,
                                "scaleanchor": f"x{ax}", "constrain": "domain"}
        place = {"xref": f"x{ax}", "yref": f"y{ax}", "x": x0, "y": y1, "sizex": x1 - x0, "sizey": y1 - y0,
                 "xanchor": "left", "yanchor": "top", "sizing": "stretch", "layer": "below", "opacity": 0.85}
        ds = run.dataset
        n_pts = min(len(ds.y_train), MAP_POINTS)
        extent = run.boundary_extent
        x_pts, y_pts = ds.X_train[:n_pts], ds.y_train[:n_pts]
        points_key = ("points", x_pts.tobytes(), y_pts.tobytes(), tuple(extent), dark)
        dots = _memo(points_key,
                     lambda: points_image(x_pts[:, 0], x_pts[:, 1], y_pts, extent, dark))
        # the training points: a second, static image above the boundary (frames only swap the first)
        points_layer = {"source": dots, **place, "layer": "above", "opacity": 1.0, "name": "training points"}
        boundary = _memo(("boundary", run.boundary.tobytes(), dark), lambda: boundary_images(run, dark))
        layout["images"] = [{"source": boundary[k], **place}, points_layer]
        # a frame swaps only the first image's source; the points image stays
        frame_layouts = [{"images": [{"source": src}]} for src in boundary]
        d = domains[-1]
        annotations.append({
            # two lines, on the map itself (its top, which its aspect puts lower than the other
            # panels' tops on a narrow chart): a line beside the Z̃ title ran into it at 150 %
            # zoom on 1280×720
            "text": "<b>Decision boundary</b><br>P(class 1)", "x": (d[0] + d[1]) / 2, "y": y1,
            "xref": "paper", "yref": f"y{ax}", "yanchor": "bottom", "xanchor": "center", "showarrow": False,
            "font": {"size": FONT}, "yshift": 4,
        })  # fmt: skip
    layout["annotations"] = annotations

    frames = []
    for kk in range(nk):
        data = frame_traces[kk] + title_frames[kk] + point_frames[kk] + line_frames[kk]
        frame: dict[str, Any] = {"name": str(kk), "data": data, "traces": moving}
        if has_map:
            frame["layout"] = frame_layouts[kk]
        frames.append(frame)
    return {"data": traces, "layout": layout, "frames": frames}


_IMAGES: dict[Any, Any] = {}
_IMAGES_LOCK = threading.Lock()
_IMAGES_MAX = 64


def _memo(key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
    """The images of a run do not change with the layer, the unit or the step: make them
    once (about 15 ms for moons: ``bench/profile_display.py``) and reuse them while the
    user looks around the same run.

    ``key`` holds array bytes (tens of kB): they are hashed as they are, each part with
    its length, not through ``repr``, which would copy them into a longer string first.
    """
    h = hashlib.blake2b(digest_size=16)
    for part in key:
        data = part if isinstance(part, bytes) else repr(part).encode()
        h.update(len(data).to_bytes(8, "little") + data)
    digest = h.digest()
    with _IMAGES_LOCK:  # the page's thread and the live charts' background one (their views)
        made = _IMAGES.get(digest)
    if made is None:
        made = make()
        with _IMAGES_LOCK:
            if len(_IMAGES) >= _IMAGES_MAX:
                _IMAGES.pop(next(iter(_IMAGES)))  # the oldest
            _IMAGES[digest] = made
    return made


# --------------------------------------------------------------------------- what is normalized over

# px per cell of the schematic: 12 units fit 444 px with their labels, so the SVG is drawn at
# its own size (text FONT px, as in the charts) beside the equations at 1280×720
SCHEMATIC_CELL = 22


def norm_over_svg(over: NormOver) -> str:
    """The mini-batch as a grid, examples (rows, example 1 on top) × units (columns), the
    first of each (``bnviz.explorer.norm_over``): the set of values that share one μ and σ²
    filled in the BN colour and outlined, the other such sets in alternating greys so the
    partition shows; "…" where the batch or the layer has more than the grid.

    An inline SVG (a string): no chart to mount or draw, text in the page's own colour
    (``currentColor``) on a light and a dark theme alike, greys that read on both.
    """
    rows, cols = over.cells.shape
    c = SCHEMATIC_CELL
    left, top = 84, 22
    right = 96 if over.n > cols else 8
    bottom = 22 if over.m > rows else 4
    width, height = left + c * cols + right, top + c * rows + bottom
    fills = ("rgba(128,128,128,0.16)", "rgba(128,128,128,0.38)", BN)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'style="width:{width}px;max-width:100%;height:auto;color:inherit" '
             f'font-family="sans-serif" font-size="{FONT}">',
             f"<title>{_esc(over.title)}</title>",
             f'<text x="{left - 6}" y="{top - 7}" text-anchor="end" fill="currentColor">unit j →</text>']
    for j in range(cols):
        parts.append(f'<text x="{left + c * j + c / 2}" y="{top - 7}" text-anchor="middle" '
                     f'fill="currentColor">{j + 1}</text>')
    for i in range(rows):
        y = top + c * i
        parts.append(f'<text x="{left - 6}" y="{y + c * 0.7:.1f}" text-anchor="end" '
                     f'fill="currentColor">example {i + 1}</text>')
        for j in range(cols):
            parts.append(f'<rect x="{left + c * j + 1}" y="{y + 1}" width="{c - 2}" height="{c - 2}" '
                         f'fill="{fills[int(over.cells[i, j])]}"><title>example {i + 1}, unit {j + 1}'
                         "</title></rect>")
    where = np.argwhere(over.cells == 2)
    (i0, j0), (i1, j1) = where.min(axis=0), where.max(axis=0)
    parts.append(f'<rect x="{left + c * j0}" y="{top + c * i0}" width="{c * (j1 - j0 + 1)}" '
                 f'height="{c * (i1 - i0 + 1)}" fill="none" stroke="currentColor" stroke-width="2.5"/>')
    if over.n > cols:
        parts.append(f'<text x="{left + c * cols + 6}" y="{top + c * rows / 2 + 5:.1f}" '
                     f'fill="currentColor">… {over.n} units</text>')
    if over.m > rows:
        parts.append(f'<text x="{left}" y="{top + c * rows + 16}" '
                     f'fill="currentColor">⋮ {over.m} examples</text>')
    parts.append("</svg>")
    return "".join(parts)


def _esc(text: str) -> str:
    """Text for SVG markup: &, <, > escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --------------------------------------------------------------------------- curves


def curves_figure(bn_run: Run, plain_run: Run, step: int | None = None, chosen_bn: bool = True,
                  names: tuple[str, str] = ("BN", "no BN")) -> go.Figure:
    """:func:`curves_spec` as a Plotly Figure."""
    return figure_of(curves_spec(bn_run, plain_run, step, chosen_bn, names))


def curves_spec(bn_run: Run, plain_run: Run, step: int | None = None, chosen_bn: bool = True,
                names: tuple[str, str] = ("BN", "no BN")) -> dict[str, Any]:
    """Loss and accuracy against step: the BN run and the no-BN baseline, told apart by
    colour and by marker (``BN_SYMBOL``, ``PLAIN_SYMBOL``), named ``names`` in the legend
    (``bnviz.explorer.norm_names``: e.g. "LayerNorm" and "none").

    Left: mini-batch loss (mean since the previous checkpoint), solid. Right: train
    accuracy (dashed) and test accuracy (dotted). A vertical line marks ``step``.
    ``chosen_bn`` says which run the page's settings describe; that one is drawn thicker.
    """
    layout = base_layout(330)
    layout["xaxis"] = {"domain": [0, 0.46], "anchor": "y"}
    layout["yaxis"] = {"anchor": "x", "rangemode": "tozero"}
    layout["xaxis2"] = {"domain": [0.54, 1], "anchor": "y2"}
    layout["annotations"] = _subplot_titles(("<b>loss</b> (mini-batch) by step", 0),
                                            ("<b>accuracy</b> by step", 0.54))
    layout["yaxis2"] = {"anchor": "x2", "range": [0, 1.02],
                        "tickformat": ".0%"}  # fmt: skip
    layout["margin"]["t"] = 24
    traces = []
    runs = ((bn_run, names[0], BN, BN_SYMBOL, True), (plain_run, names[1], PLAIN, PLAIN_SYMBOL, False))
    for run, name, color, symbol, is_bn in runs:
        c = run.curves
        wide = 2.6 if is_bn == chosen_bn else 1.6
        # the run by colour and marker, the quantity by dash: every legend sample differs
        common = {"type": "scatter", "x": c["step"], "mode": "lines+markers", "legendgroup": name,
                  "marker": {"color": color, "symbol": symbol, "size": 7, "maxdisplayed": MARKERS_SHOWN}}
        traces.append({**common, "y": c["loss"], "name": f"{name}: loss",
                       "line": {"color": color, "width": wide, "dash": DASH_LOSS}})
        traces.append({**common, "y": c["test_acc"], "name": f"{name}: test acc",
                       "line": {"color": color, "width": wide, "dash": DASH_TEST}, "xaxis": "x2",
                       "yaxis": "y2"})
        traces.append({**common, "y": c["train_acc"], "name": f"{name}: train acc",
                       "line": {"color": color, "width": 1.4, "dash": DASH_TRAIN}, "xaxis": "x2",
                       "yaxis": "y2"})
    if step is not None:
        layout["shapes"] = _step_lines(step)
    layout["legend"] = {"orientation": "h", "y": -0.25, "x": 0}
    return figure_dict(traces, layout)


# --------------------------------------------------------------------------- statistics


def _step_lines(step: int) -> list[dict[str, Any]]:
    """A dashed vertical line at ``step`` on both panels of a two-panel figure."""
    return [
        {"type": "line", "xref": ax, "yref": "paper", "x0": step, "x1": step, "y0": 0, "y1": 1,
         "line": {"color": IMPLIED, "width": 1, "dash": "dash"}}
        for ax in ("x", "x2")
    ]  # fmt: skip


def stats_figure(run: Run, layer: int, unit: int, step: int | None = None) -> go.Figure:
    """:func:`stats_spec` as a Plotly Figure."""
    return figure_of(stats_spec(run, layer, unit, step))


def stats_spec(run: Run, layer: int, unit: int, step: int | None = None) -> dict[str, Any]:
    """μ and σ² of one unit over training: noisy mini-batch values (thin, grey), the
    running EWA (raw: solid; bias-corrected: dashed) and the population value at each
    checkpoint (markers).

    ``unit == -1`` shows the mean over units (``bnviz.explorer.stat_series``). A vertical
    line marks ``step``.
    """
    ser = stat_series(run, layer, unit)
    layout = base_layout(360)
    layout["xaxis"] = {"domain": [0, 0.46], "anchor": "y"}
    layout["yaxis"] = {"anchor": "x"}
    layout["xaxis2"] = {"domain": [0.54, 1], "anchor": "y2"}
    layout["yaxis2"] = {"anchor": "x2", "rangemode": "tozero"}
    layout["annotations"] = _subplot_titles(("<b>μ</b> (mean) by step", 0),
                                            ("<b>σ²</b> (variance) by step", 0.54))
    layout["margin"]["t"] = 24
    traces = []
    s = ser.steps
    for (batch, raw, cor, pop), ax, first in (
        ((ser.batch_mu, ser.running_mu, ser.corrected_mu, ser.pop_mu), "", True),
        ((ser.batch_var, ser.running_var, ser.corrected_var, ser.pop_var), "2", False),
    ):
        common = {"xaxis": f"x{ax}", "yaxis": f"y{ax}", "showlegend": first}
        traces += [
            {"type": "scatter", "x": s, "y": batch, "name": "mini-batch μ_B, σ²_B",
             "line": {"color": BATCH, "width": 1}, "legendgroup": "b", **common},
            {"type": "scatter", "x": s, "y": raw, "name": "running EWA (raw)",
             "line": {"color": RUNNING, "width": 2.2, "dash": DASH_RUNNING}, "legendgroup": "r", **common},
            {"type": "scatter", "x": s, "y": cor, "name": "running EWA, bias-corrected",
             "line": {"color": CORRECTED, "width": 2, "dash": DASH_CORRECTED}, "legendgroup": "c", **common},
            {"type": "scatter", "x": ser.ckpt_steps, "y": pop, "name": "population (whole training set)",
             "mode": "markers", "marker": {"color": POP, "size": 6, "symbol": POP_SYMBOL,
                                           "line": {"width": 1.5}},
             "legendgroup": "p", **common},
        ]  # fmt: skip
    if step is not None:
        layout["shapes"] = _step_lines(step)
    layout["legend"] = {"orientation": "h", "y": -0.25, "x": 0}
    return figure_dict(traces, layout)


# --------------------------------------------------------------------------- tables


def accuracy_table(run: Run, k: int | None = None) -> pd.DataFrame:
    """Test accuracy in inference mode for each choice of statistics.

    Columns: ``statistics`` (plain words), ``after training`` and, when ``k`` is given,
    ``at step <t>``. Accuracies are fractions in [0, 1]; NaN where the statistics are not
    defined yet (:data:`UNDEFINED_AT_STEP_0`). LayerNorm and GroupNorm have no statistics to
    choose (each test example is normalized by itself): one row, :data:`EXAMPLE_LABEL`.
    """
    return pd.DataFrame(accuracy_rows(run, k))


def accuracy_rows(run: Run, k: int | None = None) -> list[dict[str, Any]]:
    """:func:`accuracy_table`'s rows as dicts, read from the run's arrays: the Explorer makes
    its table from them at every step it shows, where a DataFrame's indexing would be most of the cost."""
    c = run.curve_columns
    last = len(c["step"]) - 1
    rows = []
    labels = {"batch": EXAMPLE_LABEL} if per_example(run.settings) else STATS_LABELS
    for which, label in labels.items():
        row: dict[str, Any] = {"statistics": label, "after training": _defined(run, which, last)}
        if k is not None:
            row[f"at step {int(c['step'][k])}"] = _defined(run, which, k)
        rows.append(row)
    return rows


# At step 0 nothing has been averaged: the running estimates are v₀ = 0, so inference would
# normalize with μ = 0, σ² = 0, i.e. z_norm = z/√ε, and bias correction divides by
# 1 − decay⁰ = 0. An accuracy measured that way is a number nobody should read.
UNDEFINED_AT_STEP_0 = ("running", "corrected")
UNDEFINED_WHY = (
    "At step 0 nothing has been averaged yet: the running estimates are v₀ = 0 (so "
    "z_norm = z/√ε) and bias correction would divide by 1 − decay⁰ = 0."
)


EXAMPLE_LABEL = "each example's own (no statistics to choose)"


def _defined(run: Run, which: str, k: int) -> float:
    """Checkpoint k's test accuracy with ``which`` statistics, NaN where they are undefined."""
    c = run.curve_columns
    if run.settings.running_estimates and which in UNDEFINED_AT_STEP_0 and int(c["step"][k]) == 0:
        return float("nan")
    return float(c[f"test_acc_{which}"][k])


def curves_table(bn_run: Run, plain_run: Run) -> pd.DataFrame:
    """Both runs' curves in one long table (column ``bn`` says which), for CSV export."""
    return pd.concat(
        [bn_run.curves.assign(bn=True), plain_run.curves.assign(bn=False)], ignore_index=True
    )


def stats_table(run: Run, layer: int) -> pd.DataFrame:
    """Per recorded step and unit: μ_B, σ²_B, running (raw, corrected), for CSV export.

    Population values (per checkpoint) are joined at the checkpoint steps (NaN elsewhere).
    """
    rec = run.layers[layer]
    cmu, cvar = run.corrected(layer)
    n, w = rec.batch_mu.shape
    frame = pd.DataFrame({
        "step": np.repeat(run.stat_steps, w),
        "unit": np.tile(np.arange(1, w + 1), n),
        "mu_B": rec.batch_mu.ravel(), "var_B": rec.batch_var.ravel(),
        "running_mu": rec.running_mu.ravel(), "running_var": rec.running_var.ravel(),
        "corrected_mu": cmu.ravel(), "corrected_var": cvar.ravel(),
    })  # fmt: skip
    kw = rec.pop_mu.shape[1]
    pop = pd.DataFrame({
        "step": np.repeat(run.ckpt_steps, kw), "unit": np.tile(np.arange(1, kw + 1), len(run.ckpt_steps)),
        "population_mu": rec.pop_mu.ravel(), "population_var": rec.pop_var.ravel(),
    })  # fmt: skip
    both = frame.merge(pop, on=["step", "unit"], how="outer").sort_values(["step", "unit"], ignore_index=True)
    both.insert(0, "layer", layer + 1)
    return both

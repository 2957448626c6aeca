"""Charts for slides: a caption of the settings and step, an animation as one offline HTML file.

The live charts play their frames with the app's own player (``bnviz.app.livechart``).
For a file that plays anywhere, :func:`animated_figure` gives a figure spec with frames
Plotly's own Play / Pause buttons and step slider instead, and :func:`animation_html`
writes it with Plotly's HTML export, plotly.js included, so it opens offline.
:func:`animation_gif` draws the same frames with matplotlib and encodes them with Pillow,
for slide software that shows GIFs but not HTML.
"""

from __future__ import annotations

import base64
import copy
import io
import re
from typing import Any

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from .. import fmt
from ..explorer import norm_names
from ..settings import Settings
from .style import FONT

CAPTION_FONT = FONT - 2
PLAYER_HEIGHT = 100  # px under the plot for the step slider and the buttons


def caption(settings: Settings, step: int | None = None) -> str:
    """One line saying what a chart shows: dataset, network, normalization settings, optimizer,
    step. The normalization goes by its name (``norm_names``: BN, LayerNorm, GroupNorm with its
    groups, Batch Renorm with its r and d limits), with "after g" when it follows the activation
    and the noise after it when there is some; the EWA decay only where running estimates exist."""
    s = settings
    net = f"{s.depth}×{s.width} {s.activation}"
    parts = [f"bnviz · {s.dataset}", net]
    if s.use_bn:
        name = norm_names(s)[0]
        if s.normalization == "group":
            name += f" ({s.groups} groups)"
        elif s.normalization == "renorm":
            name += f" (r max {fmt.number(s.renorm_r_max, 3)}, d max {fmt.number(s.renorm_d_max, 3)})"
        if s.bn_position == "after":
            name += " after g"
        decay = (f", decay {fmt.number(s.decay, 4)}{' (bias-corrected)' if s.bias_correction else ''}"
                 if s.running_estimates else "")
        noise = f", noise after it n = {fmt.number(s.bn_noise, 3)}" if s.bn_noise > 0 else ""
        parts.append(f"{name}: m = {s.batch_size}, ε = {fmt.epsilon(s.eps)}, "
                     f"γ₀ = {fmt.number(s.gamma_init, 3)}, β₀ = {fmt.number(s.beta_init, 3)}"
                     f"{' frozen' if s.freeze_affine else ''}{decay}{noise}")
    else:
        parts.append(f"no BN, m = {s.batch_size}")
    parts.append(f"{s.optimizer} lr {fmt.number(s.lr, 3)}, seed {s.seed}")
    if step is not None:
        parts.append(f"step {step}/{s.steps}")
    return " · ".join(parts)


def animated_figure(spec: dict[str, Any], labels: list[str], caption_text: str = "",
                    interval_ms: int = 400, prefix: str = "step ") -> dict[str, Any]:
    """``spec`` (``data``, ``layout``, ``frames``) with Plotly's own player under the plot.

    One slider step per frame, labelled with ``labels``, and Play / Pause buttons; the
    caption (if any) goes under the player. The spec itself is not changed.
    """
    out = copy.deepcopy(spec)
    layout = out["layout"]
    frames = out.get("frames") or []
    if len(labels) != len(frames):
        raise ValueError(f"{len(labels)} labels for {len(frames)} frames")
    margin = dict(layout.get("margin") or {})
    margin["b"] = int(margin.get("b", 40)) + PLAYER_HEIGHT + (24 if caption_text else 0)
    layout["margin"] = margin
    layout["height"] = int(layout.get("height", 340)) + PLAYER_HEIGHT + (24 if caption_text else 0)
    jump = {"mode": "immediate", "frame": {"duration": 0, "redraw": False}, "transition": {"duration": 0}}
    play = {"frame": {"duration": interval_ms, "redraw": False}, "fromcurrent": True,
            "transition": {"duration": 0}, "mode": "immediate"}
    layout["updatemenus"] = [{
        "type": "buttons", "direction": "left", "showactive": False, "x": 0, "xanchor": "left",
        "y": 0, "yanchor": "top", "pad": {"t": 50, "r": 10},
        "buttons": [
            {"label": "▶ Play", "method": "animate", "args": [None, play]},
            {"label": "❚❚ Pause", "method": "animate", "args": [[None], jump]},
        ],
    }]  # fmt: skip
    layout["sliders"] = [{
        "active": 0, "x": 0.16, "len": 0.84, "y": 0, "yanchor": "top", "pad": {"t": 30},
        "currentvalue": {"prefix": prefix, "font": {"size": FONT}},
        "steps": [{"label": lab, "method": "animate", "args": [[f["name"]], jump]}
                  for lab, f in zip(labels, frames)],
    }]  # fmt: skip
    if caption_text:
        layout.setdefault("annotations", [])
        layout["annotations"] = [*layout["annotations"], {
            "text": caption_text, "xref": "paper", "yref": "paper", "x": 0, "y": 0,
            "yshift": -PLAYER_HEIGHT - 34, "xanchor": "left", "yanchor": "top", "showarrow": False,
            "font": {"size": CAPTION_FONT},
        }]  # fmt: skip
    # The file starts on the first frame, as its slider does.
    if frames:
        first = frames[0]
        for i, trace in zip(first.get("traces", range(len(first["data"]))), first["data"]):
            out["data"][i] = {**out["data"][i], **trace}
        if "layout" in first and "images" in first["layout"] and layout.get("images"):
            swapped = {**layout["images"][0], **first["layout"]["images"][0]}
            layout["images"] = [swapped, *layout["images"][1:]]
    return out


def animation_html(spec: dict[str, Any], title: str) -> str:
    """``spec`` as one self-contained HTML page (plotly.js inside: it plays offline)."""
    fig = go.Figure(data=spec["data"], layout=spec["layout"], frames=spec.get("frames") or [])
    page = fig.to_html(include_plotlyjs=True, full_html=True, auto_play=False,
                       config={"displaylogo": False, "toImageButtonOptions": {"scale": 2}})
    return page.replace("<head>", f"<head><title>{_escape(title)}</title>", 1)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --------------------------------------------------------------------------- animated GIF

GIF_WIDTH = 1200  # px: a slide's width
GIF_DPI = 100


def _values(v: Any) -> np.ndarray:
    """A trace's x or y: a list (None = a gap) or Plotly's base64 typed array."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).astype(np.float64)
    return np.array([np.nan if x is None else x for x in v], dtype=np.float64)


def _plain(text: str) -> str:
    return re.sub(r"<[^>]+>", "", text)


def _image(uri: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGBA")


def _merge_frame(data: list[dict[str, Any]], frame: dict[str, Any]) -> list[dict[str, Any]]:
    out = list(data)
    for i, trace in zip(frame.get("traces", range(len(frame["data"]))), frame["data"]):
        out[i] = {**out[i], **trace}
    return out


def animation_gif(spec: dict[str, Any], labels: list[str], caption_text: str = "", interval_ms: int = 400,
                  prefix: str = "step ") -> bytes:
    """The frames of ``spec`` as an animated GIF (matplotlib draws, Pillow encodes), one GIF
    frame per animation frame, with the frame's label and the caption under the panels.

    Draws what the figure specs of bnviz hold: bars, lines, markers, text titles, and the
    images of ``layout.images`` (the decision boundary), on the axes ``layout`` places.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    layout = spec["layout"]
    frames = spec.get("frames") or []
    if len(labels) != len(frames):
        raise ValueError(f"{len(labels)} labels for {len(frames)} frames")
    height_px = int(layout.get("height", 340)) + 70
    fig = Figure(figsize=(GIF_WIDTH / GIF_DPI, height_px / GIF_DPI), dpi=GIF_DPI)
    canvas = FigureCanvasAgg(fig)  # drawn off screen, whatever matplotlib's default backend
    axes: dict[str, Any] = {}
    bottom, top = 70 / height_px, 1 - 40 / height_px
    for name in sorted(k for k in layout if re.fullmatch(r"xaxis\d*", k)):
        suffix = name[5:]
        xa, ya = layout[name], layout.get(f"yaxis{suffix}", {})
        x0, x1 = xa.get("domain", [0, 1])
        ax = fig.add_axes((x0 + 0.03, bottom, (x1 - x0) - 0.035, top - bottom))
        ax.set_xlim(*xa.get("range", (0, 1)))
        if "range" in ya:
            ax.set_ylim(*ya["range"])
        if xa.get("showticklabels") is False:
            ax.set_xticks([])
            ax.set_yticks([])
        ax.tick_params(labelsize=11)
        if ya.get("showgrid"):
            ax.grid(True, alpha=0.3)
        axes["x" + suffix] = ax
    label = fig.text(0.01, 0.035, "", fontsize=13, weight="bold")
    fig.text(0.16, 0.035, caption_text, fontsize=10)
    for a in layout.get("annotations", []):
        if a.get("xref") == "paper" and a.get("text"):
            fig.text(a["x"], top + 0.01, _plain(a["text"]), fontsize=10, ha=a.get("xanchor", "center"),
                     va="bottom")
    label.set_animated(True)
    canvas.draw()  # everything that never changes (axes, ticks, grid, captions): drawn once
    background = canvas.copy_from_bbox(fig.bbox)
    artists: dict[int, Any] = {}
    pictures: list[Image.Image] = []
    data = spec["data"]
    images = [dict(im) for im in layout.get("images", [])]
    for k, frame in enumerate(frames):
        data = _merge_frame(data, frame)
        for i, im in enumerate((frame.get("layout") or {}).get("images", [])):
            images[i] = {**images[i], **im}
        canvas.restore_region(background)
        for j, im in enumerate(images):
            where = axes.get(im.get("xref", "x"))
            if where is None or "source" not in im:
                continue
            x0, y1 = im["x"], im["y"]
            key = -1 - j
            if key not in artists:
                artists[key] = where.imshow(
                    _image(im["source"]), extent=(x0, x0 + im["sizex"], y1 - im["sizey"], y1), aspect="auto",
                    zorder=0 if im.get("layer") == "below" else 3, alpha=im.get("opacity", 1), animated=True,
                    interpolation="bilinear")
            elif j == 0:
                artists[key].set_data(_image(im["source"]))
            where.draw_artist(artists[key])
        for i, trace in enumerate(data):
            where = axes.get(trace.get("xaxis", "x"))
            if where is not None:
                artists[i] = _draw(where, trace, artists.get(i))
                where.draw_artist(artists[i])
        label.set_text(prefix + labels[k])
        fig.draw_artist(label)
        rgba = np.asarray(canvas.buffer_rgba())
        # one fast octree palette per frame: Pillow's default median cut costs 40× more
        pictures.append(Image.fromarray(rgba[..., :3]).quantize(
            colors=255, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE))
    buf = io.BytesIO()
    pictures[0].save(buf, format="GIF", save_all=True, append_images=pictures[1:], duration=interval_ms,
                     loop=0)
    return buf.getvalue()


def _draw(ax: Any, trace: dict[str, Any], artist: Any = None) -> Any:
    """One trace of a bnviz figure spec on a matplotlib axis: a new artist, or ``artist``
    (made for this trace on an earlier frame) updated. Bars are one filled step outline."""
    if trace.get("type") == "bar":
        y = _values(trace["y"])
        edges = trace["x0"] - trace["dx"] / 2 + trace["dx"] * np.arange(len(y) + 1)
        if artist is None:
            color = (trace.get("marker") or {}).get("color", "#888888")
            return ax.stairs(y, edges, fill=True, color=color, zorder=1, animated=True)
        artist.set_data(y, edges)
        return artist
    mode = trace.get("mode", "lines")
    if mode == "text":
        text = _plain((trace.get("text") or [""])[0])
        if artist is None:
            return ax.text(0.5, 1.01, text, ha="center", va="bottom", fontsize=10, transform=ax.transAxes,
                           clip_on=False, animated=True)  # above the panel, as in the live chart
        artist.set_text(text)
        return artist
    x, y = _values(trace["x"]), _values(trace["y"])
    if "markers" in mode:
        if artist is None:
            marker = trace.get("marker") or {}
            color = marker.get("color", "#333333")
            size = marker.get("size", 6)
            return ax.scatter(x, y, s=(size if isinstance(size, int | float) else 6) ** 2 * 0.35,
                              c=color if isinstance(color, str) else "#333333", zorder=4, linewidths=0,
                              alpha=0.7, animated=True)
        artist.set_offsets(np.c_[x, y])
        return artist
    if artist is None:
        line = trace.get("line") or {}
        style = {"dot": ":", "dash": "--", "dashdot": "-."}.get(line.get("dash", ""), "-")
        (artist,) = ax.plot(x, y, color=line.get("color", "#333333"), linewidth=line.get("width", 2),
                            linestyle=style, zorder=3, animated=True)
        return artist
    artist.set_data(x, y)
    return artist

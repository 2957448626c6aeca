"""The normalized run's and the plain run's decision boundaries at one step, side by side.

For the 2-D datasets: each panel is the prediction P(class 1) over the plane (the same
images and training points as the Explorer's histogram figure, from
``bnviz.charts.explorer``), titled with that run's test accuracy at that step, so the
two networks trained from the same seed can be compared at a glance. Each title names the
normalization (``norm_names``: "With BN", "With LayerNorm", ... and "Without BN", "Without
LayerNorm", ...).
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .. import fmt
from ..explorer import norm_names
from ..train import Run
from .explorer import MAP_POINTS, UNDEFINED_AT_STEP_0, boundary_images, figure_dict, figure_of, points_image
from .style import BN, BN_GLYPH, FONT, PLAIN, PLAIN_GLYPH, base_layout

HEIGHT = 380
GAP = 0.08  # between the two panels, in paper coordinates
_DOTS: dict[bytes, str] = {}  # the training points' image per dataset and theme (about 40 ms to make)
_DOTS_MAX = 16


def checkpoint_at(run: Run, step: int) -> int:
    """The run's last checkpoint at or before ``step`` (its first for an earlier step).

    A run that stopped early (diverged) has fewer checkpoints: it shows its last one.
    """
    steps = [int(t) for t in run.ckpt_steps]
    return max(bisect.bisect_right(steps, step) - 1, 0)


def accuracy_at(run: Run, k: int) -> float:
    """Checkpoint k's test accuracy as the curves draw it (``test_acc``: the run's own
    statistics), NaN where it is undefined: with BN at step 0 the running estimates are
    still v₀ = 0 (``bnviz.charts.explorer.UNDEFINED_AT_STEP_0``)."""
    which = "corrected" if run.settings.bias_correction else "running"
    if run.settings.use_bn and which in UNDEFINED_AT_STEP_0 and int(run.ckpt_steps[k]) == 0:
        return float("nan")
    return float(run.curves["test_acc"].iloc[k])


def title(run: Run, k: int, name: str, color: str, glyph: str = "") -> str:
    """A panel's title: "● With BN · test accuracy 97.5% at step 250", "–" for an undefined
    accuracy, and "(stopped there)" at the last checkpoint of a run that diverged.

    ``glyph`` (the run's marker on the curves, ``BN_GLYPH`` or ``PLAIN_GLYPH``) and the
    name are in the run's colour: the panel is matched to its curves without colour too."""
    acc = accuracy_at(run, k)
    shown = "–" if np.isnan(acc) else fmt.percent(acc)
    t = int(run.ckpt_steps[k])
    stopped = " (stopped there)" if run.diverged is not None and k == len(run.ckpt_steps) - 1 else ""
    mark = f"{glyph} " if glyph else ""
    return (f"<span style='color:{color}'>{mark}<b>{name}</b></span> · test accuracy {shown} at step {t}"
            f"{stopped}")


def boundaries_figure(bn_run: Run, plain_run: Run, step: int, dark: bool = False) -> go.Figure:
    """:func:`boundaries_spec` as a Plotly Figure."""
    return figure_of(boundaries_spec(bn_run, plain_run, step, dark))


def boundaries_spec(bn_run: Run, plain_run: Run, step: int, dark: bool = False) -> dict[str, Any]:
    """Two panels: the normalized run's decision boundary (left) and the plain run's (right)
    at ``step``, titled with the normalization's name (``bn_run.settings``), each with
    the first ``MAP_POINTS`` training points and its test accuracy at that step in its title.

    Both runs must be of a 2-D dataset (``run.boundary`` recorded).
    """
    layout = base_layout(HEIGHT)
    layout["showlegend"] = False
    layout["margin"] = {"l": 16, "r": 16, "t": 40, "b": 16}
    half = (1 - GAP) / 2
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    traces: list[dict[str, Any]] = []
    name = norm_names(bn_run.settings)[0]  # "BN", "LayerNorm", "GroupNorm", "Batch Renorm"
    panels = ((bn_run, f"With {name}", BN, BN_GLYPH), (plain_run, f"Without {name}", PLAIN, PLAIN_GLYPH))
    for i, (run, name, color, glyph) in enumerate(panels):
        assert run.boundary is not None and run.boundary_extent is not None, "a 2-D dataset"
        x0, x1, y0, y1 = run.boundary_extent
        ax = "" if i == 0 else "2"
        domain = [i * (half + GAP), i * (half + GAP) + half]
        hidden = {"showgrid": False, "zeroline": False, "showticklabels": False}
        layout[f"xaxis{ax}"] = {"domain": domain, "range": [x0, x1], "anchor": f"y{ax}", **hidden}
        layout[f"yaxis{ax}"] = {"domain": [0, 1], "range": [y0, y1], "anchor": f"x{ax}",
                                "scaleanchor": f"x{ax}", "constrain": "domain", **hidden}
        place = {"xref": f"x{ax}", "yref": f"y{ax}", "x": x0, "y": y1, "sizex": x1 - x0, "sizey": y1 - y0,
                 "xanchor": "left", "yanchor": "top", "sizing": "stretch"}
        k = checkpoint_at(run, step)
        one = dataclasses.replace(run, boundary=run.boundary[k : k + 1])  # only the frame shown
        images.append({"source": boundary_images(one, dark)[0], **place, "layer": "below", "opacity": 0.85,
                       "name": f"{name}: P(class 1)"})
        images.append({"source": _dots(run, dark), **place, "layer": "above", "opacity": 1.0,
                       "name": "training points"})
        annotations.append({
            "text": title(run, k, name, color, glyph), "x": (domain[0] + domain[1]) / 2, "y": 1.0,
            "xref": "paper", "yref": "paper", "xanchor": "center", "yanchor": "bottom",
            "showarrow": False, "font": {"size": FONT}, "yshift": 4,
        })  # fmt: skip
        # an invisible trace per panel, so Plotly draws both subplots' axes
        traces.append({"type": "scatter", "x": [x0, x1], "y": [y0, y1], "mode": "markers",
                       "marker": {"opacity": 0}, "xaxis": f"x{ax}", "yaxis": f"y{ax}",
                       "hoverinfo": "skip", "name": name})
    layout["images"] = images
    layout["annotations"] = annotations
    return figure_dict(traces, layout)


def _dots(run: Run, dark: bool) -> str:
    """The first MAP_POINTS training points as an image (``points_image``), made once per
    dataset, extent and theme: both panels and every step share it."""
    assert run.boundary_extent is not None
    ds = run.dataset
    n = min(len(ds.y_train), MAP_POINTS)
    x, y = ds.X_train[:n], ds.y_train[:n]
    key = hashlib.blake2b(x.tobytes() + y.tobytes() + repr((run.boundary_extent, dark)).encode(),
                          digest_size=16).digest()
    if key not in _DOTS:
        if len(_DOTS) >= _DOTS_MAX:
            _DOTS.pop(next(iter(_DOTS)))  # the oldest
        _DOTS[key] = points_image(x[:, 0], x[:, 1], y, run.boundary_extent, dark)
    return _DOTS[key]

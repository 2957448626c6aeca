"""Plotly charts that update in place: a small Streamlit component around ``Plotly.react``.

``st.plotly_chart`` gives a chart whose figure changed a new element id, so the browser
unmounts it and draws the new figure from scratch. This component's iframe stays
mounted for as long as its key is on the page; a new figure is handed to
``Plotly.react`` on the same graph div, which redraws what changed, and when a rerun
changes several live charts they draw one per frame, the first first. What it gains in
the Explorer is measured with ``bench/ab_display.py`` (figures in docs/performance.md).

    from bnviz import livechart
    livechart.plotly_chart(fig, key="movie")   # fig: a go.Figure or its dict
    livechart.plotly_chart(fig, key="movie", player={"active": 0, "labels": [...]},
                           on_frame=lambda k: ...)  # the player stopped on frame k

The page around the chart gets the CSS class ``st-key-<key>`` (an ``st.container``),
and the chart is ``iframe`` → ``#chart.js-plotly-plot`` inside it (same origin: the
tests read ``contentDocument``). Plotly's JavaScript is the copy the ``plotly`` Python
package installs (``plotly/package_data/plotly.min.js``): nothing is downloaded. It is
copied once, with our two files, into a directory that Streamlit serves, because
Streamlit serves a component's files only from inside one folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import plotly
import plotly.graph_objects as go
import streamlit as st
import streamlit.components.v1 as components

from ...charts.style import PRESENTER_SCALE, scaled_text
from ..lesson import presenting

__all__ = ["figure_json", "plotly_chart", "served_dir"]

HERE = Path(__file__).resolve().parent
FILES = ("index.html", "livechart.js")


def _plotly_js() -> Path:
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


def served_dir() -> Path:
    """The folder Streamlit serves the component from (made on first use, then reused).

    Named by a hash of our files and the Plotly version, so an upgrade of either gets a
    new folder; made under a temporary name and renamed, so two servers starting at once
    cannot serve half a copy.
    """
    digest = hashlib.sha256(plotly.__version__.encode())
    for name in FILES:
        digest.update((HERE / name).read_bytes())
    target = Path(tempfile.gettempdir()) / f"bnviz-livechart-{digest.hexdigest()[:16]}"
    if (target / "plotly.min.js").is_file():
        return target
    work = Path(tempfile.mkdtemp(prefix="bnviz-livechart-", dir=target.parent))
    work.chmod(0o755)  # readable by a server running as another user
    for name in FILES:
        shutil.copyfile(HERE / name, work / name)
    shutil.copyfile(_plotly_js(), work / "plotly.min.js")
    try:
        os.replace(work, target)
    except OSError:  # another process made it first
        shutil.rmtree(work, ignore_errors=True)
    return target


_component = components.declare_component("livechart", path=str(served_dir()))


def figure_json(figure: go.Figure | dict[str, Any]) -> str:
    """The figure as the JSON text the component draws (``data``, ``layout``, ``frames``)."""
    if isinstance(figure, go.Figure):
        return figure.to_json()
    return json.dumps(figure, separators=(",", ":"))


def plotly_chart(figure: go.Figure | dict[str, Any], *, key: str, title: str = "",
                 player: dict[str, Any] | None = None, on_frame: Callable[[int], None] | None = None,
                 caption: str = "") -> None:
    """Draw ``figure``; on later reruns with the same ``key``, update that chart in place.

    ``title`` names the chart for screen readers (the iframe's title).

    ``player`` puts Play / Pause, "↺ from 0", a speed choice (0.5× to 4×) and a step
    slider (a range input, so the keyboard works) under the chart. They show the
    figure's ``frames`` in the browser, with no server round trip; the frames are not
    handed to Plotly. Keys: ``active`` (the frame to show: the chart draws that frame,
    whatever frame the figure's own data are), ``sync`` (a value the page changes when
    it moves the player itself, e.g. a Reset button: the player then jumps to
    ``active`` even if it already stood there before), ``labels`` (one per frame),
    ``prefix`` (before the label, e.g. ``"step "``), ``interval_ms`` (Play's pace at 1×)
    and ``label`` (the slider's accessible name). Neither ``active`` nor ``sync`` makes
    the chart redraw: a rerun that only moves the step costs the browser nothing.

    ``on_frame(k)`` is called, before the rerun it causes, when the player stops on
    frame ``k``: Pause, the end of Play, the scrubber released (or moved with a key).
    Not while Play runs: that would be a rerun per frame.

    The camera button of the chart's toolbar saves it as a PNG at twice its pixels with
    ``caption`` (e.g. the settings, ``bnviz.charts.export.caption``; the player's step is
    added) under it, in a file named after ``key``.
    """
    widget = f"{key}_live"

    def reported() -> None:
        value = st.session_state.get(widget)
        if on_frame is not None and isinstance(value, dict) and isinstance(value.get("frame"), int):
            on_frame(value["frame"])

    if presenting():  # chart text of at least 18 px for a projector
        spec = json.loads(figure.to_json()) if isinstance(figure, go.Figure) else figure
        figure = scaled_text(spec, PRESENTER_SCALE)
    with st.container(key=key):
        _component(figure=figure_json(figure), title=title, player=player, key=widget, default=None,
                   caption=caption, file_name=f"bnviz-{key}",
                   on_change=reported if on_frame is not None else None)

"""The live chart component's Python side: the folder Streamlit serves, the figure it sends."""

from __future__ import annotations

import json
from pathlib import Path

import plotly
import plotly.graph_objects as go

from bnviz.app import livechart


def test_served_folder_holds_our_files_and_the_installed_plotly_js():
    folder = livechart.served_dir()
    for name in livechart.FILES:
        assert (folder / name).read_bytes() == (livechart.HERE / name).read_bytes()
    js = folder / "plotly.min.js"
    installed = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert js.stat().st_size == installed.stat().st_size > 1_000_000
    assert js.read_bytes()[:200] == installed.read_bytes()[:200]
    assert livechart.served_dir() == folder, "made once, then reused"
    assert (livechart.HERE / "index.html").read_text().count('src="plotly.min.js"') == 1


def test_figure_json_of_a_figure_and_of_its_dict_agree():
    fig = go.Figure(go.Bar(x=[1, 2], y=[3, 4]), layout={"height": 300})
    as_dict = {"data": [{"type": "bar", "x": [1, 2], "y": [3, 4]}], "layout": {"height": 300}}
    from_fig = json.loads(livechart.figure_json(fig))
    from_dict = json.loads(livechart.figure_json(as_dict))
    assert from_fig["data"][0]["y"] == from_dict["data"][0]["y"] == [3, 4]
    assert from_fig["layout"]["height"] == from_dict["layout"]["height"] == 300

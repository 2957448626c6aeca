"""Presenter mode's chart text: every font scaled, and the texts a template would size
(Streamlit's theme: 12 px ticks and legends) pinned to the scaled base size."""

from __future__ import annotations

import plotly.graph_objects as go

from bnviz.charts.style import FONT, PRESENTER_SCALE, pinned_text, scaled_text


def test_pinned_text_gives_unsized_texts_the_base_size_and_keeps_explicit_ones():
    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4], name="a"))
    fig.update_layout(font={"size": FONT}, xaxis={"title": "x"}, yaxis={"tickfont": {"size": 30}},
                      annotations=[{"text": "note", "x": 1, "y": 3}])
    out = pinned_text(scaled_text(fig.to_plotly_json(), PRESENTER_SCALE))
    base = round(FONT * PRESENTER_SCALE, 1)
    assert base >= 18
    layout = out["layout"]
    assert layout["font"]["size"] == base
    assert layout["xaxis"]["tickfont"]["size"] == base and layout["xaxis"]["title"]["font"]["size"] == base
    assert layout["xaxis"]["title"]["text"] == "x"
    assert layout["yaxis"]["tickfont"]["size"] == round(30 * PRESENTER_SCALE, 1)  # its own, scaled
    assert layout["legend"]["font"]["size"] == base and layout["annotations"][0]["font"]["size"] == base
    go.Figure(out)  # still a valid figure

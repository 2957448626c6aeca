"""Exports for slides: the caption says the settings and step; the HTML animation holds every
frame, Plotly's own player, and plotly.js itself."""

from __future__ import annotations

import re

import plotly.graph_objects as go
import pytest

from bnviz import Settings
from bnviz.charts import explorer as charts
from bnviz.charts import export
from bnviz.train import train

SETTINGS = Settings(steps=40)


@pytest.fixture(scope="module")
def run():
    return train(SETTINGS)


def test_caption_names_the_settings_and_the_step() -> None:
    text = export.caption(Settings(eps=1e-3, batch_size=8, freeze_affine=True), step=120)
    for part in ("moons", "m = 8", "ε = 1e-3", "frozen", "step 120/500", "momentum lr 0.05"):
        assert part in text, (part, text)
    assert "BN:" not in export.caption(Settings(use_bn=False))


def test_animated_figure_has_plotly_player_with_one_step_per_frame(run) -> None:
    spec = charts.movie_spec(run, 0, 0, 0)
    labels = [str(int(t)) for t in run.ckpt_steps]
    out = export.animated_figure(spec, labels, "a caption")
    assert spec["layout"].get("sliders") is None, "the live chart's spec is left as it was"
    steps = out["layout"]["sliders"][0]["steps"]
    assert [s["label"] for s in steps] == labels
    assert [s["args"][0][0] for s in steps] == [f["name"] for f in out["frames"]]
    assert [b["label"] for b in out["layout"]["updatemenus"][0]["buttons"]] == ["▶ Play", "❚❚ Pause"]
    assert any(a["text"] == "a caption" for a in out["layout"]["annotations"])
    go.Figure(out)  # a valid figure, frames included
    with pytest.raises(ValueError, match="labels"):
        export.animated_figure(spec, labels[:-1])


def test_animation_html_is_self_contained(run) -> None:
    spec = export.animated_figure(charts.movie_spec(run, 0, 0, 0), [str(int(t)) for t in run.ckpt_steps])
    page = export.animation_html(spec, "Histograms <layer 1>")
    assert "<title>Histograms &lt;layer 1&gt;</title>" in page
    assert re.findall(r"<script[^>]*\ssrc=", page) == [], "no script is fetched"
    assert re.findall(r"<link[^>]*\shref=", page) == [], "no style sheet is fetched"
    assert len(page) > 3_000_000  # plotly.js is inside
    assert page.count('"name":"') >= len(run.ckpt_steps)  # every frame


def test_animation_gif_has_one_frame_per_checkpoint_and_they_move(run) -> None:
    from io import BytesIO

    import numpy as np
    from PIL import Image

    spec = charts.movie_spec(run, 0, 0, 0)
    labels = [str(int(t)) for t in run.ckpt_steps]
    gif = Image.open(BytesIO(export.animation_gif(spec, labels, export.caption(run.settings))))
    n_frames = getattr(gif, "n_frames", 1)
    assert gif.format == "GIF" and n_frames == len(labels)
    assert gif.size[0] == export.GIF_WIDTH
    first = np.asarray(gif.convert("RGB"))
    gif.seek(n_frames - 1)
    last = np.asarray(gif.convert("RGB"))
    assert (first != last).any(), "the histograms and the step label change from frame to frame"
    with pytest.raises(ValueError, match="labels"):
        export.animation_gif(spec, labels[1:])


@pytest.mark.parametrize(
    ("changes", "has", "lacks"),
    [
        ({"normalization": "layer"}, ["LayerNorm: m = 32"], ["BN", "decay"]),
        ({"normalization": "group", "groups": 4}, ["GroupNorm (4 groups): m = 32"], ["BN", "decay"]),
        ({"normalization": "renorm"}, ["Batch Renorm (r max 3, d max 5): m = 32", "decay 0.9"], ["BN:"]),
        ({"bn_position": "after", "bn_noise": 0.5}, ["BN after g: m = 32", "noise after it n = 0.5"], []),
        ({}, ["BN: m = 32", "decay 0.9"], ["after g", "noise", "Renorm"]),
    ],
)
def test_caption_names_the_normalization_its_position_and_noise(changes, has, lacks) -> None:
    text = export.caption(Settings(**changes))
    for part in has:
        assert part in text, (part, text)
    for part in lacks:
        assert part not in text, (part, text)

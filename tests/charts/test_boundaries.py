"""BN's and no-BN's decision boundaries side by side: valid Plotly, the step's images and accuracies."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from bnviz import Settings, fmt
from bnviz.charts import boundaries
from bnviz.charts.explorer import boundary_images
from bnviz.train import train


@pytest.fixture(scope="module")
def runs():
    s = Settings(dataset="moons", steps=60, width=6, depth=2)
    return train(s), train(s.replace(use_bn=False))


@pytest.mark.parametrize("step", [0, 30, 60])
def test_two_boundaries_of_the_step_with_the_runs_accuracies_in_the_titles(runs, step):
    bn_run, plain_run = runs
    fig = boundaries.boundaries_figure(bn_run, plain_run, step)
    go.Figure(fig.to_dict())  # full validation: the builder skips it
    images = fig.layout.images
    below = [im for im in images if im.layer == "below"]
    assert len(below) == 2, "one boundary per run"
    assert [im.xref for im in below] == ["x", "x2"], "side by side, on their own axes"
    k = list(bn_run.ckpt_steps).index(step)
    for im, run in zip(below, runs):
        # the checkpoint's own frame, as the histogram figure draws it
        assert im.source == boundary_images(run)[k]
    titles = [a.text for a in fig.layout.annotations]
    assert len(titles) == 2 and "With BN" in titles[0] and "Without BN" in titles[1]
    assert "● " in titles[0] and "× " in titles[1], "the curves' markers: matched without colour"
    assert all(f"at step {step}" in t for t in titles)
    plain_acc = fmt.percent(plain_run.curves["test_acc"].iloc[k])
    assert f"test accuracy {plain_acc} " in titles[1]
    if step == 0:  # with BN, step 0's running estimates are v₀ = 0: no accuracy to read
        assert "test accuracy – " in titles[0]
    else:
        assert f"test accuracy {fmt.percent(bn_run.curves['test_acc'].iloc[k])} " in titles[0]


def test_the_two_runs_boundaries_differ_and_move_with_the_step(runs):
    bn_run, plain_run = runs
    early, late = (boundaries.boundaries_figure(bn_run, plain_run, t) for t in (10, 60))
    src = [[im.source for im in f.layout.images if im.layer == "below"] for f in (early, late)]
    assert src[0][0] != src[0][1], "BN and no-BN boundaries are different pictures"
    assert src[0][0] != src[1][0] and src[0][1] != src[1][1]


def test_a_step_between_checkpoints_shows_the_one_before_and_a_stopped_run_its_last(runs):
    bn_run, _ = runs
    assert boundaries.checkpoint_at(bn_run, 0) == 0
    assert 3 not in bn_run.ckpt_steps
    assert boundaries.checkpoint_at(bn_run, 3) == list(bn_run.ckpt_steps).index(2)
    assert boundaries.checkpoint_at(bn_run, 10_000) == len(bn_run.ckpt_steps) - 1
    diverged = train(Settings(dataset="moons", steps=60, width=6, use_bn=False, activation="linear", lr=10.0))
    assert diverged.diverged is not None
    fig = boundaries.boundaries_figure(bn_run, diverged, 60)
    last = int(diverged.ckpt_steps[-1])
    assert f"at step {last} (stopped there)" in fig.layout.annotations[1].text


@pytest.mark.parametrize(("normalization", "name"), [("layer", "LayerNorm"), ("renorm", "Batch Renorm")])
def test_the_titles_name_the_normalization(normalization, name):
    s = Settings(dataset="moons", steps=20, width=4, depth=1, normalization=normalization)
    fig = boundaries.boundaries_figure(train(s), train(s.replace(use_bn=False)), 20)
    titles = [a.text for a in fig.layout.annotations]
    assert f"With {name}" in titles[0] and f"Without {name}" in titles[1]
    assert "BN" not in " ".join(titles)

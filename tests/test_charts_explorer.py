"""The Explorer's figure builders: valid Plotly, drawing exactly what the Run recorded."""

from __future__ import annotations

import base64

import numpy as np
import plotly.graph_objects as go
import pytest

from bnviz import Settings
from bnviz.charts import explorer as charts
from bnviz.train import train


@pytest.fixture(scope="module")
def runs():
    s = Settings(steps=60, width=6)
    return train(s), train(s.replace(use_bn=False))


def _decode(arr) -> np.ndarray:
    if isinstance(arr, dict):
        return np.frombuffer(base64.b64decode(arr["bdata"]), dtype=np.dtype(arr["dtype"]))
    return np.asarray(arr)


@pytest.mark.parametrize("unit", [0, 3, -1])
def test_movie_figure_is_valid_plotly_with_one_frame_per_checkpoint(runs, unit):
    run, _ = runs
    fig = charts.movie_figure(run, 1, unit, 2)
    go.Figure(fig.to_dict())  # full validation: the builder skips it for speed
    assert len(fig.frames) == len(run.ckpt_steps)
    slider = fig.layout.sliders[0]
    assert slider.active == 2
    assert [s.label for s in slider.steps] == [str(int(t)) for t in run.ckpt_steps]
    assert all(s.method == "animate" for s in slider.steps)


def test_movie_bars_are_the_recorded_histogram_counts(runs):
    run, _ = runs
    k, q, unit = 4, 1, 2
    fig = charts.movie_figure(run, 0, unit, k).to_dict()
    bars = fig["frames"][k]["data"][2 * q]
    assert bars["type"] == "bar"
    np.testing.assert_array_equal(_decode(bars["y"]), run.layers[0].hist_counts[k, q, unit])
    edges = run.layers[0].hist_edges(k, q, unit)
    assert bars["x0"] == pytest.approx((edges[0] + edges[1]) / 2)
    assert bars["dx"] == pytest.approx(edges[1] - edges[0])
    # the first frame shown is the same as frame k
    np.testing.assert_array_equal(_decode(fig["data"][2 * q]["y"]), _decode(bars["y"]))


def test_markers_sit_at_mean_and_one_sd(runs):
    run, _ = runs
    n = charts.unit_numbers(run, 0, 1, 3)
    fig = charts.movie_figure(run, 0, 1, 3).to_dict()
    z_marks = fig["data"][1]["x"]
    assert z_marks[0] == pytest.approx(n["mu"])
    assert z_marks[3] == pytest.approx(n["mu"] - n["sd"])
    zt_marks = fig["data"][5]["x"]
    assert zt_marks[0] == pytest.approx(n["beta"])
    assert zt_marks[6] == pytest.approx(n["beta"] + abs(n["gamma"]) * n["sd_norm"])


def test_unit_numbers_follow_the_seed(runs):
    run, _ = runs
    rec = run.layers[1]
    n = charts.unit_numbers(run, 1, 2, 5)
    var = float(rec.pop_var[5, 2])
    assert n["var"] == pytest.approx(var)
    assert n["sd_norm"] == pytest.approx(np.sqrt(var / (var + run.settings.eps)))
    assert n["implied_mean"] == pytest.approx(float(rec.beta[5, 2]))
    assert n["m"] == len(run.dataset.y_train)
    pooled = charts.unit_numbers(run, 1, -1, 5)
    assert pooled["mu"] == pytest.approx(float(rec.pop_mu[5].mean()))
    assert pooled["var"] >= float(rec.pop_var[5].astype(np.float64).mean()) - 1e-6  # total variance


def test_stat_numbers_satisfy_the_ewa_update(runs):
    run, _ = runs
    s = charts.stat_numbers(run, 0, 1, 30)
    d = run.settings.decay
    assert s["t"] == 30
    assert s["run_mu"] == pytest.approx(d * s["prev_mu"] + (1 - d) * s["mu_B"], rel=1e-5, abs=1e-6)
    assert s["cor_mu"] == pytest.approx(s["run_mu"] / (1 - d**30), rel=1e-5)
    first = charts.stat_numbers(run, 0, 1, 1)
    assert first["prev_mu"] == 0.0 and first["run_mu"] == pytest.approx((1 - d) * first["mu_B"], rel=1e-5)
    before = charts.stat_numbers(run, 0, 1, 0)
    assert before["t"] == 0 and before["mu_B"] is None


def test_no_bn_movie_shows_only_z(runs):
    _, plain = runs
    fig = charts.movie_figure(plain, 0, 0, 0)
    go.Figure(fig.to_dict())
    assert [t.type for t in fig.data].count("bar") == 1


def test_digits_movie_has_no_boundary():
    run = train(Settings(dataset="digits", steps=20, width=4))
    fig = charts.movie_figure(run, 0, 0, 0)
    assert not any(t.type == "heatmap" for t in fig.data)


def test_curves_and_stats_figures(runs):
    run, plain = runs
    fig = charts.curves_figure(run, plain, step=30)
    go.Figure(fig.to_dict())
    names = [t.name for t in fig.data]
    assert "BN: loss" in names and "no BN: loss" in names
    assert fig.layout.shapes[0].x0 == 30
    stats = charts.stats_figure(run, 0, 2, step=10)
    go.Figure(stats.to_dict())
    np.testing.assert_allclose(stats.data[0].y, run.layers[0].batch_mu[:, 2])
    np.testing.assert_allclose(stats.data[2].y, run.corrected(0)[0][:, 2])


def test_tables(runs):
    run, plain = runs
    acc = charts.accuracy_table(run, 2)
    assert list(acc["after training"]) == [run.curves[f"test_acc_{w}"].iloc[-1] for w in charts.STATS_LABELS]
    both = charts.curves_table(run, plain)
    assert len(both) == len(run.curves) + len(plain.curves) and set(both["bn"]) == {True, False}
    st = charts.stats_table(run, 0)
    w = run.settings.width
    assert len(st) == (len(run.stat_steps) + 1) * w  # + step 0, which has population values only
    row = st[(st.step == 10) & (st.unit == 3)].iloc[0]
    assert row.mu_B == pytest.approx(run.layers[0].batch_mu[9, 2])
    assert row.population_var == pytest.approx(run.layers[0].pop_var[list(run.ckpt_steps).index(10), 2])

"""The Explorer's figure builders: valid Plotly, drawing exactly what the Run recorded."""

from __future__ import annotations

import base64
import json
import struct
import xml.etree.ElementTree as ET
import zlib

import numpy as np
import plotly.graph_objects as go
import pytest

from bnviz import Settings
from bnviz import explorer as numbers
from bnviz.charts import explorer as charts
from bnviz.charts.style import BN
from bnviz.train import HIST_BINS, train


@pytest.fixture(scope="module")
def runs():
    s = Settings(steps=60, width=6, depth=2, activation="relu")  # sure of itself after 60 steps
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
    assert not fig.layout.sliders and not fig.layout.updatemenus, "the live chart's player, not Plotly's"


def test_the_player_has_one_labelled_step_per_frame_and_plays_in_the_browser(runs):
    run, _ = runs
    player = charts.movie_player(run, 2)
    assert player["active"] == 2
    assert player["labels"] == [str(int(t)) for t in run.ckpt_steps]
    assert player["prefix"] == "step " and player["interval_ms"] == charts.PLAY_MS == 400
    assert player["label"], "the slider's accessible name"
    assert charts.movie_player(run, 10_000)["active"] == len(run.ckpt_steps) - 1
    assert charts.movie_player(run, -3)["active"] == 0
    # the frame the figure's data shows is the player's first frame
    fig = charts.movie_spec(run, 0, 1, 2)
    assert fig["data"][0]["y"] == fig["frames"][2]["data"][0]["y"]


def test_frames_carry_the_panel_titles_of_their_step(runs):
    run, _ = runs
    fig = charts.movie_figure(run, 1, 2, 0).to_dict()
    for k in (0, 7, len(run.ckpt_steps) - 1):
        frame = fig["frames"][k]
        titles = [t["text"][0] for t in frame["data"][6:9]]
        assert titles == charts._panel_titles(run, numbers.unit_numbers(run, 1, 2, k), 2)
        # bars, marks, titles, the mini-batch's points, then the β, β ± |γ| lines (±1 is fixed)
        assert frame["traces"] == [*range(12), 13]


def test_movie_bars_are_the_recorded_histogram_counts(runs):
    run, _ = runs
    k, q, unit = 4, 1, 2
    fig = charts.movie_figure(run, 0, unit, k, normalize="population").to_dict()
    bars = fig["frames"][k]["data"][2 * q]
    assert bars["type"] == "bar"
    np.testing.assert_array_equal(_decode(bars["y"]), run.layers[0].hist_counts[k, q, unit])
    edges = run.layers[0].hist_edges(k, q, unit)
    assert bars["x0"] == pytest.approx((edges[0] + edges[1]) / 2)
    assert bars["dx"] == pytest.approx(edges[1] - edges[0])
    # the first frame shown is the same as frame k
    np.testing.assert_array_equal(_decode(fig["data"][2 * q]["y"]), _decode(bars["y"]))


@pytest.mark.parametrize("unit", [1, -1])
def test_each_frames_bars_are_its_checkpoints_histogram_and_none_where_undefined(runs, unit):
    """The bars of all frames are built together: each frame's are its checkpoint's
    histogram, whole counts as uint16 and a pooled histogram's fractions as float32 in the
    same figure, and no bars where the running estimates are not defined (step 0)."""
    run, _ = runs
    spec = charts.movie_spec(run, 1, unit, 0, normalize="running")
    assert numbers.histogram(run, 1, unit, 0, 1, "running") is None
    seen = set()
    for kk in range(len(run.ckpt_steps)):
        for q in range(3):
            bars = spec["frames"][kk]["data"][2 * q]
            h = numbers.histogram(run, 1, unit, kk, q, "running")
            empty = (np.linspace(0.0, 1.0, HIST_BINS + 1), np.zeros(HIST_BINS))
            edges, counts = h if h is not None else empty
            dtype = "u2" if np.array_equal(counts, np.round(counts)) else "f4"
            assert bars["y"]["dtype"] == dtype
            seen.add(dtype)
            np.testing.assert_array_equal(_decode(bars["y"]), counts.astype(np.float32))
            assert bars["dx"] == edges[1] - edges[0] and bars["x0"] == edges[0] + bars["dx"] / 2
    assert seen == ({"u2"} if unit >= 0 else {"u2", "f4"})


def test_markers_sit_at_mean_and_one_sd(runs):
    run, _ = runs
    n = numbers.unit_numbers(run, 0, 1, 3)
    fig = charts.movie_figure(run, 0, 1, 3).to_dict()
    z_marks = fig["data"][1]["x"]
    assert z_marks[0] == pytest.approx(n.mu)
    assert z_marks[3] == pytest.approx(n.mu - n.sd)
    zt_marks = fig["data"][5]["x"]
    assert zt_marks[0] == pytest.approx(n.beta)
    assert zt_marks[6] == pytest.approx(n.beta + abs(n.gamma) * n.sd_norm)


def test_no_bn_movie_shows_only_z(runs):
    _, plain = runs
    fig = charts.movie_figure(plain, 0, 0, 0)
    go.Figure(fig.to_dict())
    assert [t.type for t in fig.data].count("bar") == 1


def test_digits_movie_has_no_boundary():
    run = train(Settings(dataset="digits", steps=20, width=4))
    fig = charts.movie_figure(run, 0, 0, 0).to_dict()
    assert not fig["layout"].get("images")
    assert not any(t.get("name") == "training points" for t in fig["data"])
    assert not any("layout" in f for f in fig["frames"])


def _png_pixels(uri: str) -> np.ndarray:
    """Decode our own PNGs (8-bit RGB or RGBA, filter 0 on every row)."""
    png = base64.b64decode(uri.removeprefix("data:image/png;base64,"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", png[16:24])
    c = {2: 3, 6: 4}[png[25]]
    idat = png.index(b"IDAT")
    size = struct.unpack(">I", png[idat - 4:idat])[0]
    raw = np.frombuffer(zlib.decompress(png[idat + 4:idat + 4 + size]), dtype=np.uint8).reshape(h, 1 + c * w)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:].reshape(h, w, c)


def test_training_points_image_puts_each_point_where_it_is():
    extent = (-1.0, 1.0, -1.0, 1.0)
    img = _png_pixels(charts.points_image(np.array([-1.0, 0.5]), np.array([1.0, -0.5]), np.array([0, 1]),
                                          extent, size=101))  # fmt: skip
    c0 = [int(charts.CLASS_COLORS[0][i:i + 2], 16) for i in (1, 3, 5)]
    c1 = [int(charts.CLASS_COLORS[1][i:i + 2], 16) for i in (1, 3, 5)]
    assert list(img[0, 0]) == [*c0, 255], "(-1, 1) is the top-left corner"
    assert list(img[75, 75]) == [*c1, 255], "(0.5, -0.5) is three quarters right and down"
    assert img[50, 50, 3] == 0 and img[20, 80, 3] == 0, "transparent elsewhere"


def test_the_decision_boundary_is_one_image_per_checkpoint_in_the_class_colours(runs):
    run, _ = runs
    fig = charts.movie_figure(run, 0, 0, 3).to_dict()
    assert len(fig["frames"]) == len(run.ckpt_steps)
    k = len(run.ckpt_steps) - 1
    img = _png_pixels(fig["frames"][k]["layout"]["images"][0]["source"])
    p = run.boundary[k]
    assert img.shape == (*p.shape, 3)
    flipped = p[::-1]  # image row 0 is the top of the plane (largest y)
    c0 = [int(charts.CLASS_COLORS[0][i:i + 2], 16) for i in (1, 3, 5)]
    c1 = [int(charts.CLASS_COLORS[1][i:i + 2], 16) for i in (1, 3, 5)]
    sure0, sure1 = flipped == 0, flipped == 255
    assert sure0.any() and sure1.any(), "a trained moons net is sure somewhere"
    assert (img[sure0] == c0).all() and (img[sure1] == c1).all()
    assert fig["layout"]["images"][0]["source"] == fig["frames"][3]["layout"]["images"][0]["source"]
    points = fig["layout"]["images"][1]
    assert points["name"] == "training points" and points["layer"] == "above"
    assert all(len(f["layout"]["images"]) == 1 for f in fig["frames"]), "frames swap the boundary only"
    x0, x1, y0, y1 = run.boundary_extent
    placed = fig["layout"]["images"][0]
    where = (placed["x"], placed["y"], placed["sizex"], placed["sizey"])
    assert where == pytest.approx((x0, y1, x1 - x0, y1 - y0))


def test_curves_and_stats_figures(runs):
    run, plain = runs
    fig = charts.curves_figure(run, plain, step=30)
    go.Figure(fig.to_dict())
    names = [t.name for t in fig.data]
    assert "BN: loss" in names and "no BN: loss" in names
    assert fig.layout.shapes[0].x0 == 30
    # every legend sample differs without colour: the run by marker, the quantity by dash
    samples = {t.name: (t.line.dash, t.marker.symbol) for t in fig.data}
    assert len(set(samples.values())) == len(fig.data) == 6
    assert samples["BN: loss"] != samples["BN: test acc"] != samples["BN: train acc"]
    assert {s for _, s in samples.values()} == {"circle", "x"}
    stats = charts.stats_figure(run, 0, 2, step=10)
    go.Figure(stats.to_dict())
    np.testing.assert_allclose(stats.data[0].y, run.layers[0].batch_mu[:, 2])
    np.testing.assert_allclose(stats.data[2].y, run.corrected(0)[0][:, 2])
    # running, corrected and population differ without colour (solid, dashed, markers only)
    raw, cor, pop = stats.data[1:4]
    assert (raw.line.dash, cor.line.dash, pop.mode) == ("solid", "dash", "markers")


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


def test_movie_images_are_reused_only_for_the_same_run_and_theme(runs):
    """The boundary and points images are memoised: a cache hit must be the same picture."""
    run, _ = runs
    other = train(Settings(steps=60, width=6, seed=1))
    sources = {}
    for name, r, dark in (("run", run, False), ("run-dark", run, True), ("other", other, False)):
        images = charts.movie_spec(r, 0, 0, 2, dark=dark)["layout"]["images"]
        sources[name] = [im["source"] for im in images]
    again = [im["source"] for im in charts.movie_spec(run, 1, 3, 2)["layout"]["images"]]
    assert again == sources["run"], "another layer and unit of the same run: the same images"
    assert sources["run-dark"][0] != sources["run"][0] and sources["run-dark"][1] != sources["run"][1]
    assert sources["other"][0] != sources["run"][0], "another run: its own decision boundary"
    assert sources["run"][0] == charts.boundary_images(run)[2], "and each image is what it should be"


def test_movie_spec_is_the_figure_as_plain_json(runs):
    run, _ = runs
    spec = charts.movie_spec(run, 0, 1, 3)
    fig = charts.movie_figure(run, 0, 1, 3).to_dict()
    fig["layout"].pop("template", None)  # Plotly's default template, added by to_dict()
    assert json.loads(json.dumps(spec)) == json.loads(json.dumps(fig, default=str))


def test_the_three_histograms_of_one_unit_have_the_same_counts(runs):
    """Z_norm and Z̃ are affine images of Z, so per unit their histograms (each over its own
    min … max) have Z's counts, reversed when γ < 0: an independent check of the recording."""
    run, _ = runs
    flipped = train(Settings(steps=60, width=6, gamma_init=-1.0))  # γ < 0: Z̃'s histogram is Z's reversed
    assert (flipped.layers[0].gamma < 0).all()
    for r in (run, flipped):
        rec = r.layers[0]
        for unit in range(r.settings.width):
            for k in (0, len(r.ckpt_steps) - 1):
                z, z_norm, z_tilde = (rec.hist_counts[k, q, unit].astype(int) for q in range(3))
                gamma = float(rec.gamma[k, unit])
                moved = np.abs(z_norm - z).sum() + np.abs(z_tilde - (z if gamma >= 0 else z[::-1])).sum()
                assert moved <= 4, (unit, k)  # a value on a bin edge may land on either side


def test_step_0_accuracy_with_running_statistics_is_undefined(runs):
    """v₀ = 0 at step 0: the running and corrected accuracies are not numbers to read."""
    run, plain = runs
    acc = charts.accuracy_table(run, 0).set_index("statistics")
    at0 = acc["at step 0"]
    assert np.isnan(at0[charts.STATS_LABELS["running"]]) and np.isnan(at0[charts.STATS_LABELS["corrected"]])
    assert at0[charts.STATS_LABELS["population"]] == run.curves["test_acc_population"].iloc[0]
    assert not acc["after training"].isna().any()
    assert not charts.accuracy_table(run, 1)["at step 1"].isna().any()
    no_bn = charts.accuracy_table(plain, 0).iloc[:, 1:]
    assert not no_bn.isna().any().any(), "no BN: no statistics to wait for"


# --------------------------------------------------------------------------- the mini-batch, shared axes

POINTS = (9, 10, 11)  # the mini-batch's points on Z, Z_norm, Z̃
ONE, AFFINE = 12, 13  # the ±1 lines on Z_norm, the β, β ± |γ| lines on Z̃


def _frame_x(fig: dict, kk: int, trace: int) -> np.ndarray:
    frame = fig["frames"][kk]
    return _decode(frame["data"][frame["traces"].index(trace)]["x"]).astype(np.float64)


@pytest.mark.parametrize("unit", [1, -1])
def test_z_norm_and_z_tilde_share_one_axis_fixed_over_frames_and_statistics(runs, unit):
    run, _ = runs
    specs = {w: charts.movie_spec(run, 1, unit, 3, normalize=w) for w in numbers.NORMALIZE}
    for w, spec in specs.items():
        go.Figure(charts.movie_figure(run, 1, unit, 3, normalize=w).to_dict())  # valid Plotly
        lay = spec["layout"]
        assert lay["xaxis3"]["matches"] == "x2" and lay["xaxis3"]["range"] == lay["xaxis2"]["range"]
        assert all("xaxis" not in f.get("layout", {}) for f in spec["frames"]), "frames never move an axis"
        for ax in ("xaxis", "xaxis2", "yaxis", "yaxis2", "yaxis3"):
            assert lay[ax]["range"] == specs["batch"]["layout"][ax]["range"], (w, ax)
    lo, hi = specs["batch"]["layout"]["xaxis2"]["range"]
    assert lo < -1 and hi > 1
    for w, spec in specs.items():
        fig = json.loads(json.dumps(spec))
        for kk in range(len(run.ckpt_steps)):
            n = numbers.unit_numbers(run, 1, unit, kk, w)
            assert lo <= n.beta - abs(n.gamma) and n.beta + abs(n.gamma) <= hi
            if w != "running":  # the running estimates may reach beyond (NORMALIZED_REACH)
                for trace in POINTS[1:]:
                    x = _frame_x(fig, kk, trace)
                    assert lo <= x.min() and x.max() <= hi, (w, kk)
        zlo, zhi = spec["layout"]["xaxis"]["range"]
        z = np.concatenate([_frame_x(fig, kk, POINTS[0]) for kk in range(len(run.ckpt_steps))])
        assert zlo <= z.min() and z.max() <= zhi


def test_a_batch_of_2_spreads_the_training_set_off_the_axis_at_some_steps_not_the_axis_itself(runs):
    """At m = 2 two nearly equal values of a unit give σ²_B near 0 at some step, and the training
    set normalized with them spreads over ±100: the shared axis stays within NORMALIZED_REACH of
    what it must hold, so the mini-batch's ±1 points stay apart; those steps' bars run off it.
    At m = 32 (the fixture) every step's bars fit, with each statistics but the running ones."""
    run = train(Settings(batch_size=2))
    fig = json.loads(json.dumps(charts.movie_spec(run, 0, 0, 0)))
    lo, hi = fig["layout"]["xaxis2"]["range"]
    nk = len(run.ckpt_steps)
    pts = np.concatenate([_frame_x(fig, kk, trace) for kk in range(nk) for trace in POINTS[1:]])
    assert lo <= pts.min() and pts.max() <= hi, "the mini-batch's points always on the axis"
    assert hi - lo < 30, "±1 a few px apart on a panel 150 px wide, not on an axis of ±100"
    spans = np.array([_bars_span(fig, kk) for kk in range(nk)])
    assert (spans[:, 0] < lo).any() or (spans[:, 1] > hi).any(), "some step's bars run off the axis"
    assert np.median(spans[:, 1] - spans[:, 0]) < hi - lo, "most steps' bars fit"
    m32 = runs[0]
    for w in ("batch", "population"):
        fig = json.loads(json.dumps(charts.movie_spec(m32, 1, 2, 0, normalize=w)))
        lo, hi = fig["layout"]["xaxis2"]["range"]
        spans = np.array([_bars_span(fig, kk) for kk in range(len(m32.ckpt_steps))])
        assert lo <= spans.min() and spans.max() <= hi, w


def _bars_span(fig: dict, kk: int) -> tuple[float, float]:
    """The first and last bar edge of Z_norm's histogram in frame ``kk``."""
    frame = fig["frames"][kk]
    bars = frame["data"][frame["traces"].index(2)]
    n = len(_decode(bars["y"]))
    return bars["x0"] - bars["dx"] / 2, bars["x0"] + bars["dx"] * (n - 0.5)


def test_frozen_gamma_3_stretches_the_z_tilde_points_3_times_the_z_norm_points():
    run = train(Settings(steps=60, width=6, freeze_affine=True, gamma_init=3.0, beta_init=-1.0))
    for unit in (0, -1):
        fig = charts.movie_spec(run, 0, unit, 0)
        for kk in (0, 1, len(run.ckpt_steps) - 1):  # step 0 too
            zn, zt = _frame_x(fig, kk, POINTS[1]), _frame_x(fig, kk, POINTS[2])
            assert np.ptp(zn) > 0.5
            assert np.ptp(zt) == pytest.approx(3 * np.ptp(zn), rel=1e-5)
            np.testing.assert_allclose(zt, 3 * zn - 1.0, rtol=1e-5, atol=1e-5)


def test_reference_lines_at_plus_minus_1_and_beta_plus_minus_gamma(runs):
    run, _ = runs
    fig = json.loads(json.dumps(charts.movie_spec(run, 1, 2, 0)))
    assert fig["data"][ONE]["x"] == [-1.0, -1.0, None, 1.0, 1.0, None] and fig["data"][ONE]["xaxis"] == "x2"
    assert ONE not in fig["frames"][0]["traces"], "±1 never moves"
    assert fig["data"][AFFINE]["xaxis"] == "x3"
    for kk in (0, 9, len(run.ckpt_steps) - 1):
        n = numbers.unit_numbers(run, 1, 2, kk)
        xs = fig["frames"][kk]["data"][fig["frames"][kk]["traces"].index(AFFINE)]["x"]
        g, b = float(run.layers[1].gamma[kk, 2]), float(run.layers[1].beta[kk, 2])
        assert xs[0::3] == pytest.approx([b - abs(g), b, b + abs(g)])
        assert (n.gamma, n.beta) == pytest.approx((g, b))


def test_the_points_are_the_batch_and_the_z_marks_its_mean_and_sd(runs):
    run, _ = runs
    rec, k, unit = run.layers[0], 5, 3
    fig = json.loads(json.dumps(charts.movie_spec(run, 0, unit, k)))
    for w in numbers.NORMALIZE:
        p = numbers.batch_points(run, 0, unit, k, w)
        assert p.z_norm is not None and p.z_tilde is not None
        spec = json.loads(json.dumps(charts.movie_spec(run, 0, unit, k, normalize=w)))
        for trace, values in zip(POINTS, (p.z, p.z_norm, p.z_tilde)):
            np.testing.assert_allclose(_frame_x(spec, k, trace), values, rtol=1e-6, atol=1e-6)
    marks = fig["frames"][k]["data"][1]["x"]
    mu, sd = float(rec.shown_mu[k, unit]), float(np.sqrt(rec.shown_var[k, unit]))
    assert (marks[0], marks[3], marks[6]) == pytest.approx((mu, mu - sd, mu + sd), rel=1e-5)
    # the points sit under the bars, in view
    y = _decode(fig["data"][POINTS[0]]["y"])
    assert np.all(y < 0) and fig["layout"]["yaxis"]["range"][0] < y.min()


def test_a_batch_of_one_puts_every_z_norm_point_at_0_and_z_tilde_at_beta():
    run = train(Settings(batch_size=1, steps=30, width=4))
    fig = charts.movie_spec(run, 0, 1, 0)
    for kk in range(len(run.ckpt_steps)):
        assert np.all(_frame_x(fig, kk, POINTS[1]) == 0)
        np.testing.assert_allclose(_frame_x(fig, kk, POINTS[2]), run.layers[0].shown_beta[kk, 1], rtol=1e-6)


def test_running_statistics_at_step_0_draw_nothing_and_say_why(runs):
    run, _ = runs
    spec = charts.movie_spec(run, 0, 1, 0, normalize="running")
    go.Figure(charts.movie_figure(run, 0, 1, 0, normalize="running").to_dict())
    assert np.isnan(_frame_x(spec, 0, POINTS[1])).all() and not np.isnan(_frame_x(spec, 1, POINTS[1])).any()
    assert "undefined at step 0" in spec["frames"][0]["data"][6]["text"][0]
    with pytest.raises(ValueError, match="normalize"):
        charts.movie_spec(run, 0, 1, 0, normalize="mean")


def test_with_a_small_batch_the_histograms_move_with_each_batch():
    """"This mini-batch": the training sample normalized with each step's μ_B, σ²_B jumps
    from checkpoint to checkpoint; with the population statistics it barely moves."""
    run = train(Settings(batch_size=2, steps=60, width=4))
    def lefts(w: str) -> np.ndarray:
        spec = charts.movie_spec(run, 0, 0, 0, normalize=w)
        return np.array([f["data"][2]["x0"] for f in spec["frames"][-20:]])
    assert np.std(np.diff(lefts("batch"))) > 5 * np.std(np.diff(lefts("population")))


# --------------------------------------------------------------------------- other normalizations


@pytest.fixture(scope="module")
def layer_runs():
    s = Settings(steps=30, width=6, depth=2, batch_size=16, activation="tanh", normalization="layer")
    return train(s), train(s.replace(use_bn=False))


def test_layer_norm_histograms_draw_what_the_network_computed_whatever_the_choice(layer_runs):
    """No running estimates: "running" and "population" draw what "example" draws, and the
    mini-batch's points are each example normalized over its units (bnviz.explorer)."""
    run, _ = layer_runs
    example = charts.movie_spec(run, 1, 2, 5, normalize=numbers.EXAMPLE)
    go.Figure(charts.movie_figure(run, 1, 2, 5, normalize=numbers.EXAMPLE).to_dict())
    for other in ("running", "population", "batch"):
        assert json.dumps(charts.movie_spec(run, 1, 2, 5, normalize=other), sort_keys=True) == \
            json.dumps(example, sort_keys=True)
    k = len(run.ckpt_steps) - 1
    drawn = _frame_x(example, k, POINTS[1])
    p = numbers.batch_points(run, 1, 2, k, numbers.EXAMPLE)
    np.testing.assert_allclose(drawn, np.asarray(p.z_norm, np.float32))
    # the Z_norm bars are the recorded histogram of the network's own z_norm
    frame = example["frames"][k]
    bars = frame["data"][frame["traces"].index(2)]
    np.testing.assert_array_equal(_decode(bars["y"]), run.layers[1].hist_counts[k, 1, 2])
    titles = [t["text"][0] for t in frame["data"] if "text" in t]
    assert not any("μ_B" in t for t in titles), "no claim that the unit's μ_B normalized it"
    assert any(t.startswith("<b>Z_norm</b><br>mean = ") for t in titles)


def test_accuracy_table_has_one_row_without_statistics_to_choose(layer_runs):
    run, _ = layer_runs
    table = charts.accuracy_table(run, 0)
    assert list(table["statistics"]) == [charts.EXAMPLE_LABEL]
    assert not table.iloc[:, 1:].isna().any().any(), "nothing averaged, nothing undefined at step 0"
    assert table["after training"].iloc[0] == run.curves["test_acc"].iloc[-1]


def test_curves_name_the_normalization_and_its_baseline(layer_runs):
    run, plain = layer_runs
    fig = charts.curves_figure(run, plain, names=numbers.norm_names(run.settings))
    names = {t.name for t in fig.data}
    assert {"LayerNorm: loss", "none: loss", "LayerNorm: test acc", "none: train acc"} <= names
    assert not any("BN" in n for n in names)


@pytest.mark.parametrize("kind", ["batch", "layer", "group", "renorm"])
def test_norm_over_svg_outlines_the_set_and_says_what_it_is(kind):
    s = Settings(width=32, batch_size=64, normalization=kind, groups=4)
    over = numbers.norm_over(s, unit=2)
    svg = charts.norm_over_svg(over)
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    title = root.find(f"{ns}title")
    assert title is not None and title.text == over.title
    cells = [r for r in root.iter(f"{ns}rect") if r.find(f"{ns}title") is not None]
    assert len(cells) == over.cells.size == 6 * 12
    filled = [r for r in cells if r.get("fill") == BN]
    assert len(filled) == int((over.cells == 2).sum())
    outline = [r for r in root.iter(f"{ns}rect") if r.get("fill") == "none"]
    assert len(outline) == 1, "the set is outlined, so it shows without its colour"
    w, h = float(outline[0].get("width", "nan")), float(outline[0].get("height", "nan"))
    c = charts.SCHEMATIC_CELL
    size = {"batch": (c, 6 * c), "renorm": (c, 6 * c), "layer": (12 * c, c), "group": (8 * c, c)}[kind]
    assert (w, h) == size
    texts = "".join(t.text or "" for t in root.iter(f"{ns}text"))
    assert "… 32 units" in texts and "⋮ 64 examples" in texts

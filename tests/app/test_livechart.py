"""The live chart component's Python side: the folder Streamlit serves, the figure it sends
(inline or by reference), and the figures it keeps for every session."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
import os
import time
from pathlib import Path

import plotly
import plotly.graph_objects as go
import pytest

from bnviz import Settings
from bnviz import explorer as numbers
from bnviz.app import livechart
from bnviz.charts import explorer as charts
from bnviz.train import train


def test_served_folder_holds_our_files_and_the_installed_plotly_js():
    folder = livechart.served_dir()
    for name in livechart.FILES:
        assert (folder / name).read_bytes() == (livechart.HERE / name).read_bytes()
    js = folder / "plotly.min.js"
    installed = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert js.stat().st_size == installed.stat().st_size > 1_000_000
    assert js.read_bytes()[:200] == installed.read_bytes()[:200]
    assert gzip.decompress((folder / livechart.PLOTLY_GZ).read_bytes()) == installed.read_bytes()
    assert livechart.served_dir() == folder, "made once, then reused"
    page = (livechart.HERE / "index.html").read_text()
    assert page.count('fetch("plotly.min.js.gz")') == 1 and page.count('s.src = "plotly.min.js"') == 1


def test_figure_json_of_a_figure_and_of_its_dict_agree():
    fig = go.Figure(go.Bar(x=[1, 2], y=[3, 4]), layout={"height": 300})
    as_dict = {"data": [{"type": "bar", "x": [1, 2], "y": [3, 4]}], "layout": {"height": 300}}
    from_fig = json.loads(livechart.figure_json(fig))
    from_dict = json.loads(livechart.figure_json(as_dict))
    assert from_fig["data"][0]["y"] == from_dict["data"][0]["y"] == [3, 4]
    assert from_fig["layout"]["height"] == from_dict["layout"]["height"] == 300


def test_a_figure_dict_becomes_strict_json_whatever_numbers_it_holds():
    """What a browser's JSON.parse accepts: NumPy numbers and arrays as numbers, NaN and
    infinities as null (the json module would write NaN, which JSON.parse rejects)."""
    import numpy as np

    spec = {"data": [{"x": np.arange(3), "y": [np.float32(0.5), float("nan"), float("inf")],
                      "customdata": {1: "a"}}], "layout": {"width": np.int64(7)}}

    def strict(token: str) -> None:
        raise AssertionError(f"not JSON: {token}")

    sent = json.loads(livechart.figure_json(spec), parse_constant=strict)
    x = sent["data"][0].pop("x")  # an array: Plotly's typed array, as a Figure's JSON has it
    assert np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"]).tolist() == [0, 1, 2]
    assert sent == {"data": [{"y": [0.5, None, None], "customdata": {"1": "a"}}], "layout": {"width": 7}}


def test_a_figure_is_sent_as_plotly_itself_would_write_it():
    """figure_json encodes a go.Figure from its own property dicts: parsed, the same JSON as
    ``Figure.to_json()`` (Plotly's typed arrays, its int64 downcasts, the keys it leaves as
    lists), for every kind of trace and value the app's figures use."""
    import numpy as np
    import pandas as pd

    fig = go.Figure()
    fig.add_bar(x=np.arange(5), y=np.array([1, 2, 3, 4, 70_000], dtype=np.int64), name="bars")
    fig.add_scatter(x=pd.Series([0.5, 1.5, np.nan]), y=np.array([1, np.nan, 3], dtype=np.float32),
                    customdata=np.arange(6.0).reshape(3, 2), mode="lines+markers", text=["a", "b", "c"])
    fig.add_heatmap(z=np.arange(12, dtype=np.uint64).reshape(3, 4), colorscale="Viridis")
    # int16; too large for int32; too large for uint32; int32
    fig.add_scatter(x=np.array([-200, 5]), y=np.array([2**40, 1]),
                    customdata=np.array([2**33], dtype=np.uint64), ids=np.array([-(2**31), 0]))
    fig.add_scatter(x=np.array([], dtype=np.float64), y=[])
    fig.add_histogram(x=np.random.default_rng(0).normal(size=50))
    fig.update_layout(xaxis={"range": np.array([0.0, 4.0])}, height=300, template="plotly_white",
                      shapes=[{"type": "line", "x0": np.float64(1), "x1": 2, "y0": 0, "y1": 1}],
                      annotations=[{"x": np.int64(1), "y": 2, "text": "μ"}])
    fig.update_xaxes(tickvals=np.array([0, 2, 4]))
    assert json.loads(livechart.figure_json(fig)) == json.loads(fig.to_json())


def test_the_explorers_figures_are_sent_as_plotly_would_write_them(two_runs):
    """Each chart's Figure, and the same chart's dicts sent without making the Figure
    (``charts.figure_dict``: what the page sends), give Plotly's own JSON."""
    from bnviz.charts.boundaries import boundaries_figure, boundaries_spec

    bn_run, other, _ = two_runs
    t = int(bn_run.ckpt_steps[-1])
    names = ("BN", "no BN")
    pairs = [(charts.stats_figure(bn_run, 0, 1, t), charts.stats_spec(bn_run, 0, 1, t)),
             (charts.stats_figure(bn_run, 1, -1, 0), charts.stats_spec(bn_run, 1, -1, 0)),
             (charts.curves_figure(bn_run, other, t, True, names),
              charts.curves_spec(bn_run, other, t, True, names)),
             (boundaries_figure(bn_run, other, t, dark=True), boundaries_spec(bn_run, other, t, dark=True))]
    for fig, spec in pairs:
        plotly = json.loads(fig.to_json())
        assert json.loads(livechart.figure_json(fig)) == plotly
        assert json.loads(livechart.figure_json(spec)) == plotly
        assert plotly["layout"]["template"]["layout"], "Plotly's default template, as a Figure has"


# --------------------------------------------------------------------------- figures by reference


def test_a_large_figure_is_sent_as_a_file_named_by_its_content():
    text = json.dumps({"data": [{"type": "bar", "y": list(range(10_000))}], "layout": {}})
    assert len(text) >= livechart.BY_REFERENCE
    ref = livechart.figure_ref(text)
    assert ref is not None and ref.startswith(f"{livechart.FIGURES}/")
    assert (livechart.served_dir() / ref).read_text(encoding="utf-8") == text
    assert livechart.figure_ref(text) == ref, "the same figure: the same name"
    assert livechart.figure_ref(text.replace("10000", "10001") + " ") != ref
    assert livechart.sent_figure({"figure_ref": ref}) == json.loads(text)
    assert livechart.sent_figure({"figure": text}) == json.loads(text)


def test_pruning_spares_the_figures_sent_recently(tmp_path):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text("x" * 30_000)
    new.write_text("y" * 30_000)
    past = time.time() - 3600
    os.utime(old, (past, past))
    livechart.prune_figures(limit=0, keep_s=60, folder=tmp_path)
    assert not old.exists(), "an hour unsent, over the limit: pruned"
    assert new.exists(), "sent a moment ago: kept"
    os.utime(new, (past, past))
    livechart.prune_figures(limit=30_000, keep_s=60, folder=tmp_path)
    assert new.exists(), "within the limit: kept"


@pytest.fixture(scope="module")
def two_runs():
    a = train(Settings(steps=20))
    return a, train(Settings(steps=20, seed=1)), train(Settings(steps=20))


def _movie_sent(run, unit: int = 0, norm: str = "batch") -> tuple[dict, list[int]]:
    """What the Explorer sends for the histograms of ``run`` (its cache key and its builder),
    and how many times the figure was built for it."""
    built: list[int] = []

    def make() -> dict:
        built.append(1)
        return charts.movie_spec(run, 0, unit, len(run.ckpt_steps) - 1, normalize=norm)

    key = ("movie-test", numbers.run_identity(run), 0, unit, norm, False)
    return livechart._sent(make, key), built


def test_a_cached_figure_equals_a_freshly_built_one_and_is_built_once(two_runs):
    run, _, again = two_runs
    first, built = _movie_sent(run)
    assert built == [1]
    fresh = json.loads(livechart.figure_json(charts.movie_spec(run, 0, 0, len(run.ckpt_steps) - 1)))
    assert livechart.sent_figure(first) == fresh
    second, built = _movie_sent(again)  # the same settings trained again: the same run
    assert built == [], "the cached figure is sent, not built again"
    assert second == first
    other_view, built = _movie_sent(run, unit=1)
    assert built == [1] and other_view != first
    other_norm, built = _movie_sent(run, norm="population")
    assert built == [1] and other_norm != first


def test_two_different_runs_never_share_a_figure(two_runs):
    a, b, _ = two_runs
    assert numbers.run_identity(a) != numbers.run_identity(b)
    sent_a, _ = _movie_sent(a)
    sent_b, built = _movie_sent(b)
    assert built == [1] and sent_a != sent_b
    fresh_b = json.loads(livechart.figure_json(charts.movie_spec(b, 0, 0, len(b.ckpt_steps) - 1)))
    assert livechart.sent_figure(sent_b) == fresh_b


def test_a_run_that_differs_in_any_step_has_another_identity(two_runs):
    run, _, again = two_runs
    assert numbers.run_identity(run) == numbers.run_identity(again), "a run is a function of its settings"
    changed = dataclasses.replace(run, loss=run.loss.copy())
    changed.loss[-1] += 1e-12
    assert numbers.run_identity(changed) != numbers.run_identity(run)


def test_the_images_of_a_run_go_once_in_a_file_of_their_own(two_runs):
    """The decision boundary of every checkpoint and the training points are the same for every
    view of a run: the histograms' figure names them in one file, which every view shares."""
    run = two_runs[0]
    views = [_movie_sent(run, unit=u)[0] for u in (0, 1)]
    raw = [json.loads((livechart.served_dir() / v["figure_ref"]).read_text()) for v in views]
    assert raw[0][livechart.ASSETS] == raw[1][livechart.ASSETS], "one images file for the run"
    assert [v[livechart.ASSETS] for v in views] == [r[livechart.ASSETS] for r in raw], \
        "the arguments name it beside the figure, so that the chart fetches both at once"
    assert _movie_sent(run, unit=0)[0] == views[0], "the same arguments from the cache"
    sources = [im["source"] for im in raw[0]["layout"]["images"]]
    sources += [im["source"] for f in raw[0]["frames"] for im in f["layout"]["images"]]
    assert sources and all(src.startswith(livechart.ASSET_PREFIX) for src in sources)
    fresh = charts.movie_spec(run, 0, 0, len(run.ckpt_steps) - 1)
    assert livechart.sent_figure(views[0]) == json.loads(livechart.figure_json(fresh))
    assert all(im["source"].startswith("data:image/png") for im in fresh["layout"]["images"])


def test_a_cached_figure_whose_files_were_pruned_is_made_again(two_runs):
    run = two_runs[0]
    sent, _ = _movie_sent(run, unit=2)
    path = livechart.served_dir() / sent["figure_ref"]
    assets = livechart.served_dir() / json.loads(path.read_text())[livechart.ASSETS]
    assets.unlink()  # pruned by another server sharing the folder, say
    again, built = _movie_sent(run, unit=2)
    assert built == [1], "made again rather than naming a file that is gone"
    assert assets.exists() and livechart.sent_figure(again) == livechart.sent_figure(sent)


def _unit_views(run, units, key: str, built: list[int] | None = None) -> livechart.Views:
    """The Explorer's views of ``run``'s units (layer 1), as its page makes them."""
    rid = numbers.run_identity(run)

    def make(u: int):
        def build() -> dict:
            if built is not None:
                built.append(u)
            return charts.movie_spec(run, 0, u, len(run.ckpt_steps) - 1)
        return build

    return livechart.Views(".st-key-v_unit input", (key, rid),
                           {f"unit {u + 1}": ((key, rid, 0, u), make(u)) for u in units})


def test_the_views_of_the_other_units_are_built_once_in_the_background_and_named_in_one_file(two_runs):
    """The chart draws another unit without the server from the views file: each label names
    the file of exactly the figure the page would send for that unit."""
    run = two_runs[0]
    key = f"views-test-{time.time_ns()}"  # a file no earlier test run wrote
    built: list[int] = []
    views = _unit_views(run, [0, 1, 2], key, built)
    not_yet, ready = livechart.prepare(views, scale=False, build=False)
    assert not ready and not (livechart.served_dir() / not_yet).exists() and built == [], "only named"
    ref, ready = livechart.prepare(views, scale=False)
    assert ref == not_yet == livechart.views_ref(views.key, False), "one name for a key, in every process"
    assert livechart.prepare(views, scale=False)[0] == ref
    livechart.views_done(ref, timeout=60)
    assert livechart.prepare(views, scale=False) == (ref, True), "built: the chart can draw them"
    assert sorted(built) == [0, 1, 2], "each figure built once, the second prepare adding nothing"
    names = json.loads((livechart.served_dir() / ref).read_text())
    assert list(names) == ["unit 1", "unit 2", "unit 3"]
    for u, name in enumerate(names.values()):
        sent = livechart._sent(views.figures[f"unit {u + 1}"][1], views.figures[f"unit {u + 1}"][0], False)
        assert sent["figure_ref"] == name, "the figure the page sends for the unit"
        fresh = charts.movie_spec(run, 0, u, len(run.ckpt_steps) - 1)
        assert livechart.sent_figure(sent) == json.loads(livechart.figure_json(fresh))
    livechart.prepare(views, scale=False)
    livechart.views_done(ref, timeout=60)
    assert sorted(built) == [0, 1, 2], "the file is there: nothing built again"
    assert livechart.views_ref(views.key, True) != ref, "presenter mode's larger text: other figures"


def test_views_whose_figure_was_pruned_are_built_again(two_runs):
    run = two_runs[1]
    key = f"views-pruned-{time.time_ns()}"
    views = _unit_views(run, [0, 1], key)
    ref, _ = livechart.prepare(views, scale=False)
    livechart.views_done(ref, timeout=60)
    names = json.loads((livechart.served_dir() / ref).read_text())
    (livechart.served_dir() / names["unit 2"]).unlink()  # pruned, say by another server
    livechart._cached.clear()
    built: list[int] = []
    again = _unit_views(run, [0, 1], key, built)
    assert livechart.prepare(again, scale=False) == (ref, False), "a figure is gone: not ready"
    livechart.views_done(ref, timeout=60)
    assert built == [0, 1] and (livechart.served_dir() / names["unit 2"]).exists()


def test_views_are_at_most_a_block():
    with pytest.raises(ValueError, match="at most"):
        livechart.Views("input", "k", {str(i): (i, dict) for i in range(livechart.VIEWS_BUILT_AT_ONCE + 1)})


def test_the_units_the_histograms_can_switch_between_without_the_server():
    assert numbers.unit_block(12, 3) == [-1, *range(12)], "a default layer: every unit and all"
    assert numbers.unit_block(12, -1) == numbers.unit_block(12, 11)
    assert numbers.unit_block(40, 20) == [-1, *range(16, 32)], "a wide layer: the block of 16 holding it"
    assert numbers.unit_block(40, 39) == [-1, *range(32, 40)]
    assert len(numbers.unit_block(128, 0)) == livechart.VIEWS_BUILT_AT_ONCE
    assert [numbers.unit_label(j) for j in (-1, 0, 11)] == ["all units pooled", "unit 1", "unit 12"]

"""The Explorer page under ``streamlit.testing.v1.AppTest``: every control does what it says.

These run the real page script (no mocks): widgets are set, the script reruns, and the
rendered elements (equations, notices, figure specs, query params) are checked.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bnviz import Settings
from bnviz.app import livechart, ui
from bnviz.data import n_train
from bnviz.train import train

TIMEOUT = 60
ROOT = Path(__file__).resolve().parents[2]


def app(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def equations(at: AppTest) -> list[str]:
    """Every equation on the page, one per line of each block (``ui.equations``)."""
    return [line for e in at.latex for line in ui.equation_lines(e.value)]


def latex(at: AppTest, start: str) -> str:
    """The first equation whose source (after ``\\small``) starts with ``start``."""
    for body in equations(at):
        if body.startswith(start):
            return body
    raise AssertionError(f"no equation starting {start!r} in {equations(at)}")


def last_number(text: str) -> float:
    m = re.findall(r"-?\d+(?:\.\d+)?(?: \\times 10\^\{-?\d+\})?|10\^\{-?\d+\}", text)
    assert m, text
    tok = m[-1]
    if "10^" in tok:
        mant = tok.split(r" \times ")[0] if r"\times" in tok else "1"
        exp = int(re.search(r"\{(-?\d+)\}", tok).group(1))  # type: ignore[union-attr]
        return float(mant) * 10.0**exp
    return float(tok)


def charts(at: AppTest) -> dict[str, dict]:
    """The Plotly figures the page sent to its live charts (bnviz.app.livechart), by key."""
    out = {}
    for el in at.get("component_instance"):
        if el.proto.component_name.endswith("livechart"):
            key = el.proto.id.rsplit("-", 1)[-1].removesuffix("_live")
            out[key] = livechart.sent_figure(json.loads(el.proto.json_args))  # inline or by reference
    return out


def player(at: AppTest, key: str) -> dict:
    """The player options the page sent with the live chart ``key``."""
    for el in at.get("component_instance"):
        if el.proto.component_name.endswith("livechart") and el.proto.id.endswith(f"-{key}_live"):
            return json.loads(el.proto.json_args)["player"]
    raise AssertionError(f"no live chart {key}")


def figure(at: AppTest, key: str) -> dict:
    """The Plotly spec of the chart with the given key (movie, curves, stats)."""
    found = charts(at)
    assert key in found, f"no {key} chart among {sorted(found)}"
    return found[key]


def counter(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown if "checkpoint" in m.value)


def step(at: AppTest) -> int:
    """The step the step counter shows."""
    return int(re.search(r"Step (\d+)", counter(at)).group(1))  # type: ignore[union-attr]


def qp(at: AppTest) -> dict[str, str]:
    """The page's URL query parameters, one string per key."""
    return {k: v[-1] if isinstance(v, list) else v for k, v in at.query_params.items()}


def summary(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("Test accuracy"))


# --------------------------------------------------------------------------- loading


def test_default_page_renders_every_part_and_writes_the_url():
    at = app()
    assert sorted(charts(at)) == ["boundaries", "curves", "movie", "stats"]
    side_by_side = figure(at, "boundaries")["layout"]
    assert [im["xref"] for im in side_by_side["images"] if im["layer"] == "below"] == ["x", "x2"]
    assert [a["text"].count("test accuracy") for a in side_by_side["annotations"]] == [1, 1]
    movie = figure(at, "movie")
    assert len(movie["frames"]) == 51
    assert [t["type"] for t in movie["data"]][:6] == ["bar", "scatter"] * 3
    assert movie["layout"]["images"][0]["source"].startswith("data:image/png"), "moons: a decision boundary"
    assert all(f["layout"]["images"] for f in movie["frames"]), "and it moves with the steps"
    q = qp(at)
    for name, value in Settings().to_query().items():
        assert q[name] == value, name
    assert q["layer"] == "1" and q["unit"] == "1"
    assert "t" not in q, "at the end of training the URL has no step"
    assert step(at) == 500
    # every seed equation is on the page
    for start in (r"\mu = \frac{1}{m}", r"\sigma^2 = \frac{1}{m}",
                  r"z_{norm} = \frac{z-\mu}{\sqrt{\sigma^2+\epsilon}}",
                  r"\tilde z = \gamma\, z_{norm} + \beta", r"v_\mu \leftarrow", r"\hat v_\mu ="):
        latex(at, start)
    assert any("b is redundant" in c.value for c in at.caption)
    assert any("PyTorch momentum 0.1" in c.value and "Keras momentum 0.9" in c.value for c in at.caption)


# --------------------------------------------------------------------------- controls


def test_raising_eps_shrinks_z_norm_of_a_low_variance_unit():
    relu = Settings(depth=2, width=16, activation="relu")  # the network the tolerances were set on
    var0 = train(relu).layers[0].pop_var[0]  # step 0: the initial weights, the same for any ε
    unit = int(var0.argmin())
    v = float(var0[unit])
    at = app({"t": "0", "unit": str(unit + 1), "norm": "population",  # the statistics var0 is of
              "depth": "2", "width": "16", "activation": "relu"})
    sd_before = last_number(latex(at, r"\operatorname{sd}(z_{norm})"))
    range_before = figure(at, "movie")["layout"]["xaxis2"]["range"]
    assert sd_before == pytest.approx(1.0, abs=1e-3)
    at.select_slider(key="s_eps").set_value(1.0).run()
    assert not at.exception
    sd_after = last_number(latex(at, r"\operatorname{sd}(z_{norm})"))
    assert sd_after == pytest.approx(math.sqrt(v / (v + 1.0)), rel=2e-3)
    assert sd_after < 0.9 * sd_before
    range_after = figure(at, "movie")["layout"]["xaxis2"]["range"]
    assert range_after[1] - range_after[0] < 0.9 * (range_before[1] - range_before[0])
    assert qp(at)["eps"] == "1.0"


def test_frozen_gamma_beta_set_the_spread_and_mean_of_z_tilde():
    at = app({"t": "0"})
    at.toggle(key="s_freeze_affine").set_value(True)
    at.slider(key="s_gamma_init").set_value(2.0)
    at.slider(key="s_beta_init").set_value(-1.0).run()
    at.button(key="v_reset").click().run()  # any step: γ, β are frozen
    assert last_number(latex(at, r"\operatorname{mean}(\tilde z)")) == pytest.approx(-1.0)
    sd_norm = last_number(latex(at, r"\operatorname{sd}(z_{norm})"))
    assert last_number(latex(at, r"\operatorname{sd}(\tilde z)")) == pytest.approx(2.0 * sd_norm, rel=2e-3)
    assert any("frozen at their initial values" in c.value for c in at.caption)


def test_decay_slider_shows_pytorch_and_keras_momentum_and_changes_the_running_estimate():
    at = app()
    before = figure(at, "stats")["data"][1]["y"]
    at.select_slider(key="s_decay").set_value(0.99).run()
    assert any("PyTorch momentum 0.01" in c.value and "Keras momentum 0.99" in c.value for c in at.caption)
    assert figure(at, "stats")["data"][1]["y"] != before
    assert qp(at)["decay"] == "0.99"


def test_layer_and_unit_are_display_choices_that_change_the_view_not_the_run():
    at = app()
    text = summary(at)
    mu_1 = latex(at, r"\mu = ")
    at.selectbox(key="v_layer").set_value(1).run()
    at.selectbox(key="v_unit").set_value(4).run()
    assert summary(at) == text, "a display choice must not change the trained run"
    assert latex(at, r"\mu = ") != mu_1
    assert qp(at)["layer"] == "2" and qp(at)["unit"] == "5"
    assert any(m.value.startswith("#### Inside layer 2") for m in at.markdown)
    at.selectbox(key="v_unit").set_value(-1).run()
    assert qp(at)["unit"] == "all"
    assert latex(at, r"\mu = ").endswith("z^{(i)}"), "pooled: the equation without one unit's numbers"


def test_step_and_reset_buttons_move_the_displayed_step():
    at = app()
    assert step(at) == 500
    at.button(key="v_step").click().run()
    assert step(at) == 500, "at the end, Step stays at the end"
    at.button(key="v_reset").click().run()
    assert step(at) == 0 and qp(at)["t"] == "0"
    at.button(key="v_step").click().run()
    assert step(at) == 10 and qp(at)["t"] == "10"
    assert player(at, "movie")["active"] == 1
    assert figure(at, "curves")["layout"]["shapes"][0]["x0"] == 10
    assert figure(at, "stats")["layout"]["shapes"][0]["x0"] == 10
    assert not at.exception


def test_a_step_change_sends_the_same_histogram_figure_and_moves_its_player():
    """The histograms' figure does not depend on the step (the player draws the step's frame),
    so a rerun that only moves the step redraws nothing in the browser; Reset and Step tell
    the player to move with a new ``sync``."""
    at = app()
    movie, sync = figure(at, "movie"), player(at, "movie")["sync"]
    at.button(key="v_reset").click().run()
    assert figure(at, "movie") == movie
    assert player(at, "movie")["active"] == 0 and player(at, "movie")["sync"] == sync + 1
    at.button(key="v_step").click().run()
    assert figure(at, "movie") == movie
    assert player(at, "movie")["active"] == 1 and player(at, "movie")["sync"] == sync + 2
    assert step(at) == 10

def test_play_is_in_the_browser_not_a_server_timer():
    """Play / Pause belong to the live chart's player, which shows the figure's frames in
    the browser: no server button, no ticking."""
    at = app()
    assert not any(b.key == "v_play" for b in at.button)
    options = player(at, "movie")
    assert options["interval_ms"] == 400 and len(options["labels"]) == len(figure(at, "movie")["frames"])
    source = (ROOT / "bnviz" / "app" / "pages" / "explorer.py").read_text()
    assert "run_every" not in source, "no fragment timer: the page costs nothing while a class plays"


def test_turning_bn_off_shows_z_only_and_no_statistics():
    at = app()
    at.toggle(key="s_use_bn").set_value(False).run()
    assert not at.exception
    movie = figure(at, "movie")
    assert [t["type"] for t in movie["data"]].count("bar") == 1
    off = next(i.value for i in at.info if "Batch Norm is off" in i.value)
    assert "A = g(Z)" in off and "Z = W·A + b" in off, "b enters Z, not the activation's argument"
    assert qp(at)["use_bn"] == "0"


def test_digits_has_no_decision_boundary_and_batch_ladder_follows_the_dataset():
    at = app()
    at.selectbox(key="s_dataset").set_value("digits").run()
    assert not at.exception
    assert not figure(at, "movie")["layout"].get("images"), "no decision boundary for 64-D data"
    assert "boundaries" not in charts(at), "nor two side by side"
    full = n_train("digits")  # the whole training set as one batch
    assert str(full) in at.select_slider(key="s_batch_size").options
    at.select_slider(key="s_batch_size").set_value(full).run()
    at.selectbox(key="s_dataset").set_value("moons").run()
    assert not at.exception
    assert qp(at)["batch_size"] == str(n_train("moons")), "clamped to moons' training-set size"


@pytest.mark.parametrize(
    "key,kind,value",
    [
        ("s_noise", "slider", 0.5), ("s_lr", "select_slider", 0.2), ("s_optimizer", "selectbox", "adam"),
        ("s_depth", "slider", 3), ("s_width", "select_slider", 8), ("s_activation", "selectbox", "tanh"),
        ("s_steps", "select_slider", 100), ("s_seed", "number_input", 3),
        ("s_bias_correction", "toggle", True), ("s_batch_size", "select_slider", 64),
    ],
)  # fmt: skip
def test_every_setting_retrains_and_lands_in_the_url(key, kind, value):
    at = app()
    before = figure(at, "curves")["data"][0]["y"]
    getattr(at, kind)(key=key).set_value(value).run()
    assert not at.exception, [e.value for e in at.exception]
    name = key.removeprefix("s_")
    assert qp(at)[name] == Settings().replace(**{name: value}).to_query()[name]
    if name != "bias_correction":  # that one only changes which statistics the curves use
        assert figure(at, "curves")["data"][0]["y"] != before, f"{name} must retrain"


# --------------------------------------------------------------------------- bad input


def test_settings_over_the_compute_budget_are_refused_visibly():
    at = app({"depth": "2"})
    at.selectbox(key="s_dataset").set_value("digits").run()
    at.select_slider(key="s_width").set_value(32).run()  # within the budget at depth 2
    assert qp(at)["width"] == "32"
    text = summary(at)
    at.slider(key="s_depth").set_value(8).run()
    assert not at.exception
    page = [w.value for w in at.main.warning]
    side = [w.value for w in at.sidebar.warning]
    for where in (page, side):
        said = " ".join(where)
        assert "not used" in said and "one run may use" in said and "lower width or depth" in said, where
        assert "depth = 2 \\(not 8\\)" in said, "which setting is in effect instead"
    assert qp(at)["depth"] == "2", "the URL holds what is shown"
    assert summary(at) == text, "the last settings that worked are still shown"
    at.slider(key="s_depth").set_value(3).run()  # within budget again: used, and the warning goes
    assert qp(at)["depth"] == "3"
    assert not any("not used" in w.value for w in at.warning)


def test_the_no_bn_baseline_is_cached_on_its_canonical_settings(monkeypatch, tmp_path):
    from bnviz import workers
    from bnviz.app import ui

    trainer = workers.Trainer(workers=0, disk=workers.DiskCache(tmp_path))
    monkeypatch.setattr(ui, "trainer", lambda: trainer)  # the page's cache, in this process
    a = ui.cached_run(Settings(steps=20, use_bn=False, eps=1e-3, decay=0.99))
    b = ui.cached_run(Settings(steps=20, use_bn=False, eps=0.1, gamma_init=2.0))
    assert trainer.stats["trained"] == 1, "ε, γ, decay cannot change a run without BN"
    assert a.curves.equals(b.curves)
    ui.cached_run(Settings(steps=20, use_bn=True, eps=0.1))
    ui.cached_run(Settings(steps=20, use_bn=True, eps=1e-3))
    assert trainer.stats["trained"] == 3, "with BN they do"


def test_batch_size_one_shows_the_degenerate_batch_notice():
    at = app()
    at.select_slider(key="s_batch_size").set_value(1).run()
    assert not at.exception
    assert any("Batch size m = 1" in w.value and "z_norm" in w.value for w in at.warning)
    assert sorted(charts(at)) == ["boundaries", "curves", "movie", "stats"]


def test_a_diverging_learning_rate_says_so_and_still_draws_the_steps_before():
    at = app({"lr": "10", "eps": "0", "optimizer": "sgd", "activation": "linear"})
    assert any("diverged" in e.value for e in at.error), [e.value for e in at.error]
    assert sorted(charts(at)) == ["boundaries", "curves", "movie", "stats"]
    assert re.search(r"\d+/500 steps trained", summary(at))
    assert "500/500" not in summary(at)


def test_malformed_url_falls_back_to_defaults_with_a_plain_text_notice():
    at = app({"lr": "abc", "layer": "9", "unit": "<b>x</b>", "eps": "[x](http://e.com)",
              "batch_size": "99999", "depth": "nan"})  # fmt: skip
    assert any("not used as given" in w.value for w in at.warning)
    text = "\n".join(t.value for t in at.text)
    for bad in ("lr='abc'", "layer='9'", "unit='<b>x</b>'", "eps='[x](http://e.com)'", "depth='nan'"):
        assert bad in text, bad
    assert qp(at)["lr"] == "0.05" and qp(at)["eps"] == "1e-05"
    assert qp(at)["batch_size"] == "400"
    assert qp(at)["layer"] == str(Settings().depth), "clamped to the deepest layer"
    assert not any("<b>" in m.value for m in at.markdown), "URL content never reaches Markdown"


# --------------------------------------------------------------------------- permalink


def test_permalink_reproduces_the_view_and_the_numbers():
    at = app()
    at.select_slider(key="s_batch_size").set_value(64)
    at.select_slider(key="s_eps").set_value(1e-3)
    at.slider(key="s_gamma_init").set_value(1.5).run()
    at.selectbox(key="v_layer").set_value(1).run()
    at.selectbox(key="v_unit").set_value(2).run()
    at.button(key="v_reset").click().run()
    for _ in range(3):
        at.button(key="v_step").click().run()
    url = qp(at)
    assert url["t"] == "30" and url["batch_size"] == "64" and url["layer"] == "2" and url["unit"] == "3"
    eqs = [e.value for e in at.latex]

    again = app(url)
    assert qp(again) == url
    assert [e.value for e in again.latex] == eqs
    assert summary(again) == summary(at)
    assert counter(again) == counter(at)
    assert player(again, "movie")["active"] == 3


def test_the_ewa_step_writes_both_averaged_values_in_parentheses():
    """``0.9 · (−0.0996)``, never ``0.9 ·− 0.0996``: a negative previous estimate keeps its sign."""
    at = app()
    step = next(e for e in equations(at) if r"\cdot (" in e and r"\leftarrow" not in e)
    assert step.count(r"\cdot (") == 2, step


def test_reset_shows_step_0_accuracy_with_running_statistics_as_a_dash():
    at = app()
    at.button(key="v_reset").click().run()
    table = at.dataframe[0].value
    col = next(c for c in table.columns if c.startswith("at step"))
    assert col == "at step 0"
    shown = dict(zip(table["statistics"], table[col]))
    assert shown["running EWA (raw)"] == "–" and shown["running EWA, bias-corrected"] == "–"
    assert shown["population (whole training set)"].endswith("%")
    assert all(v.endswith("%") for v in table["after training"])


def test_after_a_whole_page_the_garbage_collector_leaves_the_loaded_modules_alone():
    """bnviz.app.process.collect_young_garbage_only: once per process (the AppTest runs in this one)."""
    import gc

    app()
    assert gc.get_freeze_count() > 50_000, "Streamlit, Plotly, NumPy and pandas frozen"
    assert gc.get_threshold()[0] == 5_000


def test_a_box_of_equations_is_one_element_that_reads_back_as_its_lines():
    """Each box of equations is one ``st.latex`` (``ui.equations``): fewer elements to send and
    lay out; its lines come back whole, in order, with no line break left inside one."""
    at = app()
    blocks = [ui.equation_lines(e.value) for e in at.latex]
    tilde = next(b for b in blocks if b[0] == r"\tilde z = \gamma\, z_{norm} + \beta")
    assert len(tilde) == 4 and tilde[1].startswith("= ")
    assert tilde[3].startswith(r"\operatorname{sd}(\tilde z)")
    assert all(r"\\" not in line and line == line.strip() for b in blocks for line in b)
    assert sum(map(len, blocks)) > len(blocks)

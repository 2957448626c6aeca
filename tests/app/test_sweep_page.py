"""The Sweep page, run headless with Streamlit's AppTest."""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bnviz import Settings
from bnviz.sweep import METRICS, PRESETS, cli_command

PAGE = str(Path(__file__).resolve().parents[2] / "bnviz" / "app" / "pages" / "sweep.py")
TIMEOUT = 180  # the first sweep of a test session trains for real; later ones hit the cache


def page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def figure(at: AppTest) -> dict:
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    return json.loads(charts[0].proto.spec)


def command(at: AppTest) -> str:
    return next(c.value for c in at.code if c.value.startswith("python -m bnviz sweep"))


def explorer_settings(url: str) -> Settings:
    path, _, query = url.partition("?")
    assert path == "./"  # the Explorer is the default page, served at the root
    settings, notices = Settings.from_query(dict(urllib.parse.parse_qsl(query)))
    assert notices == []
    return settings


@pytest.fixture(scope="module")
def first() -> AppTest:
    return page()


def test_the_page_opens_on_the_first_question_with_a_heatmap(first):
    preset = PRESETS["small-batch"]
    assert first.selectbox(key="sw_preset").value == "small-batch"
    assert preset.question in first.info[0].value
    fig = figure(first)
    assert [t["type"] for t in fig["data"]] == ["heatmap", "scatter"]  # cells, and their click targets
    heat, cells = fig["data"]
    assert heat["x"] == ["2", "4", "8", "16", "32", "64"] and heat["y"] == ["off", "on"]
    assert all(v is not None and 0 <= v <= 1 for row in heat["z"] for v in row)
    assert "%{customdata[1]" in cells["hovertemplate"], "hover shows the spread over seeds"
    assert len(cells["x"]) == 12 and sorted(c[7] for c in cells["customdata"]) == list(range(12))
    assert command(first) == cli_command(preset.spec)
    table = first.dataframe[0].value
    assert len(table) == 12
    assert all(u.startswith("./?") for u in table["explorer"])  # the default page lives at the root


def test_every_question_sets_up_exactly_its_preset_sweep(first):
    at = first
    for key, preset in PRESETS.items():
        at.selectbox(key="sw_preset").set_value(key)
        at.run()
        assert not at.exception, (key, [e.value for e in at.exception])
        assert command(at) == cli_command(preset.spec), key
        assert at.selectbox(key="sw_metric").value == preset.metric
        assert METRICS[preset.metric].label in json.dumps(figure(at), ensure_ascii=False)


def test_a_tiny_custom_sweep_draws_a_line_with_a_band_and_links_to_the_explorer():
    at = page()
    at.selectbox(key="sw_preset").set_value("custom")
    at.selectbox(key="sw_p1").set_value("lr")
    at.selectbox(key="sw_p2").set_value("—")
    at.slider(key="sw_seeds").set_value(2)
    at.select_slider(key="s_steps").set_value(20)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    lr_values = next(w for w in at.select_slider if w.label.startswith("Learning rate"))
    lr_values.set_range(0.03, 0.3)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert (
        command(at) == "python -m bnviz sweep --param lr=0.03,0.1,0.3 --seeds 2 "
        # the presets' network
        "--set depth=2 --set width=16 --set activation=relu --steps 20 --out results.csv"
    )
    fig = figure(at)
    band, mean = fig["data"]
    assert band["fill"] == "toself" and mean["x"] == [0.03, 0.1, 0.3]
    assert fig["layout"]["xaxis"]["type"] == "log"
    table = at.dataframe[0].value
    assert len(table) == 3
    assert (table["min"] <= table["mean"]).all() and (table["mean"] <= table["max"]).all()
    linked = explorer_settings(table["explorer"].iloc[2])
    assert (linked.lr, linked.steps, linked.seed) == (0.3, 20, 0)
    at.selectbox(key="sw_pick").set_value(1)
    at.run()
    button = at.get("link_button")[0].proto
    assert explorer_settings(button.url).lr == 0.1


def test_switching_the_metric_redraws_from_the_same_runs(first):
    at = first
    at.selectbox(key="sw_preset").set_value("decay")
    at.run()
    before = figure(at)["data"][0]["z"]
    assert at.selectbox(key="sw_metric").value == "running_var_err"
    at.selectbox(key="sw_metric").set_value("test_acc_corrected")
    at.run()
    assert not at.exception
    after = figure(at)["data"][0]
    assert after["z"] != before
    assert after["colorbar"]["title"]["text"] == METRICS["test_acc_corrected"].label
    assert at.selectbox(key="sw_preset").value == "decay", "reading another metric is the same sweep"
    off, on = before  # rows: bias correction off, on; columns: decay 0.5 ... 0.999
    assert off[-1] > 3 * on[-1], "at decay 0.999 only bias correction makes the variance usable"


# ----------------------------------------------------------------------------- links


def linked(**query: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown_notices(at: AppTest) -> str:
    return " ".join(str(e.value) for e in [*at.warning, *at.text])


def test_a_link_keeps_its_settings_over_the_questions_defaults():
    # decay's own settings are steps=200 and the defaults; the link says steps=100, lr=0.3
    at = linked(sweep="decay", steps="100", lr="0.3", dataset="moons")
    preset = PRESETS["decay"]
    assert at.selectbox(key="sw_preset").value == "decay"
    expected = dataclasses.replace(
        preset.spec, base=preset.spec.base.replace(steps=100, lr=0.3, dataset="moons")
    )
    assert command(at) == cli_command(expected)
    assert at.select_slider(key="s_steps").value == 100
    assert "replaced" not in shown_notices(at), "nothing the question sweeps was in the link"


def test_a_link_value_of_a_swept_setting_is_named_as_replaced():
    at = linked(steps="40", batch_size="8")  # the first question sweeps batch_size
    notes = shown_notices(at)
    assert "batch_size='8'" in notes and "sweeps batch_size" in notes and "replaced" in notes
    spec = PRESETS["small-batch"].spec
    assert command(at) == cli_command(dataclasses.replace(spec, base=spec.base.replace(steps=40)))


def test_the_pages_own_url_reproduces_what_it_showed():
    at = page()
    at.selectbox(key="sw_preset").set_value("decay").run()
    at.select_slider(key="s_steps").set_value(100).run()
    at.selectbox(key="sw_metric").set_value("test_acc_corrected").run()
    assert not at.exception, [e.value for e in at.exception]
    link = {k: at.query_params[k] for k in at.query_params}
    link = {k: v if isinstance(v, str) else v[-1] for k, v in link.items()}
    assert link["sweep"] == "decay" and link["sweep_metric"] == "test_acc_corrected"
    again = linked(**link)
    assert again.selectbox(key="sw_preset").value == "decay"
    assert again.selectbox(key="sw_metric").value == "test_acc_corrected"
    assert command(again) == command(at)
    assert figure(again)["data"][0]["z"] == figure(at)["data"][0]["z"]
    assert shown_notices(again) == "", "a link the page wrote needs no notice"


def test_bad_link_values_give_notices_not_tracebacks():
    at = linked(sweep="nope", sweep_metric="bogus", steps="abc")
    notes = shown_notices(at)
    assert "sweep='nope'" in notes and "no such question" in notes
    assert "sweep_metric='bogus'" in notes and "steps='abc'" in notes
    assert at.selectbox(key="sw_preset").value == "small-batch"
    assert at.selectbox(key="sw_metric").value == PRESETS["small-batch"].metric
    custom = linked(sweep="custom", steps="40")
    assert "sweep='custom'" in shown_notices(custom)
    assert custom.select_slider(key="s_steps").value == 40


def test_a_sweep_over_the_request_budget_says_what_it_does_instead():
    at = page()
    at.selectbox(key="sw_preset").set_value("custom")
    at.selectbox(key="sw_p1").set_value("width")
    at.selectbox(key="sw_p2").set_value("depth")
    at.slider(key="sw_seeds").set_value(1)
    at.selectbox(key="s_dataset").set_value("digits")
    at.select_slider(key="s_steps").set_value(1)  # the default ranges, one seed, one step: cheap
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    gen = at.session_state["sw_gen"]
    at.select_slider(key=f"sw_v1_width_{gen}").set_range(2, 64)
    at.select_slider(key=f"sw_v2_depth_{gen}").set_range(1, 5)
    at.slider(key="sw_seeds").set_value(5)
    at.select_slider(key="s_steps").set_value(300)
    at.run()  # 30 digits networks x 5 seeds: far more than one request
    assert not at.exception, [e.value for e in at.exception]
    said = " ".join(str(w.value) for w in at.warning)
    assert "Nothing is trained: 30 configurations × 5 seeds" in said.replace("\\", "")
    swept = "--param width=2,4,8,16,32,64 --param depth=1,2,3,4,5"
    assert command(at).startswith(f"python -m bnviz sweep {swept}")
    assert not at.get("plotly_chart")
    at.select_slider(key=f"sw_v1_width_{gen}").set_range(2, 4)
    at.select_slider(key=f"sw_v2_depth_{gen}").set_range(1, 1)
    at.select_slider(key="s_steps").set_value(1000)
    at.run()  # 2 configurations: a few seeds fit
    assert not at.exception, [e.value for e in at.exception]
    info = " ".join(str(i.value) for i in at.info).replace("\\", "")
    if "instead of 5" in info:
        assert "Each configuration is trained with" in info
    assert len(at.get("plotly_chart")) == 1

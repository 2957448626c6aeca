"""The six teaching views under Streamlit's AppTest: they render, controls act, and the
numbers they show are the core's (recomputed here from bnviz.train / bnviz.teach).

The reference runs come from :func:`trained`: ``bnviz.train.train`` of the test's own
settings, read from the run cache the pages train into when a page has trained exactly
those settings (tests/core/test_workers.py checks that a cached run is ``train``'s run),
else trained here. A page that trained other settings than the test's misses that entry
and is compared with a fresh ``train``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from threadpoolctl import threadpool_limits

from bnviz import Settings, bn, budget, teach, workers
from bnviz.data import n_train
from bnviz.train import Run

PAGES = Path(__file__).resolve().parents[2] / "bnviz" / "app" / "pages"
TIMEOUT = 600  # seconds: generous, the machine is shared; nothing here asserts on time


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    with threadpool_limits(1, user_api="blas"):  # as app.py does for the server
        yield


@pytest.fixture(scope="module")
def runs() -> Iterator[workers.Trainer]:
    trainer = workers.Trainer(workers=0)  # the pages' disk cache; trains in this process on a miss
    yield trainer
    trainer.shutdown()


@pytest.fixture
def trained(runs: workers.Trainer) -> Callable[[Settings], Run]:
    """``train(settings)`` by way of the run cache the pages use (see the module doc)."""
    return lambda settings: runs.submit(settings).result()


def page(name: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / name), default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def no_errors(at: AppTest) -> None:
    assert [e.value for e in at.exception] == []


def qp(at: AppTest, key: str) -> str:
    """A query parameter as the page left it (a list when set more than once)."""
    value = at.query_params[key]
    return value if isinstance(value, str) else value[-1]


def notices(at: AppTest) -> str:
    """Everything the page says about its URL: warnings and the plain-text notices under them."""
    return texts(at.warning) + " " + texts(at.text)


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


# ----------------------------------------------------------------------------- 1. glass box


def test_glass_box_shows_the_seed_numbers():
    at = page("teach_glass_box.py", z="1;3;8", gb_gamma="2", gb_beta="0.5", gb_eps="0.001")
    no_errors(at)
    m = metrics(at)
    z_tilde, cache = bn.forward(np.array([[1.0], [3.0], [8.0]]), np.array([2.0]), np.array([0.5]), 1e-3)
    assert m["m"] == "3"
    assert float(m["μ"]) == pytest.approx(float(cache.mu[0]), rel=1e-3)
    assert float(m["σ²"]) == pytest.approx(float(cache.var[0]), rel=1e-3)
    assert float(m["√(σ² + ε)"]) == pytest.approx(np.sqrt(26 / 3 + 1e-3), rel=1e-3)
    table = at.dataframe[1].value  # [0] is the editable input table
    np.testing.assert_allclose(table["z_norm"], cache.z_norm[:, 0], rtol=1e-12)
    np.testing.assert_allclose(table["z̃"], z_tilde[:, 0], rtol=1e-12)
    assert len(at.latex) >= 3
    assert qp(at, "z") == "1;3;8"


def test_glass_box_sliders_act_and_reach_the_url():
    at = page("teach_glass_box.py", z="1;3;8")
    at.slider(key="gb_gamma").set_value(-1.5).run()
    at.slider(key="gb_beta").set_value(2.0).run()
    no_errors(at)
    table = at.dataframe[1].value
    np.testing.assert_allclose(table["z̃"], -1.5 * table["z_norm"] + 2.0, rtol=1e-12)
    assert qp(at, "gb_gamma") == "-1.5" and qp(at, "gb_beta") == "2.0"


def test_glass_box_batch_of_one_and_zero_eps_explain_themselves():
    at = page("teach_glass_box.py", z="4;9")
    at.button[2].click().run()  # "Batch of one"
    no_errors(at)
    assert metrics(at)["m"] == "1" and metrics(at)["σ²"] == "0"
    assert "m = 1" in texts(at.warning)
    assert at.dataframe[1].value["z_norm"].tolist() == [0.0]
    at = page("teach_glass_box.py", z="2;2;2", gb_eps="0")
    no_errors(at)
    assert "σ² + ε = 0" in texts(at.warning)
    assert at.dataframe[1].value["z_norm"].tolist() == [0.0, 0.0, 0.0]


def test_glass_box_bad_url_values_give_messages_not_tracebacks():
    at = page("teach_glass_box.py", z="1;abc;3", gb_gamma="lots", gb_eps="-5")
    no_errors(at)
    warnings = notices(at)
    assert "abc" in warnings and "not a number" in warnings
    assert "gb_gamma" in warnings
    assert "clamped" in warnings
    assert metrics(at)["m"] == "2"
    assert at.slider(key="gb_gamma").value == 1.0


def test_glass_box_draws_values_from_the_network():
    at = page("teach_glass_box.py")
    at.number_input(key="gb_m").set_value(6).run()
    at.button[1].click().run()  # "From the network"
    no_errors(at)
    assert metrics(at)["m"] == "6"


# ----------------------------------------------------------------------------- 2. bias


def test_bias_view_shows_zero_gradient_and_no_change_with_bn(trained):
    at = page("teach_bias.py")
    no_errors(at)
    s = Settings()
    bn_run, plain_run = trained(s.replace(use_bn=True)), trained(s.replace(use_bn=False))
    ds = bn_run.dataset
    shown_bn, shown_plain = at.dataframe[0].value, at.dataframe[1].value
    expected_bn = teach.gradients(bn_run.net, ds.X_train, ds.y_train)
    expected_plain = teach.gradients(plain_run.net, ds.X_train, ds.y_train)
    np.testing.assert_allclose(shown_bn["max |dL/dW|"], expected_bn["max |dL/dW|"], rtol=1e-12)
    np.testing.assert_allclose(shown_plain["max |dL/db|"], expected_plain["max |dL/db|"], rtol=1e-12)
    assert (shown_bn["max |dL/db|"] < 1e-12).all()
    m = metrics(at)
    assert float(m["With BN: max |Δ output|"]) < 1e-10
    effect = teach.bias_shift_effect(plain_run.net, ds.X_train, ds.y_train, 0, [1.0]).iloc[0]
    assert float(m["Without BN: max |Δ output|"]) == pytest.approx(effect["max |Δ output|"], rel=1e-2)
    assert m["Without BN: training accuracy"] == f"{effect['accuracy']:.1%}"


def test_bias_shift_slider_acts():
    at = page("teach_bias.py", bias_shift="0")
    no_errors(at)
    assert metrics(at)["Without BN: max |Δ output|"] == "0"
    at.slider(key="bias_shift").set_value(-2.5).run()
    no_errors(at)
    assert float(metrics(at)["Without BN: max |Δ output|"]) > 0.1
    assert qp(at, "bias_shift") == "-2.5"
    at.slider(key="bias_layer").set_value(2).run()
    no_errors(at)
    assert qp(at, "bias_layer") == "2"


# ----------------------------------------------------------------------------- 3. covariate shift


def test_covariate_shift_view_reports_the_runs_numbers(trained):
    at = page("teach_covariate_shift.py", cov_steps="200", cov_unit="7")
    no_errors(at)
    bn_run, plain_run = (
        trained(teach.covariate_settings(True, 200)),
        trained(teach.covariate_settings(False, 200)),
    )
    m = metrics(at)
    assert m["Final test accuracy, with BN"] == f"{bn_run.curves['test_acc'].iloc[-1]:.1%}"
    assert m["Final test accuracy, without BN"] == f"{plain_run.curves['test_acc'].iloc[-1]:.1%}"
    drift_bn = teach.percentile_drift(bn_run)["p50_range"].iloc[6]
    drift_plain = teach.percentile_drift(plain_run)["p50_range"].iloc[6]
    assert float(m["Median moved (unit 7), with BN"]) == pytest.approx(drift_bn, rel=6e-3)
    assert float(m["Median moved (unit 7), without BN"]) == pytest.approx(drift_plain, rel=6e-3)
    assert "Paper" in texts(at.markdown)
    # controls act: another unit, and z before BN for the BN network
    at.slider(key="cov_unit").set_value(1).run()
    at.toggle(key="cov_raw").set_value(True).run()
    no_errors(at)
    raw = teach.percentile_drift(bn_run, quantity="z")["p50_range"].iloc[0]
    assert float(metrics(at)["Median moved (unit 1), with BN"]) == pytest.approx(raw, rel=6e-3)
    assert qp(at, "cov_unit") == "1"


def test_covariate_shift_bad_steps_in_url_fall_back():
    at = page("teach_covariate_shift.py", cov_steps="123", cov_unit="500")
    no_errors(at)
    w = notices(at)
    assert "cov_steps" in w and "clamped" in w
    assert at.select_slider(key="cov_steps").value == 400
    assert at.slider(key="cov_unit").value == 100


# ----------------------------------------------------------------------------- 4. noise


def test_noise_view_shows_the_measured_spread_and_the_gap(trained):
    at = page("teach_noise.py")
    no_errors(at)
    run = trained(Settings())
    X = run.dataset.X_train
    shown = at.dataframe[0].value
    sizes = shown["m"].tolist()
    assert sizes[0] == 1 and sizes[-1] == len(X)
    expected = teach.batch_stat_spread(run.net, X, sizes, layer=0, draws=200)
    np.testing.assert_allclose(shown["sd(μ_B)/σ"], expected["sd_mu"], rtol=1e-10)
    np.testing.assert_allclose(shown["1/√m"], 1 / np.sqrt(sizes), rtol=1e-12)
    md = texts(at.markdown)
    gap_run = trained(Settings(batch_size=2))
    last = gap_run.curves.iloc[-1]
    assert f"{last['train_acc'] - last['test_acc']:+.1%}** at m = 2" in md
    assert len([c for c in at.get("plotly_chart")]) == 3


def test_noise_unit_slider_acts_and_follows_the_width():
    at = page("teach_noise.py")
    at.slider(key="noise_unit").set_value(12).run()
    no_errors(at)
    assert at.slider(key="noise_unit").value == 12
    at.select_slider(key="s_width").set_value(8).run()  # fewer units than the chosen one
    no_errors(at)
    assert at.slider(key="noise_unit").value == 8


# ----------------------------------------------------------------------------- 5. test time


def test_test_time_view_shows_each_estimates_accuracy(trained):
    at = page("teach_test_time.py", tt_example="3")
    no_errors(at)
    run = trained(Settings())
    accs = teach.test_time_accuracies(run)
    m = metrics(at)
    for label, acc in accs.items():
        assert m[label] == f"{acc:.1%}"
    table = at.dataframe[0].value
    assert len(table) == 9
    row = table[(table["m"] == 32) & (table["decay"] == 0.999)].iloc[0]
    other = teach.test_time_accuracies(trained(Settings(batch_size=32, decay=0.999)))
    assert row["bias-corrected EWA"] == pytest.approx(other["bias-corrected EWA"])
    assert row["batch of one"] == pytest.approx(other["batch of one"])
    at.slider(key="tt_example").set_value(10).run()
    no_errors(at)
    assert qp(at, "tt_example") == "10"


# ----------------------------------------------------------------------------- 6. conventions


def _pytorch_running_var(batch_var, m, momentum):
    rv = np.ones(batch_var.shape[1])
    for v in batch_var:
        rv = (1 - momentum) * rv + momentum * v * m / (m - 1)
    return rv


def test_conventions_view_matches_the_documented_formulas(trained):
    at = page("teach_conventions.py", cv_m="2", cv_decay="0.9")
    no_errors(at)
    params = at.dataframe[0].value
    assert params.loc[1, "parameter"] == "momentum = 0.1"
    assert params.loc[2, "parameter"] == "momentum = 0.9"
    check = at.dataframe[1].value
    assert (check["max |diff|, all units"].iloc[:2] < 1e-12).all()
    run = trained(Settings(batch_size=2, decay=0.9, steps=300))
    expected = _pytorch_running_var(run.layers[0].batch_var.astype(float), 2, 0.1)
    assert check.loc[0, "σ² unit 1: bnviz"] == pytest.approx(expected[0], rel=1e-12)
    assert check.loc[2, "σ² unit 1: reference"] == pytest.approx(float(run.running[0][1][0]))
    at.select_slider(key="cv_decay").set_value(0.99).run()
    at.slider(key="cv_unit").set_value(3).run()
    no_errors(at)
    assert at.dataframe[0].value.loc[1, "parameter"] == "momentum = 0.01"
    assert "σ² unit 3: bnviz" in at.dataframe[1].value.columns
    assert qp(at, "cv_decay") == "0.99"


# ----------------------------------------------------------------------------- 1. glass box: limits


def test_glass_box_says_it_kept_16_of_1000_url_values():
    at = page("teach_glass_box.py", z=";".join(str(i) for i in range(1000)))
    no_errors(at)
    assert "kept the first 16 of 1000 values" in notices(at)
    assert metrics(at)["m"] == "16"
    assert qp(at, "z") == ";".join(str(i) for i in range(16))


def test_glass_box_explains_var_underflow_not_equal_values():
    at = page("teach_glass_box.py", z="0;1e-320;5e-324")
    no_errors(at)
    warnings = texts(at.warning)
    assert "All values are equal" not in warnings
    assert "underflows to 0 in float64" in warnings
    sigma2 = next(m for m in at.metric if m.label == "σ²")
    assert sigma2.value == "0" and "underflows" in str(sigma2.proto.delta)


# ----------------------------------------------------------------------------- one budget per request


def infos(at: AppTest) -> str:
    return texts(at.info)


@pytest.mark.parametrize(
    ("name", "query", "grid_reduced"),
    [
        ("teach_noise.py", dict(dataset="digits", depth="8", width="128", steps="5000", batch_size="1198"),
         None),
        ("teach_noise.py", dict(width="128", depth="2", batch_size="2", steps="5000"), True),
        ("teach_test_time.py", dict(dataset="digits", width="128", depth="2", batch_size="2", steps="5000"),
         True),
    ],
)
def test_links_over_the_budget_say_what_is_done_instead(name, query, grid_reduced):
    at = page(name, **query)
    no_errors(at)
    assert "more compute than one run may use here; reduced to" in notices(at)  # the link's run
    shown = {k: qp(at, k) for k in Settings().to_query()}
    settings, _ = Settings.from_query(shown)  # what the page trained, as its URL now says
    assert budget.run_seconds(settings) <= budget.RUN_SECONDS
    N = n_train(settings.dataset)
    if name == "teach_noise.py":
        gap_sizes = [m for m in (2, 4, 8, 16, 32, 64, 128) if m <= N]
        plan = budget.noise(settings, teach.spread_batch_sizes(N), gap_sizes)
    else:
        plan = budget.test_time(settings, (2, 8, 32), (0.9, 0.99, 0.999))
    assert plan.within
    if grid_reduced is not None:
        assert plan.reduced == grid_reduced
    if plan.reduced:  # the page's grid: fewer steps (or points), and it says so
        assert "instead of" in infos(at) and "a request may use about 3 s" in infos(at)
    else:
        assert "a request may use" not in infos(at)

"""The training loop and its Run record."""

import numpy as np
import pytest

import bnviz.train as train_module
from bnviz import Settings, bn, nn
from bnviz.train import GRID, HIST_BINS, HIST_SAMPLE, _summaries, train

# 2 x 16 ReLU units: the network on which the cases that name it were measured.
RELU_2X16: dict = {"depth": 2, "width": 16, "activation": "relu"}


@pytest.fixture(scope="module")
def default_run():
    return train(Settings())


def test_same_settings_give_a_bit_identical_run(default_run):
    again = train(Settings())
    assert default_run.curves.equals(again.curves)
    np.testing.assert_array_equal(default_run.net.theta, again.net.theta)
    for a, b in zip(default_run.layers, again.layers):
        np.testing.assert_array_equal(a.batch_var, b.batch_var)
        np.testing.assert_array_equal(a.hist_counts, b.hist_counts)
    np.testing.assert_array_equal(default_run.boundary, again.boundary)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_default_network_learns_two_moons(seed):
    run = default_run_for(seed)
    assert run.diverged is None
    assert run.curves["test_acc"].iloc[-1] > 0.95


def default_run_for(seed):
    return train(Settings(seed=seed))


@pytest.mark.parametrize("use_bn", [True, False])
def test_with_and_without_bn_the_network_trains(use_bn):
    run = train(Settings(use_bn=use_bn, dataset="circles", steps=300, **RELU_2X16))
    first, last = run.curves.iloc[0], run.curves.iloc[-1]
    assert last["loss"] < 0.5 * first["loss"]
    assert last["test_acc"] > 0.9


def test_running_estimates_are_the_ewa_of_the_recorded_batch_statistics(default_run):
    run, decay = default_run, default_run.settings.decay
    assert list(run.stat_steps) == list(range(1, 501))  # every step recorded
    for rec in run.layers:
        v_mu, v_var = np.zeros(rec.batch_mu.shape[1]), np.zeros(rec.batch_mu.shape[1])
        for t in range(len(run.stat_steps)):
            v_mu = bn.ewa(v_mu, rec.batch_mu[t].astype(float), decay)
            v_var = bn.ewa(v_var, rec.batch_var[t].astype(float), decay)
        np.testing.assert_allclose(rec.running_mu[-1], v_mu, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(rec.running_var[-1], v_var, rtol=1e-4, atol=1e-5)
    mu_c, _ = run.corrected(0)
    np.testing.assert_allclose(mu_c[0], run.layers[0].batch_mu[0], rtol=1e-6)  # exact after 1 step


def test_population_statistics_are_the_whole_training_set_through_the_final_weights(default_run):
    run = default_run
    _, taps = nn.forward(run.net, run.dataset.X_train)
    for (mu, var), tap in zip(run.population, taps):
        np.testing.assert_allclose(mu, tap.z.mean(axis=0), rtol=1e-10, atol=1e-12)  # mu is ~0 here
        np.testing.assert_allclose(var, tap.z.var(axis=0), rtol=1e-10)  # 1/m
    np.testing.assert_allclose(run.layers[-1].pop_var[-1], run.population[-1][1], rtol=1e-6)


def test_final_accuracies_match_an_independent_evaluation(default_run):
    run, ds = default_run, default_run.dataset
    last = run.curves.iloc[-1]
    for which in nn.STATS:
        acc = (nn.predict(run.net, ds.X_test, run.inference_stats(which)) == ds.y_test).mean()
        assert last[f"test_acc_{which}"] == pytest.approx(acc)


def test_histograms_count_every_example_once(default_run):
    n = min(len(default_run.dataset.X_train), HIST_SAMPLE)
    for rec in default_run.layers:
        per_unit = rec.hist_counts[:, :, :-1].sum(axis=-1)
        assert np.all(per_unit == n)
        assert np.all(rec.hist_counts[:, :, -1].sum(axis=-1) == n * rec.batch_mu.shape[1])
        assert rec.hist_counts.shape[-1] == HIST_BINS
        edges = rec.hist_edges(-1, 1, 0)
        assert edges[0] == rec.hist_lo[-1, 1, 0] and edges[-1] == pytest.approx(rec.hist_hi[-1, 1, 0])


def test_histograms_and_percentiles_match_numpy_at_the_last_checkpoint(default_run):
    run = default_run
    _, taps = nn.forward(run.net, run.dataset.X_train)
    rec, tap = run.layers[0], taps[0]
    for q, name in enumerate(run.quantities):
        values = getattr(tap, name)
        np.testing.assert_allclose(
            rec.percentiles[-1, q], np.percentile(values, [15, 50, 85], axis=0), rtol=1e-5, atol=1e-6
        )
        for unit in (0, 3):
            counts, _ = np.histogram(values[:, unit], bins=rec.hist_edges(-1, q, unit))
            diff = np.abs(counts - rec.hist_counts[-1, q, unit]).sum()
            assert diff <= 2  # float32 edges may move a value sitting on an edge by one bin


@pytest.mark.parametrize(
    "changes",
    [
        {"lr": 10.0, "use_bn": False, "activation": "linear"},  # the loss reaches NaN
        {"lr": 10.0, "use_bn": False, "optimizer": "sgd", **RELU_2X16},  # explodes, then ReLU units die
        {"lr": 10.0, **RELU_2X16},  # BN does not save a learning rate this large
    ],
)
def test_a_diverging_learning_rate_stops_with_a_message_and_keeps_the_steps_before(changes):
    run = train(Settings(**changes))
    assert run.diverged is not None and "Lower the learning rate" in run.diverged
    assert ("ε" in run.diverged) == run.settings.use_bn, "ε is a remedy only with BN on"
    assert 0 < run.steps_done < 500
    assert np.all(np.isfinite(run.loss))
    assert np.all(np.isfinite(run.curves["loss"].iloc[1:]))


@pytest.mark.parametrize("eps", [1e-5, 0.0])
def test_batch_size_one_trains_without_nan_but_bn_sees_only_zeros(eps):
    run = train(Settings(batch_size=1, eps=eps, steps=50))
    assert run.diverged is None
    assert np.all(run.layers[0].batch_var == 0)
    assert np.all(np.isfinite(run.loss))


def test_freezing_gamma_and_beta_keeps_them_at_their_initial_values():
    run = train(Settings(freeze_affine=True, gamma_init=0.5, beta_init=0.25, steps=50))
    assert np.all(run.net.gamma[0] == 0.5) and np.all(run.net.beta[1] == 0.25)
    moving = train(Settings(gamma_init=0.5, beta_init=0.25, steps=50))
    assert not np.all(moving.net.gamma[0] == 0.5)


def test_float32_training_stays_float32_and_learns():
    run = train(Settings(), dtype=np.float32)
    assert run.net.theta.dtype == np.float32
    assert run.curves["test_acc"].iloc[-1] > 0.95


def test_a_run_is_small_enough_to_keep_hundreds(default_run):
    # 500 kB per hidden layer (its records grow with the depth): 1 MB for 2 x 16 units
    assert default_run.nbytes() < 500_000 * default_run.settings.depth


def test_the_curves_are_a_dataframe_of_the_recorded_columns_and_pickles_leave_it_out(default_run):
    import pickle

    import pandas as pd

    c = default_run.curves
    assert c is default_run.curves  # built once
    assert list(c.columns) == list(default_run.curve_columns) == [
        "step", "loss", "train_acc", "test_acc", "test_acc_running", "test_acc_corrected",
        "test_acc_population", "test_acc_batch",
    ]
    assert c["step"].dtype == np.int64 and all(c[k].dtype == np.float64 for k in list(c.columns)[1:])
    assert isinstance(c.index, pd.RangeIndex) and len(c) == len(default_run.ckpt_steps)
    np.testing.assert_array_equal(c["step"], default_run.ckpt_steps)
    blob = pickle.dumps(default_run, protocol=pickle.HIGHEST_PROTOCOL)
    assert b"pandas" not in blob  # what a worker process sends needs no pandas to read
    assert pickle.loads(blob).curves.equals(c)


def test_one_summaries_call_gives_each_group_what_a_call_of_its_own_gives():
    rng = np.random.default_rng(0)
    values = rng.standard_normal((5, 7, 300)) * rng.uniform(0.1, 4, (5, 7, 1))
    values[1] = 2.5  # a group of constant units: the flat-range bins
    values[3, 0] = 0.0
    counts, lo, hi, pct = _summaries(values)
    assert counts.shape == (5, 8, HIST_BINS) and lo.shape == hi.shape == (5, 8) and pct.shape == (5, 3, 7)
    for g in range(5):
        alone = _summaries(values[g : g + 1])
        for a, b in zip(alone, (counts, lo, hi, pct)):
            np.testing.assert_array_equal(a[0], b[g])
        np.testing.assert_allclose(pct[g], np.percentile(values[g], [15, 50, 85], axis=1), rtol=1e-12)
        assert np.all(counts[g, :-1].sum(axis=-1) == 300) and counts[g, -1].sum() == 300 * 7


@pytest.mark.parametrize("changes", [{}, {"bias_correction": True, "steps": 60}, {"normalization": "layer"},
                                     {"use_bn": False}, {"lr": 10.0, **RELU_2X16}])
def test_the_last_boundary_is_the_final_network_over_the_grid(changes):
    run = train(Settings(**changes))
    assert run.boundary is not None and run.boundary_extent is not None
    x0, x1, y0, y1 = run.boundary_extent
    gx, gy = np.meshgrid(np.linspace(x0, x1, GRID), np.linspace(y0, y1, GRID))
    stats = None
    if run.settings.running_estimates:
        stats = run.inference_stats("corrected" if run.settings.bias_correction else "running")
    if run.diverged is None:  # the last checkpoint holds the final weights
        logits, _ = nn.forward(run.net, np.c_[gx.ravel(), gy.ravel()], stats)
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        expected = np.round(np.nan_to_num(p[:, 1] / p.sum(axis=1)) * 255).reshape(GRID, GRID)
        np.testing.assert_array_equal(run.boundary[-1], expected)
    assert len(run.boundary) == len(run.ckpt_steps)
    assert len(np.unique(run.boundary[0])) > 1 or run.diverged is not None


def test_the_boundaries_do_not_depend_on_how_many_checkpoints_share_a_pass(monkeypatch, default_run):
    monkeypatch.setattr(train_module, "BOUNDARY_BYTES", 1)  # one checkpoint per pass
    np.testing.assert_array_equal(train(Settings()).boundary, default_run.boundary)

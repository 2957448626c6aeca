"""bnviz.teach against the core's numbers and against independent hand computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bnviz import Settings, nn, teach
from bnviz.charts import teach as charts
from bnviz.train import train


@pytest.fixture(scope="module")
def bn_run():
    return train(Settings(steps=60, batch_size=16))


@pytest.fixture(scope="module")
def plain_run():
    return train(Settings(steps=60, batch_size=16, use_bn=False))


# ----------------------------------------------------------------------------- 1. glass box


def test_glass_box_matches_the_seed_by_hand():
    gb = teach.glass_box([1.0, 3.0, 8.0], gamma=2.0, beta=0.5, eps=1e-3)
    assert gb.m == 3
    assert gb.mu == pytest.approx(4.0)
    assert gb.var == pytest.approx(26 / 3)  # (9 + 1 + 16) / 3: 1/m, not 1/(m-1)
    assert gb.denom == pytest.approx(math.sqrt(26 / 3 + 1e-3))  # eps inside the root
    expected = np.array([-3.0, -1.0, 4.0]) / math.sqrt(26 / 3 + 1e-3)
    np.testing.assert_allclose(gb.z_norm, expected, rtol=1e-13)
    np.testing.assert_allclose(gb.z_tilde, 2.0 * expected + 0.5, rtol=1e-13)
    table = gb.table()
    assert list(table.columns) == ["i", "z", "z − μ", "(z − μ)²", "z_norm", "z̃"]
    np.testing.assert_allclose(table["(z − μ)²"], [9.0, 1.0, 16.0])
    np.testing.assert_allclose(table["z̃"], gb.z_tilde)
    assert gb.notes == ()


def test_glass_box_batch_of_one_collapses_to_beta():
    gb = teach.glass_box([7.5], gamma=3.0, beta=-1.25, eps=1e-5)
    assert gb.mu == 7.5 and gb.var == 0.0
    assert gb.z_norm.tolist() == [0.0]
    assert gb.z_tilde.tolist() == [-1.25]
    assert any("m = 1" in n for n in gb.notes)


def test_glass_box_constant_batch_with_zero_eps_is_finite_and_explained():
    gb = teach.glass_box([2.0, 2.0, 2.0], gamma=1.0, beta=0.3, eps=0.0)
    assert np.all(np.isfinite(gb.z_norm)) and np.all(gb.z_norm == 0)
    np.testing.assert_array_equal(gb.z_tilde, [0.3, 0.3, 0.3])
    assert any("σ² + ε = 0" in n for n in gb.notes)
    # with eps > 0 the same batch is explained differently
    assert any("ε keeps" in n for n in teach.glass_box([2.0, 2.0], eps=1e-5).notes)


def test_glass_box_warns_when_eps_is_not_small():
    gb = teach.glass_box([0.0, 0.02], eps=1e-3)  # var = 1e-4
    assert any("not small" in n for n in gb.notes)
    assert np.std(gb.z_norm) == pytest.approx(math.sqrt(1e-4 / (1e-4 + 1e-3)))


def test_glass_box_rejects_empty_batch_and_negative_eps():
    with pytest.raises(ValueError, match="empty"):
        teach.glass_box([])
    with pytest.raises(ValueError, match="ε"):
        teach.glass_box([1.0, 2.0], eps=-1.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=16),
    st.floats(-3, 3),
    st.floats(-3, 3),
)
def test_glass_box_output_has_mean_beta(values, gamma, beta):
    gb = teach.glass_box(values, gamma, beta, eps=1e-5)
    assert np.mean(gb.z_norm) == pytest.approx(0.0, abs=1e-9)
    assert np.mean(gb.z_tilde) == pytest.approx(beta, abs=1e-9 * (1 + abs(gamma)))
    assert np.var(gb.z_norm) == pytest.approx(gb.var / (gb.var + 1e-5), rel=1e-9, abs=1e-12)


def test_parse_values_skips_blanks_and_names_bad_rows():
    values, problems = teach.parse_values(
        ["1", "abc", None, "", " −2 ", "2,5", "inf", float("nan"), 3, "1e7"]
    )
    np.testing.assert_array_equal(values, [1.0, -2.0, 2.5, 3.0])
    assert problems == [
        "row 2: 'abc' is not a number",
        "row 7: 'inf' is not a finite number",
        "row 10: '1e7' is too large (keep |z| ≤ 1e+06)",
    ]


def test_parse_text_reads_a_url_value():
    values, problems = teach.parse_text("1;3 ; 8;x")
    np.testing.assert_array_equal(values, [1.0, 3.0, 8.0])
    assert problems == ["row 4: 'x' is not a number"]


def test_draw_from_network_is_the_first_layer_z(bn_run):
    X = bn_run.dataset.X_train
    drawn = teach.draw_from_network(bn_run, len(X), layer=0, unit=3, seed=1)
    direct = X @ bn_run.net.W[0][:, 3] + bn_run.net.b[0][3]  # z = W a + b for every example
    np.testing.assert_allclose(np.sort(drawn), np.sort(direct), rtol=1e-12, atol=1e-12)
    assert len(teach.draw_from_network(bn_run, 5)) == 5
    with pytest.raises(ValueError):
        teach.draw_from_network(bn_run, 0)


# ----------------------------------------------------------------------------- 2. bias


def test_bias_gradient_is_zero_with_bn_and_not_without(bn_run, plain_run):
    ds = bn_run.dataset
    g_bn = teach.gradients(bn_run.net, ds.X_train, ds.y_train)
    g_plain = teach.gradients(plain_run.net, ds.X_train, ds.y_train)
    assert (g_bn["max |dL/db|"] < 1e-12 * g_bn["max |dL/dW|"] + 1e-15).all()
    assert (g_plain["max |dL/db|"] > 1e-4).all()
    assert "max |dL/dγ|" in g_bn.columns and "max |dL/dγ|" not in g_plain.columns


def test_gradients_match_finite_differences_of_the_loss_in_b(plain_run):
    """Without BN, dL/db is real: check one entry against a central difference."""
    ds = plain_run.dataset
    X, y = ds.X_train[:64], ds.y_train[:64]
    Y = np.eye(2)[y]

    def loss(net):
        return float(nn.softmax_cross_entropy(nn.forward(net, X)[0], Y)[0])

    h = 1e-6
    up, down = teach.clone(plain_run.net), teach.clone(plain_run.net)
    up.b[0][2] += h
    down.b[0][2] -= h
    numeric = (loss(up) - loss(down)) / (2 * h)
    work = teach.clone(plain_run.net)
    logits, taps = nn.forward(work, X)
    nn.backward(work, logits, taps, Y)
    assert work.db[0][2] == pytest.approx(numeric, rel=1e-5, abs=1e-9)
    # and teach.gradients reports the largest of those entries
    g = teach.gradients(plain_run.net, X, y)
    assert g["max |dL/db|"].iloc[0] == pytest.approx(np.abs(work.db[0]).max())


def test_shifting_b_changes_nothing_with_bn(bn_run, plain_run):
    ds = bn_run.dataset
    shifts = [-3.0, 0.0, 0.5, 3.0]
    e_bn = teach.bias_shift_effect(bn_run.net, ds.X_train, ds.y_train, 0, shifts)
    e_plain = teach.bias_shift_effect(plain_run.net, ds.X_train, ds.y_train, 0, shifts)
    assert (e_bn["max |Δ output|"] < 1e-10).all()
    assert np.ptp(e_bn["loss"]) < 1e-10
    assert e_plain.loc[e_plain["shift"] == 3.0, "max |Δ output|"].item() > 0.1
    assert e_plain.loc[e_plain["shift"] == 0.0, "max |Δ output|"].item() == 0.0


def test_shift_bias_and_clone_leave_the_original_alone(bn_run):
    before = bn_run.net.theta.copy()
    shifted = teach.shift_bias(bn_run.net, 1, 2.0)
    np.testing.assert_array_equal(bn_run.net.theta, before)
    np.testing.assert_array_equal(shifted.b[1], bn_run.net.b[1] + 2.0)
    np.testing.assert_array_equal(shifted.W[0], bn_run.net.W[0])


# ----------------------------------------------------------------------------- 3. covariate shift


def test_covariate_settings_are_the_papers_shape():
    s = teach.covariate_settings(True, 100)
    assert (s.dataset, s.depth, s.width, s.activation, s.batch_size) == ("digits", 3, 100, "sigmoid", 60)
    assert s.use_bn and not teach.covariate_settings(False).use_bn
    assert teach.covariate_settings(False).lr == s.lr


def test_percentile_track_is_the_sigmoid_input_recomputed(bn_run, plain_run):
    """The last checkpoint's percentiles equal np.percentile of a fresh forward pass."""
    for run, attr in ((bn_run, "z_tilde"), (plain_run, "z")):
        assert teach.sigmoid_input(run) == attr
        track = teach.percentile_track(run, unit=2)
        assert list(track.columns) == ["step", "p15", "p50", "p85"]
        np.testing.assert_array_equal(track["step"], run.ckpt_steps)
        _, taps = nn.forward(run.net, run.dataset.X_train)  # training mode: the whole set as one batch
        values = getattr(taps[-1], attr)[:, 2]
        expected = np.percentile(values, [15, 50, 85])
        np.testing.assert_allclose(track.iloc[-1][["p15", "p50", "p85"]].to_numpy(float), expected, rtol=1e-5)


def test_percentile_drift_is_max_minus_min(bn_run):
    drift = teach.percentile_drift(bn_run, quantity="z")
    p = bn_run.layers[-1].percentiles[:, 0].astype(float)  # quantity "z"
    unit = 5
    assert drift.loc[unit, "p50_range"] == pytest.approx(p[:, 1, unit].max() - p[:, 1, unit].min())
    width = p[:, 2, unit] - p[:, 0, unit]
    assert drift.loc[unit, "spread_range"] == pytest.approx(width.max() - width.min())
    assert len(drift) == bn_run.settings.width


def test_steps_to_accuracy():
    curves = pd.DataFrame({"step": [0, 10, 20, 30], "test_acc": [0.1, 0.85, 0.92, 0.95]})
    assert teach.steps_to_accuracy(curves, 0.9) == 20
    assert teach.steps_to_accuracy(curves, 0.99) is None


# ----------------------------------------------------------------------------- 4. noise


def test_batch_stat_spread_follows_the_one_over_root_m_law(bn_run):
    X = bn_run.dataset.X_train
    N = len(X)
    spread = teach.batch_stat_spread(bn_run.net, X, [1, 2, 8, 32, N], layer=0, draws=400, seed=3)
    row = spread.set_index("m")
    for m in (2, 8, 32):
        assert row.loc[m, "law_mu"] == pytest.approx(1 / math.sqrt(m))
        assert row.loc[m, "sd_mu"] == pytest.approx(row.loc[m, "law_mu_fpc"], rel=0.15)
        # E[biased sigma²_B] = (m-1)/m * N/(N-1) * sigma² when drawing without replacement
        assert row.loc[m, "mean_var_ratio"] == pytest.approx((m - 1) / m * N / (N - 1), rel=0.08)
    assert row.loc[1, "sd_var"] == 0.0 and row.loc[1, "mean_var_ratio"] == 0.0
    assert row.loc[N, "sd_mu"] < 1e-12 and row.loc[N, "sd_var"] < 1e-12  # every batch is the whole set
    assert row.loc[N, "mean_var_ratio"] == pytest.approx(1.0)


def test_batch_stat_spread_population_matches_the_run(bn_run):
    pop = teach.population_stats(bn_run.net, bn_run.dataset.X_train)
    for (mu, var), (rmu, rvar) in zip(pop, bn_run.population):
        np.testing.assert_allclose(mu, rmu, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(var, rvar, rtol=1e-12)


def test_batch_stat_spread_needs_bn_and_valid_sizes(bn_run, plain_run):
    with pytest.raises(ValueError, match="BN"):
        teach.batch_stat_spread(plain_run.net, plain_run.dataset.X_train, [2])
    with pytest.raises(ValueError, match="batch size"):
        teach.batch_stat_spread(bn_run.net, bn_run.dataset.X_train, [0])


def test_train_test_gap_reads_the_last_checkpoint(bn_run, plain_run):
    gap = teach.train_test_gap([bn_run, plain_run])
    for row, run in zip(gap.itertuples(), (bn_run, plain_run)):
        last = run.curves.iloc[-1]
        assert row.gap == pytest.approx(last["train_acc"] - last["test_acc"])
        assert row.m == 16 and not row.diverged


# ----------------------------------------------------------------------------- 5. test time


def test_a_batch_of_one_gives_every_example_the_same_output(bn_run):
    X = bn_run.dataset.X_test
    logits = teach.one_at_a_time(bn_run.net, X)
    assert logits.shape == (len(X), 2)
    np.testing.assert_allclose(logits, np.broadcast_to(logits[0], logits.shape), atol=1e-12)
    # the same as a loop that sends each example alone
    for i in (0, 7, 50):
        alone, taps = nn.forward(bn_run.net, X[i : i + 1])
        np.testing.assert_allclose(logits[i], alone[0], rtol=1e-12)
        assert np.all(taps[0].z_norm == 0)


def test_estimated_statistics_treat_examples_independently(bn_run):
    X = bn_run.dataset.X_test
    for choice in ("running", "corrected", "population"):
        all_at_once = teach.logits_with(bn_run, X, choice)
        one = teach.logits_with(bn_run, X[3:4], choice)
        np.testing.assert_allclose(all_at_once[3], one[0], rtol=1e-12)
    # corrected = running / (1 - decay^t), written out by hand
    t, d = bn_run.steps_done, bn_run.settings.decay
    mu, var = bn_run.running[0]
    z = X @ bn_run.net.W[0] + bn_run.net.b[0]
    c = 1 - d**t
    z_norm = (z - mu / c) / np.sqrt(var / c + bn_run.settings.eps)
    _, taps = nn.forward(bn_run.net, X, bn_run.inference_stats("corrected"))
    np.testing.assert_allclose(taps[0].z_norm, z_norm, rtol=1e-10)


def test_test_time_accuracies(bn_run):
    accs = teach.test_time_accuracies(bn_run)
    ds = bn_run.dataset
    pred = teach.one_at_a_time(bn_run.net, ds.X_test).argmax(axis=1)
    assert accs["batch of one"] == pytest.approx((pred == ds.y_test).mean())
    for label, which in (("running EWA", "running"), ("population", "population")):
        expected = (nn.predict(bn_run.net, ds.X_test, bn_run.inference_stats(which)) == ds.y_test).mean()
        assert accs[label] == pytest.approx(expected)
    # the run's own last checkpoint measured the same running-statistics accuracy
    assert accs["running EWA"] == pytest.approx(bn_run.curves["test_acc_running"].iloc[-1])
    assert accs["running EWA"] > accs["batch of one"]


def test_batched_accuracy_with_the_whole_set_is_one_training_mode_batch(bn_run):
    ds = bn_run.dataset
    whole = teach.batched_accuracy(bn_run.net, ds.X_test, ds.y_test, len(ds.X_test))
    assert whole == pytest.approx((nn.predict(bn_run.net, ds.X_test, None) == ds.y_test).mean())
    with pytest.raises(ValueError):
        teach.batched_accuracy(bn_run.net, ds.X_test[:3], ds.y_test[:3], 5)


def test_test_time_table_has_a_row_per_run(bn_run):
    table = teach.test_time_table([bn_run, bn_run])
    assert len(table) == 2 and {"m", "decay", "running EWA", "batches of m"} <= set(table)


# ----------------------------------------------------------------------------- 6. conventions


def test_momentum_conversions():
    assert teach.momentum("pytorch", 0.9) == pytest.approx(0.1)
    assert teach.momentum("keras", 0.99) == 0.99
    for conv in ("pytorch", "keras", "seed"):
        assert teach.decay_from(conv, teach.momentum(conv, 0.95)) == pytest.approx(0.95)
    with pytest.raises(ValueError):
        teach.momentum("caffe", 0.9)


def test_running_estimates_two_steps_by_hand():
    mu_b, var_b = np.array([[2.0], [4.0]]), np.array([[1.0], [3.0]])
    mu, var = teach.running_estimates(mu_b, var_b, 2, 0.9, "seed")
    np.testing.assert_allclose(mu[:, 0], [0.2, 0.58])  # 0.1*2; 0.9*0.2 + 0.1*4
    np.testing.assert_allclose(var[:, 0], [0.1, 0.39])
    mu, var = teach.running_estimates(mu_b, var_b, 2, 0.9, "seed", bias_correction=True)
    np.testing.assert_allclose(mu[:, 0], [2.0, 0.58 / 0.19])
    mu, var = teach.running_estimates(mu_b, var_b, 2, 0.9, "pytorch")  # fed 2*var: 2, 6; starts at 1
    np.testing.assert_allclose(var[:, 0], [0.9 + 0.2, 0.9 * 1.1 + 0.6])
    np.testing.assert_allclose(mu[:, 0], [0.2, 0.58])
    mu, var = teach.running_estimates(mu_b, var_b, 2, 0.9, "keras")  # biased var, starts at 1
    np.testing.assert_allclose(var[:, 0], [1.0, 1.2])


def _pytorch_documented(batches, momentum):
    """torch.nn.BatchNorm1d: running = (1 - momentum) * running + momentum * observed,
    running_var observed unbiased, running_mean = 0 and running_var = 1 at the start."""
    rm, rv = 0.0, 1.0
    for z in batches:
        rm = (1 - momentum) * rm + momentum * z.mean()
        rv = (1 - momentum) * rv + momentum * z.var(ddof=1)
    return rm, rv


def _keras_documented(batches, momentum):
    """keras BatchNormalization: moving = moving * momentum + batch * (1 - momentum), biased var."""
    mm, mv = 0.0, 1.0
    for z in batches:
        mm = mm * momentum + z.mean() * (1 - momentum)
        mv = mv * momentum + z.var() * (1 - momentum)
    return mm, mv


@pytest.mark.parametrize("m", [2, 5, 32])
@pytest.mark.parametrize("decay", [0.9, 0.99])
def test_conventions_reproduce_the_frameworks_documented_updates(m, decay):
    rng = np.random.default_rng(m)
    batches = [rng.normal(3.0, 2.0, m) for _ in range(40)]
    mu_b = np.array([[b.mean()] for b in batches])
    var_b = np.array([[b.var()] for b in batches])  # the seed's 1/m variance, as bnviz records it
    mu, var = teach.running_estimates(mu_b, var_b, m, decay, "pytorch")
    assert (mu[-1, 0], var[-1, 0]) == pytest.approx(_pytorch_documented(batches, 1 - decay), rel=1e-12)
    mu, var = teach.running_estimates(mu_b, var_b, m, decay, "keras")
    assert (mu[-1, 0], var[-1, 0]) == pytest.approx(_keras_documented(batches, decay), rel=1e-12)
    for conv in ("pytorch", "keras"):
        ref = teach.framework_reference(conv, mu_b, var_b, m, teach.momentum(conv, decay))
        ours = teach.running_estimates(mu_b, var_b, m, decay, conv)
        np.testing.assert_allclose([ours[0][-1, 0], ours[1][-1, 0]], [ref[0][0], ref[1][0]], rtol=1e-12)


def test_seed_convention_is_what_training_keeps():
    run = train(Settings(steps=40, batch_size=8, decay=0.8))
    rec = run.layers[0]
    assert len(run.stat_steps) == 40  # every step recorded
    mu, var = teach.running_estimates(rec.batch_mu, rec.batch_var, 8, 0.8, "seed")
    np.testing.assert_allclose(mu[-1], run.running[0][0], rtol=1e-5, atol=1e-6)  # float32 records
    np.testing.assert_allclose(var[-1], run.running[0][1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(var, rec.running_var, rtol=1e-5, atol=1e-6)


def test_pytorch_needs_two_values_per_batch():
    with pytest.raises(ValueError, match="m ≥ 2"):
        teach.running_estimates(np.zeros((3, 1)), np.zeros((3, 1)), 1, 0.9, "pytorch")


def test_eps_shrink():
    np.testing.assert_allclose(teach.eps_shrink([1e-3, 1.0], 1e-3), [math.sqrt(0.5), math.sqrt(1 / 1.001)])


# ----------------------------------------------------------------------------- figures


def test_every_figure_is_valid_plotly(bn_run, plain_run):
    ds = bn_run.dataset
    gb = teach.glass_box([1.0, 2.0, 4.0], 1.5, 0.2, 1e-5)
    effect = teach.bias_shift_effect(bn_run.net, ds.X_train, ds.y_train, 0, [-1.0, 0.0, 1.0])
    spread = teach.batch_stat_spread(bn_run.net, ds.X_train, [1, 2, 4], draws=20)
    x = ds.X_test[:1]
    probs = {
        lab: teach.probabilities(teach.logits_with(bn_run, x, c))[0]
        for lab, c in teach.TEST_TIME_CHOICES.items()
    }
    zn = {lab: np.zeros(16) for lab in teach.TEST_TIME_CHOICES}
    table = teach.test_time_table([bn_run])
    steps = np.arange(1, 4)
    figs = [
        charts.glass_box_figure(gb),
        charts.glass_box_figure(teach.glass_box([3.0], eps=0.0)),
        charts.bias_shift_figure(effect, effect, 0.5),
        charts.accuracy_figure(bn_run.curves, plain_run.curves),
        charts.percentile_figure(teach.percentile_track(plain_run, 0), teach.percentile_track(bn_run, 0)),
        charts.spread_figure(spread),
        charts.gap_figure(teach.train_test_gap([bn_run])),
        charts.test_example_figure(zn, probs, 1),
        charts.test_time_figure(table, ["running EWA"]),
        charts.conventions_figure(steps, np.ones(3), {"a": np.ones(3)}, 1.0),
    ]
    for fig in figs:
        assert isinstance(fig, go.Figure)
        go.Figure(fig.to_dict())  # raises on any invalid property
    # the glass-box figure draws exactly the numbers of the glass box
    data = figs[0].data
    np.testing.assert_allclose(data[0].x, gb.z)
    np.testing.assert_allclose(data[1].x, gb.z_norm)
    np.testing.assert_allclose(data[2].x, gb.z_tilde)

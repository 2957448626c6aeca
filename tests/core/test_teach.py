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

# 2 x 16 ReLU units: the network these views' numbers were measured on.
RELU_2X16: dict = {"depth": 2, "width": 16, "activation": "relu"}


@pytest.fixture(scope="module")
def bn_run():
    return train(Settings(steps=60, batch_size=16, **RELU_2X16))


@pytest.fixture(scope="module")
def plain_run():
    return train(Settings(steps=60, batch_size=16, use_bn=False, **RELU_2X16))


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


def test_glass_box_centred_and_squared_values():
    gb = teach.glass_box([1.0, 3.0, 8.0])
    np.testing.assert_allclose(gb.centred, [-3.0, -1.0, 4.0])
    np.testing.assert_allclose(gb.squared, [9.0, 1.0, 16.0])
    assert np.mean(gb.squared) == pytest.approx(gb.var)  # σ² is the mean of the squares (1/m)


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


def test_random_batch_is_normal_around_five():
    a, b = teach.random_batch(4, seed=3), teach.random_batch(4, seed=3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, np.random.default_rng(3).normal(5.0, 2.0, 4))
    many = teach.random_batch(20_000, seed=1)
    assert many.mean() == pytest.approx(5.0, abs=0.05) and many.std() == pytest.approx(2.0, rel=0.02)
    assert not np.array_equal(teach.random_batch(8), teach.random_batch(8)), "seed=None: fresh values"


def test_draw_from_network_is_the_first_layer_z(bn_run):
    X = bn_run.dataset.X_train
    drawn = teach.draw_from_network(bn_run, len(X), layer=0, unit=3, seed=1)
    direct = X @ bn_run.net.W[0][:, 3] + bn_run.net.b[0][3]  # z = W a + b for every example
    np.testing.assert_allclose(np.sort(drawn), np.sort(direct), rtol=1e-12, atol=1e-12)
    assert len(teach.draw_from_network(bn_run, 5)) == 5
    fresh = teach.draw_from_network(bn_run, 6, layer=0, unit=3, seed=None)
    assert len(fresh) == 6
    assert all(np.abs(direct - v).min() <= 1e-9 * (1 + abs(v)) for v in fresh), "each is some example's z"
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


def test_bias_shifts_run_from_minus_three_to_three_in_quarters():
    np.testing.assert_allclose(teach.BIAS_SHIFTS, np.arange(-12, 13) / 4, atol=1e-12)
    assert 0.0 in teach.BIAS_SHIFTS and 1.0 in teach.BIAS_SHIFTS


def test_largest_hidden_bias(bn_run, plain_run):
    for run in (bn_run, plain_run):
        hidden = np.concatenate([run.net.b[l] for l in range(run.net.depth)])
        assert teach.largest_hidden_bias(run.net) == pytest.approx(np.abs(hidden).max())
    assert teach.largest_hidden_bias(bn_run.net) < 1e-10, "with BN, b's zero gradient never moves it"
    assert teach.largest_hidden_bias(plain_run.net) > 1e-3
    shifted = teach.shift_bias(plain_run.net, 0, -50.0)
    assert teach.largest_hidden_bias(shifted) == pytest.approx(np.abs(plain_run.net.b[0] - 50.0).max())


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


def test_median_drift_is_the_median_over_units(bn_run):
    by_hand = pd.DataFrame({"p50_range": [3.0, 1.0, 2.0, 10.0, 0.5],
                            "spread_range": [0.5, 0.1, 0.2, 0.3, 9.0]})  # fmt: skip
    typical = teach.median_drift(by_hand)
    assert (typical.p50_range, typical.spread_range) == (2.0, 0.3)
    p = bn_run.layers[-1].percentiles[:, 0].astype(float)  # quantity "z": (k, 3, units)
    width = p[:, 2] - p[:, 0]
    typical = teach.median_drift(teach.percentile_drift(bn_run, quantity="z"))
    assert typical.p50_range == pytest.approx(np.median(p[:, 1].max(axis=0) - p[:, 1].min(axis=0)))
    assert typical.spread_range == pytest.approx(np.median(width.max(axis=0) - width.min(axis=0)))


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
    assert row["sd_mu"][N] < 1e-12 and row["sd_var"][N] < 1e-12  # every batch is the whole set
    assert row.loc[N, "mean_var_ratio"] == pytest.approx(1.0)


def test_batch_stat_spread_is_each_mini_batch_through_the_network(bn_run):
    """Hidden layer 1's batch statistics gathered from z of the whole set, chunked, are those
    of each mini-batch passed through the network; a deeper layer's go through it."""
    X = bn_run.dataset.X_train
    N, draws, m = len(X), 30, 8
    got = teach.batch_stat_spread(bn_run.net, X, [m], layer=0, draws=draws, seed=5).iloc[0]
    deeper = teach.batch_stat_spread(bn_run.net, X, [m], layer=1, draws=draws, seed=5).iloc[0]
    rng = np.random.default_rng(5)
    idx = np.argsort(rng.random((draws, N)), axis=1)[:, :m]
    _, taps = nn.forward(bn_run.net, X[idx])
    pop = teach.population_stats(bn_run.net, X)
    for layer, row in ((0, got), (1, deeper)):
        c = taps[layer].cache
        assert c is not None
        pop_var = pop[layer][1]
        keep = pop_var > 1e-12
        sd_mu = c.mu.std(axis=0)[keep] / np.sqrt(pop_var[keep])
        assert row["sd_mu"] == pytest.approx(float(sd_mu.mean()))
        assert row["sd_var"] == pytest.approx(float((c.var.std(axis=0)[keep] / pop_var[keep]).mean()))
        ratio = c.var.mean(axis=0)[keep] / pop_var[keep]
        assert row["mean_var_ratio"] == pytest.approx(float(ratio.mean()))


def test_the_test_time_grid_without_recording_gives_the_runs_numbers():
    grid = [Settings(steps=80, batch_size=m, decay=d) for m in (2, 8) for d in (0.9, 0.999)]
    trained = teach.train_final(grid)
    assert [t.settings for t in trained] == grid
    recorded = [train(s) for s in grid]
    pd.testing.assert_frame_equal(teach.test_time_table(trained), teach.test_time_table(recorded))


def test_the_gap_grid_without_recording_gives_the_runs_numbers():
    grid = [Settings(steps=80, batch_size=m) for m in (16, 4)]
    recorded = [train(s) for s in grid]
    pd.testing.assert_frame_equal(teach.train_test_gap_grid(grid), teach.train_test_gap(recorded))


def test_the_spread_of_var_without_replacement_is_exact_by_enumeration():
    import itertools

    y = np.random.default_rng(1).exponential(size=7)
    N = len(y)
    mu2, mu4 = ((y - y.mean()) ** 2).mean(), ((y - y.mean()) ** 4).mean()
    for m in range(1, N + 1):
        every_batch = [np.var(y[list(c)]) for c in itertools.combinations(range(N), m)]
        assert float(teach.var_sd_without_replacement(mu2, mu4, m, N)) == pytest.approx(
            float(np.std(every_batch)), rel=1e-9, abs=1e-12
        ), m
    big = 10**6  # N ≫ m: the with-replacement law √((κ − 1)/m)·σ²
    assert float(teach.var_sd_without_replacement(1.0, 3.0, 16, big)) == pytest.approx(
        math.sqrt(2 / 16), rel=0.05
    )
    with pytest.raises(ValueError, match="between 1 and N"):
        teach.var_sd_without_replacement(1.0, 3.0, 8, 4)


def test_the_spread_of_var_law_matches_monte_carlo_without_replacement(bn_run):
    X = bn_run.dataset.X_train
    N = len(X)
    spread = teach.batch_stat_spread(bn_run.net, X, [8, 64, 256, N], layer=0, draws=400, seed=3)
    sd = dict(zip(spread["m"], spread["sd_var"].astype(float)))
    law = dict(zip(spread["m"], spread["law_var"].astype(float)))
    fpc = dict(zip(spread["m"], spread["law_var_fpc"].astype(float)))
    for m in (8, 64, 256):
        assert sd[m] == pytest.approx(fpc[m], rel=0.15), m
    assert fpc[256] < 0.8 * law[256]  # the correction matters there
    assert fpc[N] < 1e-6  # every batch is the whole set


def test_spread_batch_sizes_end_with_the_whole_set():
    assert teach.spread_batch_sizes(100) == [1, 2, 4, 8, 16, 32, 64, 100]
    assert teach.spread_batch_sizes(64) == [1, 2, 4, 8, 16, 32, 64]
    assert teach.spread_batch_sizes(1000) == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000]
    assert teach.spread_batch_sizes(1) == [1]


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
    assert taps[0].z_norm is not None  # a BN layer keeps its z_norm
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


def test_one_example_under_each_choice_of_statistics(bn_run):
    ds, i = bn_run.dataset, 5
    one = teach.one_example(bn_run, i)
    assert list(one.z_norm) == list(one.probs) == list(teach.TEST_TIME_CHOICES)
    assert one.true_class == int(ds.y_test[i])
    assert np.all(one.z_norm["batch of one"] == 0), "a batch of one: z − μ = 0"
    z = ds.X_test[i] @ bn_run.net.W[0] + bn_run.net.b[0]  # z = W a + b of hidden layer 1
    for label, which in (("running EWA", "running"), ("bias-corrected EWA", "corrected"),
                         ("population", "population")):  # fmt: skip
        mu, var = bn_run.inference_stats(which)[0]
        z_norm = (z - mu) / np.sqrt(var + bn_run.settings.eps)
        np.testing.assert_allclose(one.z_norm[label], z_norm, rtol=1e-9)
        logits = nn.forward(bn_run.net, ds.X_test, bn_run.inference_stats(which))[0][i]
        e = np.exp(logits - logits.max())
        np.testing.assert_allclose(one.probs[label], e / e.sum(), rtol=1e-9)
    for p in one.probs.values():
        assert p.sum() == pytest.approx(1.0) and (p >= 0).all()


def test_majority_share():
    y = np.array([0, 1, 1, 2, 1], dtype=np.int64)
    assert teach.majority_share(y) == pytest.approx(3 / 5)
    assert teach.majority_share(np.zeros(7, dtype=np.int64)) == 1.0


def test_ewa_start_weight_is_what_the_raw_average_still_owes_its_start():
    """Averaging x = 1 from v₀ = 0 gives 1 − decayᵗ after t steps: the rest is the start's weight."""
    t = 50
    ones = np.ones((t, 1))
    for decay in (0.9, 0.99, 0.999):
        mu, _ = teach.running_estimates(ones, ones, 2, decay, "note")
        assert teach.ewa_start_weight(decay, t) == pytest.approx(1 - mu[-1, 0], rel=1e-9)
    assert teach.ewa_start_weight(0.5, 3) == 0.125


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
    for conv in ("pytorch", "keras", "note"):
        assert teach.decay_from(conv, teach.momentum(conv, 0.95)) == pytest.approx(0.95)
    with pytest.raises(ValueError):
        teach.momentum("caffe", 0.9)


def test_running_estimates_two_steps_by_hand():
    mu_b, var_b = np.array([[2.0], [4.0]]), np.array([[1.0], [3.0]])
    mu, var = teach.running_estimates(mu_b, var_b, 2, 0.9, "note")
    np.testing.assert_allclose(mu[:, 0], [0.2, 0.58])  # 0.1*2; 0.9*0.2 + 0.1*4
    np.testing.assert_allclose(var[:, 0], [0.1, 0.39])
    mu, var = teach.running_estimates(mu_b, var_b, 2, 0.9, "note", bias_correction=True)
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
    var_b = np.array([[b.var()] for b in batches])  # the note's 1/m variance, as bnviz records it
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
    mu, var = teach.running_estimates(rec.batch_mu, rec.batch_var, 8, 0.8, "note")
    np.testing.assert_allclose(mu[-1], run.running[0][0], rtol=1e-5, atol=1e-6)  # float32 records
    np.testing.assert_allclose(var[-1], run.running[0][1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(var, rec.running_var, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def small_batch_run():
    return train(Settings(steps=40, batch_size=4, decay=0.8))


def test_running_var_by_convention(small_batch_run):
    run, unit = small_batch_run, 2
    rec = run.layers[0]
    view = teach.running_var_by_convention(run, unit)
    np.testing.assert_array_equal(view.steps, run.stat_steps)
    np.testing.assert_allclose(view.batch_var, rec.batch_var[:, unit])
    assert view.population_var == pytest.approx(float(rec.pop_var[-1, unit]))
    raw, corrected, torch, keras = view.running_var.values()
    np.testing.assert_allclose(raw, rec.running_var[:, unit], rtol=1e-5, atol=1e-6)  # what training kept
    t = np.arange(1, len(raw) + 1)
    np.testing.assert_allclose(corrected, raw / (1 - 0.8**t), rtol=1e-12)
    batches = rec.batch_var[:, unit].astype(np.float64)
    rv, mv = 1.0, 1.0  # PyTorch's and Keras's documented updates, by hand
    for j, v in enumerate(batches):
        rv = 0.8 * rv + 0.2 * v * 4 / 3
        mv = mv * 0.8 + v * 0.2
        assert (torch[j], keras[j]) == pytest.approx((rv, mv), rel=1e-12)


def test_conventions_check(small_batch_run):
    run, unit = small_batch_run, 1
    table = teach.conventions_check(run, unit)
    assert list(table.columns) == ["convention", "momentum", "σ² unit 2: bnviz", "σ² unit 2: reference",
                                   "max |diff|, all units"]  # fmt: skip
    assert list(table["convention"][:2]) == ["pytorch", "keras"]
    assert list(table["momentum"]) == pytest.approx([0.2, 0.8, 0.8])
    assert (table["max |diff|, all units"][:2] < 1e-12).all()
    assert table["max |diff|, all units"][2] < 1e-5  # float32 records against the float64 loop
    rv = 1.0
    for v in run.layers[0].batch_var[:, unit].astype(np.float64):
        rv = 0.8 * rv + 0.2 * v * 4 / 3
    assert table["σ² unit 2: bnviz"][0] == pytest.approx(rv, rel=1e-12)
    assert table["σ² unit 2: reference"][2] == pytest.approx(float(run.running[0][1][unit]))


def test_eps_shrink_table():
    table = teach.eps_shrink_table((1e-5, 1.0))
    var = np.array([1e-5, 1.0])
    np.testing.assert_allclose(table["σ² of a unit"], var)
    np.testing.assert_allclose(table["sd of z_norm, ε = 1e-5 (PyTorch)"], np.sqrt(var / (var + 1e-5)))
    np.testing.assert_allclose(table["sd of z_norm, ε = 1e-3 (Keras)"], np.sqrt(var / (var + 1e-3)))
    assert len(teach.eps_shrink_table()) == len(teach.EPS_TABLE_VARIANCES)


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


# ----------------------------------------------------------------------------- 1. glass box: limits


def test_parse_text_says_how_many_values_it_kept():
    text = ";".join(str(i) for i in range(1000))
    values, problems = teach.parse_text(text, limit=teach.MAX_GLASS_VALUES)
    np.testing.assert_array_equal(values, np.arange(16.0))
    assert problems == ["kept the first 16 of 1000 values"]
    values, problems = teach.parse_text("1;2;3", limit=3)
    assert values.tolist() == [1.0, 2.0, 3.0] and problems == []  # nothing left out: no word
    values, problems = teach.parse_text("1;x;2;3", limit=2)  # bad rows before the limit are still named
    np.testing.assert_array_equal(values, [1.0, 2.0])
    assert problems == ["row 2: 'x' is not a number", "kept the first 2 of 3 values"]


def test_parse_values_names_a_few_bad_rows_and_counts_the_rest():
    values, problems = teach.parse_values(["x"] * 1000 + ["4"])
    np.testing.assert_array_equal(values, [4.0])
    assert problems[: teach.MAX_PROBLEMS] == [f"row {i}: 'x' is not a number" for i in range(1, 6)]
    assert problems[teach.MAX_PROBLEMS :] == ["995 more rows not read as numbers"]


def test_glass_box_says_when_var_underflows_for_values_that_differ():
    gb = teach.glass_box([0.0, 1e-320, 5e-324])
    assert gb.var == 0.0 and gb.var_underflows
    assert not any("All values are equal" in n for n in gb.notes)
    assert any("underflows to 0 in float64" in n and "1e-320" in n for n in gb.notes)
    at_zero_eps = teach.glass_box([0.0, 1e-320, 5e-324], eps=0.0)
    assert at_zero_eps.var_underflows and at_zero_eps.z_norm.tolist() == [0.0, 0.0, 0.0]
    assert not any("divides 0 by 0" in n for n in at_zero_eps.notes)
    assert any("underflows to 0" in n for n in at_zero_eps.notes)


def test_glass_box_says_when_var_is_subnormal():
    gb = teach.glass_box([0.0, 1e-160])  # σ² = 2.5e-321: above 0, below float64's smallest normal
    assert 0 < gb.var < np.finfo(np.float64).tiny and gb.var_underflows
    assert any("2.2e-308" in n for n in gb.notes)
    # values equal, or σ² normal: no underflow
    assert not teach.glass_box([2.0, 2.0]).var_underflows
    assert not teach.glass_box([0.0, 1e-150]).var_underflows
    assert not teach.glass_box([7.5]).var_underflows

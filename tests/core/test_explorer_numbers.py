"""bnviz.explorer: the Explorer's numbers against the recorded run and against NumPy directly."""

from __future__ import annotations

import numpy as np
import pytest

from bnviz import Settings, fmt, nn
from bnviz import explorer as numbers
from bnviz.train import Run, train


@pytest.fixture(scope="module")
def runs() -> tuple[Run, Run]:
    s = Settings(steps=60, width=6)
    return train(s), train(s.replace(use_bn=False))


def _final_taps(run: Run) -> list[nn.Tap]:
    """The whole training set through the final network in training mode, in float64:
    the batch the last checkpoint's histograms and statistics describe."""
    X = run.dataset.X_train.astype(np.float64)
    net = nn.create(run.net.sizes, run.net.activation, run.net.use_bn, run.net.eps, lead=run.net.lead,
                    dtype=np.float64)  # fmt: skip
    net.theta[...] = run.net.theta
    return nn.forward(net, X)[1]


# ----------------------------------------------------------------------------- unit_numbers


def test_unit_numbers_follow_the_note(runs):
    run, _ = runs
    rec = run.layers[1]
    n = numbers.unit_numbers(run, 1, 2, 5, "population")
    var = float(rec.pop_var[5, 2])
    assert n.var == pytest.approx(var)
    assert n.sd_norm == pytest.approx(np.sqrt(var / (var + run.settings.eps)))
    assert n.implied_mean == pytest.approx(float(rec.beta[5, 2]))
    assert n.m == len(run.dataset.y_train)
    pooled = numbers.unit_numbers(run, 1, -1, 5, "population")
    assert pooled.mu == pytest.approx(float(rec.pop_mu[5].mean()))
    assert pooled.var >= float(rec.pop_var[5].astype(np.float64).mean()) - 1e-6  # total variance


@pytest.mark.parametrize("layer", [0, 1])
def test_unit_numbers_are_the_statistics_of_the_values_themselves(runs, layer):
    """At the last checkpoint: one unit's and all units' pooled mean and variance of z,
    sd of z_norm and mean and sd of z̃, each computed straight from the values."""
    run, _ = runs
    k = len(run.ckpt_steps) - 1
    tap = _final_taps(run)[layer]
    assert tap.z_norm is not None
    for unit in (0, 4):
        n = numbers.unit_numbers(run, layer, unit, k, "population")
        z = tap.z[:, unit]
        assert (n.mu, n.var, n.sd) == pytest.approx((z.mean(), z.var(), z.std()), rel=1e-4, abs=1e-6)
        assert n.sd_norm == pytest.approx(tap.z_norm[:, unit].std(), rel=1e-4)
        assert (n.implied_mean, n.implied_sd) == pytest.approx(
            (tap.z_tilde[:, unit].mean(), tap.z_tilde[:, unit].std()), rel=1e-4, abs=1e-6
        )
        assert n.gamma == pytest.approx(float(run.net.gamma[layer][unit]), rel=1e-6)
        assert n.beta == pytest.approx(float(run.net.beta[layer][unit]), rel=1e-6, abs=1e-9)
    pooled = numbers.unit_numbers(run, layer, -1, k, "population")
    every_z = tap.z.ravel()  # all units' values in one sample
    assert (pooled.mu, pooled.var) == pytest.approx((every_z.mean(), every_z.var()), rel=1e-4, abs=1e-6)
    assert pooled.sd_norm == pytest.approx(tap.z_norm.std(), rel=1e-4)
    assert (pooled.implied_mean, pooled.implied_sd) == pytest.approx(
        (tap.z_tilde.mean(), tap.z_tilde.std()), rel=1e-4, abs=1e-6
    )
    assert pooled.gamma == pytest.approx(float(run.net.gamma[layer].mean()), rel=1e-6)
    assert pooled.step == int(run.ckpt_steps[k]) and pooled.eps == run.settings.eps


def test_unit_numbers_without_bn_describe_z(runs):
    _, plain = runs
    k = len(plain.ckpt_steps) - 1
    z = _final_taps(plain)[0].z
    n = numbers.unit_numbers(plain, 0, 3, k, "population")
    assert (n.mu, n.var) == pytest.approx((z[:, 3].mean(), z[:, 3].var()), rel=1e-4, abs=1e-6)
    pooled = numbers.unit_numbers(plain, 0, -1, k, "population")
    assert (pooled.mu, pooled.var) == pytest.approx((z.mean(), z.var()), rel=1e-4, abs=1e-6)


def test_pooled_mean_var_is_that_of_the_concatenated_samples():
    rng = np.random.default_rng(7)
    samples = [rng.normal(loc, scale, 50) for loc, scale in ((-3.0, 0.5), (0.0, 1.0), (4.0, 2.0))]
    mean, var = numbers.pooled_mean_var(np.array([s.mean() for s in samples]),
                                        np.array([s.var() for s in samples]))  # fmt: skip
    both = np.concatenate(samples)
    assert mean == pytest.approx(both.mean(), rel=1e-12)
    assert var == pytest.approx(both.var(), rel=1e-12)
    # the spread of the unit means adds to their own spread
    assert var > np.mean([s.var() for s in samples])


# ----------------------------------------------------------------------------- stat_numbers


def test_stat_numbers_satisfy_the_ewa_update(runs):
    run, _ = runs
    s = numbers.stat_numbers(run, 0, 1, 30)
    d = run.settings.decay
    assert s.t == 30
    assert s.prev_mu is not None and s.mu_B is not None
    assert s.run_mu == pytest.approx(d * s.prev_mu + (1 - d) * s.mu_B, rel=1e-5, abs=1e-6)
    assert s.cor_mu == pytest.approx(s.run_mu / (1 - d**30), rel=1e-5)
    first = numbers.stat_numbers(run, 0, 1, 1)
    assert first.mu_B is not None
    assert first.prev_mu == 0.0 and first.run_mu == pytest.approx((1 - d) * first.mu_B, rel=1e-5)
    before = numbers.stat_numbers(run, 0, 1, 0)
    assert before.t == 0 and before.mu_B is None


def test_stat_numbers_read_the_records_and_average_over_units(runs):
    run, _ = runs
    rec = run.layers[1]
    i = list(run.stat_steps).index(25)
    cmu, cvar = run.corrected(1)
    one = numbers.stat_numbers(run, 1, 4, 25)
    assert (one.mu_B, one.var_B) == pytest.approx((rec.batch_mu[i, 4], rec.batch_var[i, 4]))
    assert (one.run_var, one.cor_var) == pytest.approx((rec.running_var[i, 4], cvar[i, 4]))
    assert one.prev_var == pytest.approx(rec.running_var[i - 1, 4])
    every = numbers.stat_numbers(run, 1, -1, 25)
    assert every.mu_B == pytest.approx(rec.batch_mu[i].astype(np.float64).mean())
    assert every.cor_mu == pytest.approx(cmu[i].astype(np.float64).mean())
    assert every.var_B == pytest.approx(rec.batch_var[i].astype(np.float64).mean())
    assert one.decay == run.settings.decay and one.pytorch_momentum == pytest.approx(1 - run.settings.decay)


def test_stat_numbers_take_the_population_of_the_last_checkpoint_before_the_step(runs):
    run, _ = runs
    rec = run.layers[0]
    ckpts = [int(c) for c in run.ckpt_steps]
    between = next(t for t in range(1, ckpts[-1]) if t not in ckpts)
    k = max(j for j, c in enumerate(ckpts) if c <= between)
    s = numbers.stat_numbers(run, 0, 2, between)
    assert (s.pop_mu, s.pop_var) == pytest.approx((rec.pop_mu[k, 2], rec.pop_var[k, 2]))
    assert numbers.checkpoint_at(run, between) == k
    assert numbers.checkpoint_at(run, ckpts[k]) == k
    assert numbers.checkpoint_at(run, -5) == 0
    assert numbers.checkpoint_at(run, 10**6) == len(ckpts) - 1


# ----------------------------------------------------------------------------- stat_series


def test_stat_series_is_one_column_or_the_mean_over_units(runs):
    run, _ = runs
    rec = run.layers[0]
    cmu, cvar = run.corrected(0)
    one = numbers.stat_series(run, 0, 2)
    np.testing.assert_array_equal(one.steps, run.stat_steps)
    np.testing.assert_array_equal(one.ckpt_steps, run.ckpt_steps)
    np.testing.assert_allclose(one.batch_mu, rec.batch_mu[:, 2])
    np.testing.assert_allclose(one.running_var, rec.running_var[:, 2])
    np.testing.assert_allclose(one.corrected_var, cvar[:, 2])
    np.testing.assert_allclose(one.pop_mu, rec.pop_mu[:, 2])
    every = numbers.stat_series(run, 0, -1)
    w = run.settings.width

    def unit_mean(a: np.ndarray) -> np.ndarray:  # the mean over units, one column at a time
        return sum(a[:, j].astype(np.float64) for j in range(w)) / w

    np.testing.assert_allclose(every.batch_var, unit_mean(rec.batch_var), rtol=1e-6)
    np.testing.assert_allclose(every.corrected_mu, unit_mean(cmu), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(every.pop_var, unit_mean(rec.pop_var), rtol=1e-6)


@pytest.mark.parametrize("unit", [2, -1])
def test_unit_numbers_of_the_batch_are_the_statistics_of_its_points(unit):
    """With every example of the batch shown (m = 32 <= BATCH_SHOWN), "batch" numbers are
    the mean and spread of the points themselves: z_norm has mean 0 and sd sd_norm."""
    run = train(Settings(steps=60, width=4))  # pooled: 4 x 32 = POOLED_POINTS, every example
    assert numbers.POOLED_POINTS >= 4 * run.settings.batch_size
    for k in (0, 20, len(run.ckpt_steps) - 1):
        n = numbers.unit_numbers(run, 1, unit, k, "batch")
        p = numbers.batch_points(run, 1, unit, k, "batch")
        assert p.z_norm is not None and len(p.z) == run.settings.batch_size * (1 if unit >= 0 else 4)
        assert (n.mu, n.sd) == pytest.approx((p.z.mean(), p.z.std()), rel=2e-3, abs=1e-4)
        assert n.sd_norm == pytest.approx(p.z_norm.std(), rel=2e-3)
        assert n.m == run.settings.batch_size and n.stats == "batch"


# ----------------------------------------------------------------------------- movie_summary


def test_movie_summary_says_the_numbers_of_the_panel_titles(runs):
    run, plain = runs
    k = 5
    n = numbers.unit_numbers(run, 1, 2, k, "batch")
    text = numbers.movie_summary(run, 1, 2, k, "batch")
    step = int(run.ckpt_steps[k])

    def num(x: float) -> str:
        return fmt.number(x, 3, zero_below=1e-9)

    assert text == (f"Histograms at step {step}, layer 2, unit 3: Z of this mini-batch has mean {num(n.mu)} "
                    f"and sd {num(n.sd)}; Z_norm sd {num(n.sd_norm)}; Z̃ mean β = {num(n.implied_mean)}, "
                    f"sd {num(n.implied_sd)}")  # fmt: skip
    assert "\n" not in text
    pooled = numbers.movie_summary(run, 0, -1, k, "population")
    p = numbers.unit_numbers(run, 0, -1, k, "population")
    assert "layer 1, all units pooled: Z of the whole training set has" in pooled
    assert f"mean {num(p.mu)} and sd {num(p.sd)}" in pooled
    running = numbers.movie_summary(run, 0, 0, k, "running")
    assert "normalized with the running EWA estimates" in running
    assert "not defined at step 0" in numbers.movie_summary(run, 0, 0, 0, "running")
    no_bn = numbers.movie_summary(plain, 0, 0, k, "batch")
    assert "Z of this mini-batch has mean" in no_bn and "Z_norm" not in no_bn and "β" not in no_bn

"""bnviz.explorer: the Explorer's numbers against the recorded run and against NumPy directly."""

from __future__ import annotations

import numpy as np
import pytest

from bnviz import Settings, fmt, nn
from bnviz import explorer as numbers
from bnviz.train import HIST_BINS, Run, train


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


def test_the_numbers_of_all_checkpoints_at_once_are_each_checkpoints_to_the_last_bit():
    """all_unit_numbers reduces over the units of every checkpoint at once, and the figure
    sends these floats in full: each must be what its checkpoint's row gives alone (24 units:
    NumPy sums 8 or more values in 8 partial sums)."""
    run = train(Settings(steps=20, width=24, depth=1, batch_size=8))
    rec = run.layers[0]
    for which in numbers.NORMALIZE:
        mu, var, _ = numbers.all_statistics(run, 0, which)
        pooled = numbers.all_unit_numbers(run, 0, -1, which)
        assert len(pooled) == len(run.ckpt_steps)
        for k, n in enumerate(pooled):
            mean, v = numbers.pooled_mean_var(mu[k], var[k])
            assert (n.mu, n.var) == (mean, max(v, 0.0))
            assert (n.gamma, n.beta) == (float(rec.gamma[k].astype(np.float64).mean()),
                                         float(rec.beta[k].astype(np.float64).mean()))  # fmt: skip
            assert n == numbers.unit_numbers(run, 0, -1, k, which)


def test_per_example_numbers_of_all_checkpoints_are_each_histograms_moments_to_the_last_bit(norm_runs):
    run = norm_runs["layer"]
    rec = run.layers[1]
    for unit in (2, -1):
        for k, n in enumerate(numbers.all_unit_numbers(run, 1, unit, numbers.EXAMPLE)):
            mean, var = numbers._moments(rec.hist_edges(k, 1, unit), rec.hist_counts[k, 1, unit])
            assert (n.norm_mean, n.sd_norm) == (mean, float(np.sqrt(max(var, 0.0))))
            mean, var = numbers._moments(rec.hist_edges(k, 2, unit), rec.hist_counts[k, 2, unit])
            assert (n.implied_mean, n.implied_sd) == (mean, float(np.sqrt(max(var, 0.0))))


def test_edge_rows_are_each_rows_linspace_beside_a_zero_width_row():
    """np.linspace over all rows at once would change the other rows' last bits."""
    lo = np.array([0.1, 2.5, -3.0], np.float32)
    hi = np.array([0.7, 2.5, 4.1], np.float32)
    edges = numbers._edge_rows(lo, hi)
    for k in range(3):
        expected = np.linspace(lo[k], hi[k], HIST_BINS + 1)
        assert edges[k].dtype == expected.dtype and np.array_equal(edges[k], expected)


def test_a_zero_gamma_draws_z_tilde_as_one_narrow_bar_at_beta():
    run = train(Settings(steps=10, width=4, depth=1, gamma_init=0.0, beta_init=0.25, freeze_affine=True))
    n = len(run.dataset.y_train)
    for unit in (1, -1):  # one unit's histogram moved, and all units' rebinned
        h = numbers.stacked_histograms(run, 0, unit, 2)
        assert h.defined.all() and h.edges.shape == (len(run.ckpt_steps), HIST_BINS + 1)
        for k in (0, len(run.ckpt_steps) - 1):
            edges, counts = numbers.histogram(run, 0, unit, k, 2)  # type: ignore[misc]
            np.testing.assert_array_equal(edges, h.edges[k])
            middle = HIST_BINS // 2
            assert counts[middle] == counts.sum() == n * (1 if unit >= 0 else run.settings.width)
            assert edges[middle] < 0.25 < edges[middle + 1]


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


# ----------------------------------------------------------------------------- other normalizations


@pytest.fixture(scope="module")
def norm_runs() -> dict[str, Run]:
    """Short runs with each normalization (GroupNorm: 3 groups of 2 units), m = 16."""
    s = Settings(steps=30, width=6, depth=2, batch_size=16, activation="tanh")
    return {"layer": train(s.replace(normalization="layer")),
            "group": train(s.replace(normalization="group", groups=3)),
            "renorm": train(s.replace(normalization="renorm", renorm_r_max=1.5, renorm_d_max=0.5))}


def test_norm_names_name_the_normalization_and_its_baseline():
    s = Settings()
    assert numbers.norm_names(s) == ("BN", "no BN")
    assert numbers.norm_names(s.replace(normalization="layer")) == ("LayerNorm", "none")
    assert numbers.norm_names(s.replace(normalization="group", groups=2)) == ("GroupNorm", "none")
    assert numbers.norm_names(s.replace(normalization="renorm")) == ("Batch Renorm", "none")


@pytest.mark.parametrize("kind", ["layer", "group"])
def test_per_example_norms_offer_only_their_own_statistics(norm_runs, runs, kind):
    """No running estimates (they are recorded as zeros): every choice means each example's own."""
    run = norm_runs[kind]
    assert numbers.normalize_choices(run.settings) == (numbers.EXAMPLE,)
    asked = (*numbers.NORMALIZE, numbers.EXAMPLE)
    assert all(numbers.normalized_with(run, w) == numbers.EXAMPLE for w in asked)
    assert not run.layers[0].ckpt_running_var.any(), "the zeros no choice may use"
    n = numbers.unit_numbers(run, 0, 1, 10, "running")
    assert n.stats == numbers.EXAMPLE and n.defined and n.sd_norm > 0.1
    bn_run, plain = runs
    assert numbers.normalize_choices(bn_run.settings) == numbers.NORMALIZE
    assert numbers.normalized_with(bn_run, numbers.EXAMPLE) == "batch"
    assert numbers.normalized_with(plain, "running") == "population"
    assert numbers.normalized_with(norm_runs["renorm"], "running") == "running"


def _pooled_rows(run: Run, layer: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The pooled points of checkpoint k as (units, rows): z_norm and z_tilde."""
    p = numbers.batch_points(run, layer, -1, k, numbers.EXAMPLE)
    width = run.settings.width
    return p.z_norm.reshape(width, -1), p.z_tilde.reshape(width, -1)  # type: ignore[union-attr]


def test_layer_norm_points_are_each_example_normalized_over_its_units(norm_runs):
    run = norm_runs["layer"]
    rec = run.layers[1]
    for k in (0, 7, len(run.ckpt_steps) - 1):
        z_norm, z_tilde = _pooled_rows(run, 1, k)
        ex_var = rec.shown_ex_var[k, : z_norm.shape[1], 0].astype(np.float64)
        np.testing.assert_allclose(z_norm.mean(axis=0), 0, atol=3e-3)  # float16 z: 3 digits
        np.testing.assert_allclose(z_norm.var(axis=0), ex_var / (ex_var + run.settings.eps), rtol=1e-2)
        gamma, beta = rec.shown_gamma[k][:, None], rec.shown_beta[k][:, None]
        np.testing.assert_allclose(z_tilde, gamma * z_norm + beta, rtol=1e-6, atol=1e-6)
        # not BN's per-unit z_norm: each unit's values over the examples are not standardized
        assert not np.allclose(z_norm, rec.shown_z_norm[k, : z_norm.shape[1]].T.astype(np.float64), atol=1e-2)


def test_group_norm_points_are_each_example_normalized_over_each_group(norm_runs):
    run = norm_runs["group"]
    z_norm, _ = _pooled_rows(run, 0, 9)  # (6 units, rows)
    for g in range(3):
        np.testing.assert_allclose(z_norm[2 * g: 2 * g + 2].mean(axis=0), 0, atol=3e-3)
    assert run.layers[0].shown_ex_mu.shape[1:] == (run.layers[0].shown_z_norm.shape[1], 3)
    mu, var = numbers.example_stats(run, 0, 3, 9)  # type: ignore[misc]
    assert (mu, var) == (pytest.approx(float(run.layers[0].shown_ex_mu[9, 0, 1])),
                         pytest.approx(float(run.layers[0].shown_ex_var[9, 0, 1])))  # unit 4: group 2


def test_layer_norm_with_a_batch_of_one_normalizes_the_example_and_bn_would_not():
    run = train(Settings(steps=20, width=6, batch_size=1, normalization="layer"))
    p = numbers.batch_points(run, 0, -1, 5, "batch")
    assert p.z_norm is not None
    assert p.stats == numbers.EXAMPLE and np.abs(p.z_norm).max() > 0.5
    assert np.all(run.layers[0].shown_var == 0), "per unit over m = 1: σ² = 0, BN's z_norm would be 0"


def test_per_example_numbers_are_the_moments_of_the_drawn_histograms(norm_runs):
    run = norm_runs["layer"]
    for unit in (2, -1):
        n = numbers.unit_numbers(run, 1, unit, 12)
        edges, counts = numbers.histogram(run, 1, unit, 12, 1)  # type: ignore[misc]
        centres = (edges[1:] + edges[:-1]) / 2
        assert n.norm_mean == pytest.approx(np.average(centres, weights=counts), abs=1e-6)  # float32 edges
        sd = np.sqrt(np.average((centres - n.norm_mean) ** 2, weights=counts))
        assert n.sd_norm == pytest.approx(sd, rel=1e-5)
        assert n.mu == pytest.approx(float(run.layers[1].shown_mu[12, unit]) if unit >= 0 else n.mu)
    summary = numbers.movie_summary(run, 1, 2, 12)
    assert "Z_norm mean" in summary and "β =" not in summary


def test_batch_renorm_points_and_numbers_apply_r_and_d(norm_runs):
    run = norm_runs["renorm"]
    rec = run.layers[0]
    k = len(run.ckpt_steps) - 1
    r, d = rec.shown_r[k].astype(np.float64), rec.shown_d[k].astype(np.float64)
    assert np.all((r >= 1 / 1.5 - 1e-6) & (r <= 1.5 + 1e-6)) and np.all(np.abs(d) <= 0.5 + 1e-6)
    assert not np.allclose(r, 1) or not np.allclose(d, 0), "the correction is at work after 30 steps"
    p = numbers.batch_points(run, 0, 2, k, "batch")
    bn_norm = rec.shown_z_norm[k, :, 2].astype(np.float64)
    assert p.z_norm is not None
    np.testing.assert_allclose(p.z_norm, r[2] * bn_norm + d[2], rtol=1e-3, atol=1e-3)
    n = numbers.unit_numbers(run, 0, 2, k, "batch")
    var = float(rec.shown_var[k, 2])
    assert n.norm_mean == pytest.approx(d[2])
    assert n.sd_norm == pytest.approx(r[2] * np.sqrt(var / (var + run.settings.eps)))
    assert n.implied_mean == pytest.approx(float(rec.gamma[k, 2]) * d[2] + float(rec.beta[k, 2]))
    pop = numbers.batch_points(run, 0, 2, k, "population")  # inference: BN with the population's μ, σ²
    assert pop.z_norm is not None and not np.allclose(pop.z_norm, p.z_norm)


@pytest.mark.parametrize("kind", ["batch", "layer", "group", "renorm"])
def test_norm_over_marks_the_set_that_shares_one_mean_and_variance(kind):
    s = Settings(width=8, batch_size=32, normalization=kind, groups=4)
    over = numbers.norm_over(s, unit=5)
    assert over.cells.shape == (6, 8) and over.name == numbers.NORM_NAMES[kind]
    marked = np.argwhere(over.cells == 2)
    rows, cols = set(marked[:, 0]), set(marked[:, 1])
    if kind in ("batch", "renorm"):
        assert cols == {5} and rows == set(range(6)), "one unit over the examples"
        assert bool(over.extra_tex) == (kind == "renorm")
    elif kind == "layer":
        assert rows == {0} and cols == set(range(8)), "one example over all its units"
    else:
        assert rows == {0} and cols == {4, 5}, "example 1's group of 8/4 = 2 units holding unit 6"
    assert over.name in over.title and over.caption
    assert r"\mu" in over.mu_tex and r"\sigma^" in over.var_tex
    one = numbers.norm_over(s.replace(batch_size=1), unit=0)
    assert one.cells.shape == (1, 8)

"""The mini-batch each checkpoint shows: the rows the training loop used, normalized as it did.

The training loop's batch order is rebuilt here from the engine's documented generator
(``np.random.default_rng([seed, 1])`` draws the initial weights, then one permutation per
epoch), and the weights each step's forward pass used are copied by a small Recorder of
its own; the recorded batch is checked against a forward pass of those rows through those
weights.
"""

from __future__ import annotations

import numpy as np
import pytest

from bnviz import Settings, bn, engine, nn
from bnviz import explorer as numbers
from bnviz.train import BATCH_SHOWN, HIST_SAMPLE, MAX_BATCH_VALUES, Run, _RunRecorder, train

F16 = 2e-3  # float16 keeps z_norm to 3 significant digits (relative 2^-11 ≈ 5e-4)


class _WeightsBefore(engine.Recorder):
    """The weights each step's forward pass used: a copy before the update of step t."""

    def __init__(self) -> None:
        self.theta: dict[int, np.ndarray] = {}

    def on_checkpoint(self, k: int, t: int, stack: engine.Stack) -> None:
        if t == 0:
            self.theta[1] = stack.net.theta[0].copy()

    def on_step(self, t: int, loss: np.ndarray, taps: list[nn.Tap], stack: engine.Stack) -> None:
        self.theta[t + 1] = stack.net.theta[0].copy()


def _batch_rows(s: Settings, n: int, sizes: tuple[int, ...], step: int) -> np.ndarray:
    """The training examples step ``step`` used, from the engine's documented generator."""
    rng = np.random.default_rng([s.seed, 1])
    nn.init(nn.create(sizes, s.activation, s.use_bn, s.eps), rng, s.gamma_init, s.beta_init)  # the same draws
    per_epoch = n // s.batch_size  # the last partial batch of an epoch is dropped
    epoch, i = divmod(step - 1, per_epoch)
    for _ in range(epoch + 1):
        order = rng.permutation(n)
    return order[i * s.batch_size : (i + 1) * s.batch_size]


def _forward_at(run: Run, theta: np.ndarray, rows: np.ndarray) -> list[nn.Tap]:
    net = nn.create(run.net.sizes, run.net.activation, run.net.use_bn, run.settings.eps)
    net.theta[...] = theta
    return nn.forward(net, run.dataset.X_train[rows])[1]


@pytest.fixture(scope="module")
def recorded() -> tuple[Run, dict[int, np.ndarray]]:
    # 60 steps of 24 examples cross the epoch of moons' 400 (16 full batches each)
    s = Settings(steps=60, width=6, batch_size=24, seed=3)
    weights = _WeightsBefore()
    engine.train(engine.Stack.create([s]), weights)
    return train(s), weights.theta


def test_each_checkpoint_shows_the_batch_of_its_step_and_step_1_at_step_0(recorded):
    run, _ = recorded
    assert run.shown_steps[0] == 1 and run.ckpt_steps[0] == 0
    np.testing.assert_array_equal(run.shown_steps[1:], run.ckpt_steps[1:])
    assert run.layers[0].shown_z_norm.shape == (len(run.ckpt_steps), 24, 6)


@pytest.mark.parametrize("k", [0, 1, 20, -1])
def test_the_recorded_batch_is_the_training_loops_rows_normalized_as_bn_forward_does(recorded, k):
    run, theta = recorded
    s = run.settings
    step = int(run.shown_steps[k])
    rows = _batch_rows(s, len(run.dataset.y_train), run.net.sizes, step)
    taps = _forward_at(run, theta[step], rows)
    net = nn.create(run.net.sizes, s.activation, s.use_bn, s.eps)
    net.theta[...] = theta[step]
    for layer, (rec, tap) in enumerate(zip(run.layers, taps)):
        z_tilde, cache = bn.forward(tap.z, net.gamma[layer], net.beta[layer], s.eps)  # training mode
        np.testing.assert_allclose(rec.shown_mu[k], cache.mu, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(rec.shown_var[k], cache.var, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(rec.shown_gamma[k], net.gamma[layer], rtol=1e-6)  # before step's update
        np.testing.assert_allclose(rec.shown_beta[k], net.beta[layer], rtol=1e-6, atol=1e-7)
        # z_norm of the shown rows with the recorded mu_B, sigma²_B
        direct = (tap.z - rec.shown_mu[k].astype(float)) / np.sqrt(rec.shown_var[k].astype(float) + s.eps)
        np.testing.assert_allclose(rec.shown_z_norm[k], direct, rtol=F16, atol=F16)
        np.testing.assert_allclose(rec.shown_z_norm[k], cache.z_norm, rtol=F16, atol=F16)
        for unit in (0, 4):
            p = numbers.batch_points(run, layer, unit, k, "batch")
            assert p.step == step and p.m == s.batch_size and p.defined
            assert p.z_norm is not None and p.z_tilde is not None
            sd = np.sqrt(cache.var[unit] + s.eps)
            np.testing.assert_allclose(p.z, tap.z[:, unit], rtol=0, atol=F16 * sd * 3)
            np.testing.assert_allclose(p.z_norm, cache.z_norm[:, unit], rtol=F16, atol=F16)
            np.testing.assert_allclose(p.z_tilde, z_tilde[:, unit], rtol=F16, atol=F16 * 2)


def test_a_batch_of_one_normalizes_to_exactly_zero():
    run = train(Settings(batch_size=1, steps=30, width=4))
    for layer, rec in enumerate(run.layers):
        assert np.all(rec.shown_z_norm == 0) and np.all(rec.shown_var == 0)
        for k in (0, len(run.ckpt_steps) - 1):
            p = numbers.batch_points(run, layer, 1, k, "batch")
            assert p.z_norm is not None and p.z_tilde is not None
            assert len(p.z) == 1 and np.all(p.z_norm == 0)
            assert np.all(p.z_tilde == rec.shown_beta[k, 1]), "z̃ = β"
            assert p.z[0] == pytest.approx(float(rec.shown_mu[k, 1]))


def test_a_batch_of_two_normalizes_to_plus_and_minus_sigma_over_root_sigma2_plus_eps():
    s = Settings(batch_size=2, steps=30, width=4, eps=0.05)
    run = train(s)
    for rec in run.layers:
        var = rec.shown_var.astype(np.float64)
        expected = np.sqrt(var / (var + s.eps))  # σ_B / √(σ²_B + ε)
        assert (expected < 0.99).any() and (expected > 0.01).any(), "ε visibly narrows some"
        z_norm = rec.shown_z_norm.astype(np.float64)  # (n_ckpt, 2, width)
        both = expected[:, None, :].repeat(2, axis=1)
        np.testing.assert_allclose(np.abs(z_norm), both, rtol=F16, atol=1e-4)
        np.testing.assert_allclose(z_norm[:, 0], -z_norm[:, 1], rtol=F16, atol=1e-4)


@pytest.mark.parametrize("bias_correction", [False, True])
def test_running_and_population_normalization_are_direct_numpy(bias_correction):
    s = Settings(steps=60, width=5, decay=0.95, bias_correction=bias_correction)
    run = train(s)
    layer, unit = 1, 3
    rec = run.layers[layer]
    for k in (1, 10, len(run.ckpt_steps) - 1):
        t = int(run.ckpt_steps[k])
        z = numbers.batch_points(run, layer, unit, k, "batch").z
        pop = numbers.batch_points(run, layer, unit, k, "population")
        assert pop.z_norm is not None and pop.z_tilde is not None
        mu, var = float(rec.pop_mu[k, unit]), float(rec.pop_var[k, unit])
        np.testing.assert_allclose(pop.z_norm, (z - mu) / np.sqrt(var + s.eps), rtol=1e-6)
        g, b = float(rec.shown_gamma[k, unit]), float(rec.shown_beta[k, unit])
        np.testing.assert_allclose(pop.z_tilde, g * pop.z_norm + b, rtol=1e-6, atol=1e-9)
        running = numbers.batch_points(run, layer, unit, k, "running")
        assert running.z_norm is not None
        v_mu, v_var = float(rec.ckpt_running_mu[k, unit]), float(rec.ckpt_running_var[k, unit])
        if bias_correction:
            v_mu, v_var = v_mu / (1 - s.decay**t), v_var / (1 - s.decay**t)
        np.testing.assert_allclose(running.z_norm, (z - v_mu) / np.sqrt(v_var + s.eps), rtol=1e-5)
        assert running.defined and (running.mu[0], running.var[0]) == pytest.approx((v_mu, v_var), rel=1e-6)
        # the EWA at a checkpoint is the one recorded at that step
        i = list(run.stat_steps).index(t)
        assert rec.ckpt_running_var[k, unit] == rec.running_var[i, unit]
    at0 = numbers.batch_points(run, layer, unit, 0, "running")
    assert not at0.defined and at0.z_norm is not None
    assert np.isnan(at0.z_norm).all(), "v₀ = 0: nothing averaged at step 0"
    assert numbers.histogram(run, layer, unit, 0, 1, "running") is None
    assert not numbers.unit_numbers(run, layer, unit, 0, "running").defined


def test_unit_numbers_name_the_chosen_statistics():
    run = train(Settings(steps=40, width=4))
    rec, k = run.layers[0], 7
    batch = numbers.unit_numbers(run, 0, 2, k, "batch")
    assert (batch.mu, batch.var) == pytest.approx((rec.shown_mu[k, 2], rec.shown_var[k, 2]))
    assert batch.m == run.settings.batch_size and batch.stats == "batch"
    pop = numbers.unit_numbers(run, 0, 2, k, "population")
    assert pop.m == len(run.dataset.y_train) and pop.var == pytest.approx(rec.pop_var[k, 2])
    with pytest.raises(ValueError, match="normalize"):
        numbers.unit_numbers(run, 0, 2, k, "test")
    plain = train(Settings(steps=40, width=4, use_bn=False))
    assert numbers.unit_numbers(plain, 0, 1, k, "running").stats == "population", "no EWA without BN"


def test_histograms_normalized_with_other_statistics_move_the_z_bins():
    s = Settings(steps=60, width=6, gamma_init=-1.5, beta_init=0.5)  # γ < 0: Z̃'s bins reversed
    run = train(s)
    rec, layer, k = run.layers[1], 1, 12
    for unit in (0, 5):
        # with the population statistics the move gives the recorded histograms
        mu, var = rec.pop_mu[k, unit].astype(float), rec.pop_var[k, unit].astype(float)
        gamma, beta = float(rec.gamma[k, unit]), float(rec.beta[k, unit])
        z_edges = rec.hist_edges(k, 0, unit)
        norm_edges = (z_edges - mu) / np.sqrt(var + s.eps)
        ends = rec.hist_edges(k, 1, unit)[[0, -1]]
        np.testing.assert_allclose(norm_edges[[0, -1]], ends, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.sort(gamma * norm_edges[[0, -1]] + beta),
                                   rec.hist_edges(k, 2, unit)[[0, -1]], rtol=1e-4, atol=1e-5)  # fmt: skip
        # with the batch statistics: the Z counts over the moved edges
        got = numbers.histogram(run, layer, unit, k, 1, "batch")
        assert got is not None
        edges, counts = got
        bmu, bvar = float(rec.shown_mu[k, unit]), float(rec.shown_var[k, unit])
        np.testing.assert_allclose(edges, (z_edges - bmu) / np.sqrt(bvar + s.eps), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(counts, rec.hist_counts[k, 0, unit])
        got = numbers.histogram(run, layer, unit, k, 2, "batch")
        assert got is not None
        edges, counts = got
        assert np.all(np.diff(edges) > 0)
        np.testing.assert_array_equal(counts, rec.hist_counts[k, 0, unit][::-1])


def test_pooled_histograms_rebin_every_units_values_within_a_bin():
    """All units pooled, normalized with the batch statistics: against np.histogram of the
    values themselves (the training sample through the final weights)."""
    s = Settings(steps=60, width=8)
    run = train(s)
    k, layer = len(run.ckpt_steps) - 1, 0
    rec = run.layers[layer]
    z = nn.forward(run.net, run.dataset.X_train[:HIST_SAMPLE])[1][layer].z
    mu, var = rec.shown_mu[k].astype(float), rec.shown_var[k].astype(float)
    for q in (1, 2):
        values = (z - mu) / np.sqrt(var + s.eps)
        if q == 2:
            values = rec.gamma[k].astype(float) * values + rec.beta[k].astype(float)
        got = numbers.histogram(run, layer, -1, k, q, "batch")
        assert got is not None
        edges, counts = got
        assert edges[0] == pytest.approx(values.min(), abs=1e-4)
        assert edges[-1] == pytest.approx(values.max(), abs=1e-4)
        direct, _ = np.histogram(values.ravel(), bins=edges)
        assert counts.sum() == pytest.approx(values.size)
        assert np.abs(counts - direct).sum() < 0.1 * values.size, "the approximation stays within bins"


def _record_bytes(s: Settings) -> tuple[int, int]:
    """Bytes of a run's records (all checkpoints) with and without the shown mini-batch."""
    recorder = _RunRecorder(engine.Stack.create([s]))
    shown = sum(getattr(rec, f).nbytes for rec in recorder.layers for f in rec.__dataclass_fields__
                if f.startswith(("shown_", "ckpt_running_"))) + recorder.shown_steps.nbytes  # fmt: skip
    total = sum(rec.nbytes() for rec in recorder.layers) + recorder.loss.nbytes + recorder.shown_steps.nbytes
    total += 0 if recorder.boundary is None else recorder.boundary.nbytes
    return total, total - shown


@pytest.mark.parametrize("changes", [
    {}, {"depth": 2, "activation": "relu"}, {"use_bn": False}, {"batch_size": 128, "width": 32},
    {"dataset": "moons", "width": 128, "depth": 8, "steps": 400},  # the widest, deepest run allowed
    {"dataset": "digits", "width": 128, "depth": 4, "steps": 400},
])  # fmt: skip
def test_the_shown_batch_does_not_double_a_run(changes):
    s = Settings(**changes)
    total, without = _record_bytes(s)
    assert total < 2 * without
    recorder = _RunRecorder(engine.Stack.create([s]))
    rows, per_row = recorder.rows_shown, len(recorder.ckpt_steps) * s.width * s.depth
    assert rows == min(s.batch_size, BATCH_SHOWN, MAX_BATCH_VALUES // per_row)
    assert rows * per_row <= MAX_BATCH_VALUES


def test_a_trained_run_with_its_batches_stays_small(recorded):
    run = train(Settings(depth=2, activation="relu"))  # 2 x 16 ReLU units
    assert run.nbytes() < 1_000_000
    shown = sum(getattr(rec, f).nbytes for rec in run.layers for f in rec.__dataclass_fields__
                if f.startswith(("shown_", "ckpt_running_")))  # fmt: skip
    assert shown < 0.5 * (run.nbytes() - shown)

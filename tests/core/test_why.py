"""why.py: the loss landscape along training against a direct computation, the gradient's
change vanishing with the step, noisy BN at n = 0 being plain BN, and the noise the view
puts into the covariate-shift view's percentiles being the noise training drew."""

from __future__ import annotations

import numpy as np
import pytest

from bnviz import Settings, engine, nn, teach, why
from bnviz.data import load
from bnviz.train import HIST_SAMPLE, PERCENTILES, train

SMALL = Settings(depth=2, width=6, batch_size=8, steps=60, optimizer="sgd", lr=0.3, seed=4)


def direct_batch(s: Settings, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Step t's mini-batch (X, one-hot Y) as the engine's docstring defines it: after the
    initial weights, the generator default_rng([seed, 1]) draws one permutation per epoch;
    each epoch is cut into batches of m (the partial last one dropped)."""
    ds = load(s.dataset, s.noise, s.seed)
    rng = np.random.default_rng([s.seed, 1])
    sizes = (ds.n_features,) + (s.width,) * s.depth + (ds.n_classes,)
    nn.init(nn.create(sizes, s.activation, s.use_bn, s.eps), rng, s.gamma_init, s.beta_init)
    per_epoch = ds.X_train.shape[0] // s.batch_size
    order = None
    for step in range(1, t + 1):
        if (step - 1) % per_epoch == 0:
            order = rng.permutation(ds.X_train.shape[0])
    assert order is not None
    pos = ((t - 1) % per_epoch) * s.batch_size
    rows = order[pos : pos + s.batch_size]
    return ds.X_train[rows], np.eye(ds.n_classes)[ds.y_train[rows]]


def weights_after(s: Settings, t: int) -> np.ndarray:
    """θ_t: the weights after t steps (the first t steps do not depend on the total)."""
    stack = engine.Stack.create([s.replace(steps=t)])
    engine.train(stack, engine.Recorder())
    return stack.net.theta[0].copy()


def direct_loss_grad(
    s: Settings, theta: np.ndarray, X: np.ndarray, Y: np.ndarray
) -> tuple[float, np.ndarray]:
    """One network (no stack), training mode: loss and gradient at theta."""
    net = nn.create((X.shape[1],) + (s.width,) * s.depth + (Y.shape[1],), s.activation, s.use_bn, s.eps)
    net.theta[...] = theta
    logits, taps = nn.forward(net, X)
    loss = float(nn.backward(net, logits, taps, Y))
    return loss, net.grad.copy()


@pytest.mark.parametrize("use_bn", [True, False])
def test_the_landscape_is_the_direct_computation(use_bn):
    s = SMALL.replace(use_bn=use_bn)
    (ls,) = why.landscape([s], probes=3)
    assert ls.steps.tolist() == [20, 40, 60]  # step 60 is in the second epoch (50 batches of 8)
    np.testing.assert_allclose(ls.eta, [s.lr * c for c in why.STEP_MULTIPLIERS])
    for i, t in enumerate(ls.steps.tolist()):
        X, Y = direct_batch(s, t)
        theta = weights_after(s, t)
        loss0, g0 = direct_loss_grad(s, theta, X, Y)
        assert ls.loss[i] == pytest.approx(loss0, rel=1e-12)
        assert ls.grad_norm[i] == pytest.approx(np.linalg.norm(g0), rel=1e-12)
        losses, changes = [], []
        for j, eta in enumerate(ls.eta):
            loss_j, g_j = direct_loss_grad(s, theta - eta * g0, X, Y)
            losses.append(loss_j)
            changes.append(np.linalg.norm(g0 - g_j))
            assert ls.probe_loss[i, j] == pytest.approx(loss_j, rel=1e-10)
            assert ls.grad_change[i, j] == pytest.approx(changes[-1], rel=1e-8, abs=1e-14)
        assert ls.loss_variation[i] == pytest.approx(max(losses) - min(losses), rel=1e-8, abs=1e-14)
        assert ls.max_grad_change[i] == pytest.approx(max(changes), rel=1e-8)
        ratio = max(c / (eta * np.linalg.norm(g0)) for c, eta in zip(changes, ls.eta))
        assert ls.smoothness[i] == pytest.approx(ratio, rel=1e-8)


def test_the_probe_leaves_training_untouched():
    (probed,) = why.landscape([SMALL], probes=5)
    stack = engine.Stack.create([SMALL])
    engine.train(stack, engine.Recorder())
    assert np.isfinite(probed.loss).all()
    plain = weights_after(SMALL, SMALL.steps)
    np.testing.assert_array_equal(stack.net.theta[0], plain)
    recorder_stack = engine.Stack.create([SMALL])
    recorder = why.LandscapeRecorder(recorder_stack, why.probe_steps(SMALL.steps, 5))
    engine.train(recorder_stack, recorder)
    np.testing.assert_array_equal(recorder_stack.net.theta[0], plain)


def test_the_gradient_change_vanishes_with_the_step():
    tiny = (1e-9, 1e-7)
    for use_bn in (True, False):
        (ls,) = why.landscape([SMALL.replace(use_bn=use_bn)], probes=4, multipliers=tiny)
        assert (ls.grad_change < 1e-5 * ls.grad_norm[:, None]).all()
        # ‖∇L(θ) − ∇L(θ − ηg)‖ ≈ η‖H g‖: linear in η as η → 0
        per_eta = ls.grad_change / ls.eta[None, :]
        np.testing.assert_allclose(per_eta[:, 0], per_eta[:, 1], rtol=1e-3)
        assert (ls.loss_variation < 1e-5).all()


def test_stacked_seeds_are_each_their_own_run():
    seeds = [SMALL.replace(seed=k) for k in (1, 2)]
    both = why.landscape(seeds, probes=3)
    for s, ls in zip(seeds, both):
        (alone,) = why.landscape([s], probes=3)
        np.testing.assert_allclose(ls.probe_loss, alone.probe_loss, rtol=1e-12)
        np.testing.assert_allclose(ls.grad_change, alone.grad_change, rtol=1e-9, atol=1e-15)
        assert ls.settings == s


def test_probe_steps_cover_training():
    assert why.probe_steps(500).tolist() == list(range(25, 501, 25))
    assert why.probe_steps(3, 20).tolist() == [1, 2, 3]
    assert why.probe_steps(1).tolist() == [1]


def test_the_summary_and_table_ignore_probes_after_a_divergence():
    nan = np.nan
    ls = why.Landscape(
        settings=SMALL, steps=np.array([10, 20, 30]), eta=np.array([0.1, 0.2]),
        loss=np.array([1.0, 0.9, nan]), grad_norm=np.array([2.0, 1.0, nan]),
        probe_loss=np.array([[0.8, 0.7], [0.85, 0.95], [nan, nan]]),
        grad_change=np.array([[0.1, 0.3], [0.2, 0.2], [nan, nan]]),
    )  # fmt: skip
    np.testing.assert_allclose(ls.loss_variation[:2], [0.1, 0.1])
    np.testing.assert_allclose(ls.smoothness[:2], [max(0.1 / 0.2, 0.3 / 0.4), max(0.2 / 0.1, 0.2 / 0.2)])
    s = why.summary(ls)
    assert s.loss_variation == pytest.approx(0.1)
    assert s.grad_change == pytest.approx(0.25)
    assert list(ls.table().columns)[:3] == ["step", "loss", "loss_min"]


def test_noisy_bn_with_n_0_is_plain_bn():
    s = SMALL.replace(steps=60)
    plain, noisy0 = train(s), train(s.replace(bn_noise=0.0))
    bn, _, _ = why.noise_settings(s, 0.0)
    assert bn == s
    np.testing.assert_array_equal(plain.loss, noisy0.loss)
    np.testing.assert_array_equal(why.noisy_percentiles(noisy0), plain.layers[-1].percentiles[:, 2])
    noisy = train(s.replace(bn_noise=1.0))
    assert not np.array_equal(plain.loss, noisy.loss)
    scale, shift = why.step_noise(s, [1, 5])
    assert (scale == 1).all() and (shift == 0).all()


class _NoiseTaps(engine.Recorder):
    def __init__(self) -> None:
        self.seen: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}

    def on_step(self, t, loss, taps, stack):
        self.seen[t] = [(tap.noise[0][0].copy(), tap.noise[1][0].copy()) for tap in taps]


def test_the_replayed_noise_is_the_noise_training_added():
    s = SMALL.replace(bn_noise=2.0, steps=12)
    stack = engine.Stack.create([s])
    seen = _NoiseTaps()
    engine.train(stack, seen)
    steps = [1, 7, 12]
    scale, shift = why.step_noise(s, steps)
    for i, t in enumerate(steps):
        for l, (s_l, d_l) in enumerate(seen.seen[t]):
            np.testing.assert_array_equal(scale[i, l], s_l)
            np.testing.assert_array_equal(shift[i, l], d_l)
    assert (scale > 1 / 3 - 1e-12).all() and (scale < 3).all() and (np.abs(shift) < 2).all()


def test_noisy_percentiles_are_those_of_the_noisy_sigmoid_input():
    s = SMALL.replace(bn_noise=1.0, steps=40, activation="sigmoid")
    run = train(s)
    p = why.noisy_percentiles(run)
    # the last checkpoint: the final weights, the training set in one batch, step 41's noise
    _, taps, _ = engine.population(run.net, run.dataset.X_train[None].astype(np.float64))
    z_tilde = taps[-1].z_tilde[0, :HIST_SAMPLE]
    scale, shift = why.step_noise(s, [s.steps + 1])
    direct = np.percentile(z_tilde * scale[0, -1] + shift[0, -1], PERCENTILES, axis=0)
    np.testing.assert_allclose(p[-1], direct, rtol=1e-5, atol=1e-5)
    assert why.drift_of(p)[0] > why.drift_of(train(s.replace(bn_noise=0.0)).layers[-1].percentiles[:, 2])[0]


def test_the_covariate_network_shares_the_covariate_views_runs():
    bn, noisy, plain = why.noise_settings(why.base_settings("covariate"), 1.0)
    assert bn == teach.covariate_settings(True)
    assert plain.canonical() == teach.covariate_settings(False).canonical()
    assert noisy.bn_noise == 1.0 and noisy.use_bn
    assert why.base_settings("explorer").optimizer == "sgd"
    with pytest.raises(ValueError, match="network must be one of"):
        why.base_settings("vgg")


def test_on_the_explorers_network_noise_moves_the_inputs_but_not_the_accuracy():
    """The paper's noisy-BN finding, on the cheap network: the drift of the sigmoid's input
    grows with the noise, noisy BN stays within a few points of BN and above no BN."""
    runs = [train(s) for s in why.noise_settings(why.base_settings("explorer"), 1.0)]
    result = why.noise_result(runs, ("BN", "noisy BN", "no BN"))
    acc_bn, acc_noisy, acc_plain = result.final_test_acc
    assert acc_noisy > acc_plain + 0.05
    assert acc_noisy > acc_bn - 0.05
    assert result.drift[1] > 3 * result.drift[0]
    assert result.drift[1] > result.drift[2]

"""The training loop: stacked models train as they would alone, in the documented order."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from bnviz import Settings, bn, data, engine, nn


class Log(engine.Recorder):
    """Every step's loss and input batch, and every checkpoint's step and interval loss."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.batches: list[NDArray] = []
        self.checkpoints: list[tuple[int, int]] = []
        self.last_t: list[NDArray] = []
        self.last_loss: list[NDArray] = []

    def on_step(self, t: int, loss: NDArray, taps: list[nn.Tap], stack: engine.Stack) -> None:
        self.steps.append(t)
        self.batches.append(taps[0].a_prev)

    def on_checkpoint(self, k: int, t: int, stack: engine.Stack) -> None:
        self.checkpoints.append((k, t))
        self.last_t.append(stack.last.t.copy())
        self.last_loss.append(stack.last_loss.copy())


def trained(settings: list[Settings], recorder: engine.Recorder | None = None) -> engine.Stack:
    return engine.train(engine.Stack.create(settings), recorder or engine.Recorder())


def assert_each_model_trains_as_alone(stack: engine.Stack) -> None:
    """Each model of ``stack`` ends bit for bit where it ends trained alone: its weights,
    its running estimates and its last loss."""
    for k, s in enumerate(stack.settings):
        alone = trained([s])
        np.testing.assert_array_equal(stack.net.theta[k], alone.net.theta[0])
        for (mu, var), (amu, avar) in zip(stack.now.running, alone.now.running):
            np.testing.assert_array_equal(mu[k], amu[0])
            np.testing.assert_array_equal(var[k], avar[0])
        assert stack.last_loss[k] == alone.last_loss[0]


def test_each_stacked_model_trains_bit_for_bit_as_it_would_alone():
    base = Settings(steps=60, optimizer="adam", lr=0.01)
    group = [
        base,
        base.replace(lr=0.05, eps=1e-3, decay=0.99, gamma_init=0.5, seed=3),
        base.replace(freeze_affine=True, beta_init=0.5, noise=0.4, bias_correction=True),
        base.replace(eps=0.0, decay=0.5, seed=7),
    ]
    stack = trained(group)
    assert_each_model_trains_as_alone(stack)
    frozen = trained([group[2]]).net
    assert np.all(frozen.gamma[0] == 1.0) and np.all(frozen.beta[1] == 0.5)


def test_mini_batches_are_one_permutation_per_epoch_without_the_last_partial_batch():
    s = Settings(batch_size=64, steps=14)
    log = Log()
    trained([s], log)
    ds = data.load(s.dataset, s.noise, s.seed)
    n = len(ds.X_train)
    per_epoch = n // s.batch_size
    assert n % s.batch_size, "the test is about a dropped partial batch"
    rng = np.random.default_rng([s.seed, 1])
    sizes = (2, *[s.width] * s.depth, 2)
    nn.init(nn.create(sizes, s.activation, s.use_bn, s.eps), rng, s.gamma_init, s.beta_init)
    expected: list[NDArray] = []
    while len(expected) < s.steps:
        order = rng.permutation(n)
        expected += [order[i * s.batch_size : (i + 1) * s.batch_size] for i in range(per_epoch)]
    assert log.steps == list(range(1, s.steps + 1))
    for X, idx in zip(log.batches, expected):
        np.testing.assert_array_equal(X[0], ds.X_train[idx])


def test_the_recorder_sees_every_checkpoint_with_its_interval_loss():
    s = Settings(steps=30)
    log = Log()
    stack = trained([s], log)
    assert log.checkpoints == list(enumerate(engine.checkpoint_steps(30)))
    assert [int(t[0]) for t in log.last_t] == [t for _, t in log.checkpoints]
    sizes = (2, *[s.width] * s.depth, 2)
    initial = nn.init(nn.create(sizes, s.activation, s.use_bn, s.eps), np.random.default_rng([s.seed, 1]))
    logits, _, _ = engine.population(initial, stack.X_train[0])
    whole_set_loss = nn.softmax_cross_entropy(logits, stack.Y_train[0])[0]
    assert log.last_loss[0][0] == pytest.approx(whole_set_loss, rel=1e-12)  # step 0: no mini-batch yet
    assert all(np.isfinite(loss).all() for loss in log.last_loss)


def test_a_diverging_model_stops_alone_and_the_loop_ends_when_every_model_has():
    base = Settings(steps=100, use_bn=False, activation="linear")
    healthy, exploding = base.replace(lr=0.05), base.replace(lr=10.0)
    log = Log()
    stack = trained([healthy, exploding], log)
    assert stack.alive.tolist() == [True, False]
    d = stack.divergence[1]
    assert d is not None and d.loss is not None and not d.loss <= engine.DIVERGED_LOSS
    assert stack.steps_done().tolist() == [100, d.step - 1]
    np.testing.assert_array_equal(stack.net.theta[0], trained([healthy]).net.theta[0])
    assert np.isfinite(stack.last.net.theta).all()  # the diverged model's last checkpoint
    alone = Log()
    trained([exploding], alone)
    assert alone.steps == list(range(1, d.step))  # no step reported past the divergence


def test_corrected_estimates_divide_by_one_minus_decay_to_the_t_from_the_first_step_on():
    mu, var = np.array([[0.5, 1.0], [2.0, 3.0]]), np.array([[1.0, 2.0], [3.0, 4.0]])
    decay, t = np.array([[0.9], [0.99]]), np.array([[0], [5]])
    [(cmu, cvar)] = engine.corrected([(mu, var)], decay, t)
    np.testing.assert_array_equal(cmu[0], mu[0])  # t = 0: nothing averaged yet, v_0 as it is
    np.testing.assert_array_equal(cmu[1], bn.bias_corrected(mu[1], 0.99, 5))
    np.testing.assert_array_equal(cvar[1], bn.bias_corrected(var[1], 0.99, 5))


def test_each_model_infers_with_its_own_choice_of_statistics():
    stack = trained([Settings(steps=20, decay=0.99), Settings(steps=20, decay=0.99, bias_correction=True)])
    [(mu, _), *_] = stack.now.chosen()
    [(cmu, _), *_] = stack.now.corrected()
    np.testing.assert_array_equal(mu[0], stack.now.running[0][0][0])
    np.testing.assert_array_equal(mu[1], cmu[1])
    assert not np.array_equal(cmu[1], stack.now.running[0][0][1])


def test_models_that_differ_in_a_shape_cannot_stack():
    with pytest.raises(ValueError, match="share"):
        engine.Stack.create([Settings(), Settings(width=8)])


class Noises(engine.Recorder):
    """The noise after BN each step's forward pass applied (per layer: s, d)."""

    def __init__(self) -> None:
        self.noise: list[list[tuple[NDArray, NDArray] | None]] = []

    def on_step(self, t: int, loss: NDArray, taps: list[nn.Tap], stack: engine.Stack) -> None:
        self.noise.append(
            [None if tap.noise is None else (tap.noise[0].copy(), tap.noise[1].copy()) for tap in taps]
        )


def test_noise_after_bn_is_fresh_every_step_within_its_limits_and_only_in_training():
    n = 0.5
    s = Settings(steps=12, bn_noise=n, depth=2, width=6)
    log = Noises()
    stack = trained([s], log)
    assert len(log.noise) == 12 and all(len(step) == 2 for step in log.noise)
    scales = np.array([[layer[0][0] for layer in step] for step in log.noise])  # type: ignore[index]
    shifts = np.array([[layer[1][0] for layer in step] for step in log.noise])  # type: ignore[index]
    assert scales.min() >= 1 / (1 + n) and scales.max() <= 1 + n
    assert shifts.min() >= -n and shifts.max() <= n
    assert len(np.unique(scales)) == scales.size and len(np.unique(shifts)) == shifts.size
    # drawn from the model's own noise generator [seed, 2]: all layers' s, then all layers' d
    rng = np.random.default_rng([s.seed, 2])
    np.testing.assert_array_equal(scales[0], rng.uniform(1 / (1 + n), 1 + n, (2, 6)))
    np.testing.assert_array_equal(shifts[0], rng.uniform(-n, n, (2, 6)))
    # the noise changes training; inference (population, evaluate) adds none: deterministic
    quiet = trained([s.replace(bn_noise=0.0)])
    assert not np.array_equal(stack.net.theta, quiet.net.theta)
    _, _, pop = engine.population(stack.net, stack.X_train)
    a, b = engine.evaluate(stack, stack.now, pop), engine.evaluate(stack, stack.now, pop)
    assert all(np.array_equal(a[key], b[key]) for key in a)


def test_without_noise_nothing_is_drawn_and_a_noisy_neighbour_changes_nothing():
    base = Settings(steps=40)
    log = Noises()
    stack = trained([base], log)
    assert all(layer is None for step in log.noise for layer in step)  # forward without noise
    untouched = np.random.default_rng([base.seed, 2]).bit_generator.state
    assert stack.noise_rngs[0].bit_generator.state == untouched
    mixed = trained([base, base.replace(bn_noise=1.0), base.replace(bn_noise=0.2, seed=4)])
    assert_each_model_trains_as_alone(mixed)
    np.testing.assert_array_equal(mixed.net.theta[0], stack.net.theta[0])


def test_noise_after_bn_does_nothing_without_bn():
    plain = Settings(steps=30, use_bn=False)
    np.testing.assert_array_equal(
        trained([plain.replace(bn_noise=2.0)]).net.theta, trained([plain]).net.theta
    )
    assert plain.replace(bn_noise=2.0).canonical() == plain


@pytest.mark.parametrize("norm", ["layer", "group", "renorm"])
def test_stacked_models_of_every_norm_train_bit_for_bit_as_alone(norm):
    base = Settings(steps=40, optimizer="adam", lr=0.01, normalization=norm, groups=3)
    group = [
        base,
        base.replace(lr=0.05, eps=1e-3, decay=0.99, gamma_init=0.5, seed=3, bn_noise=0.3),
        base.replace(freeze_affine=True, beta_init=0.5, noise=0.4, bias_correction=True),
        base.replace(renorm_r_max=1.5, renorm_d_max=0.5, decay=0.5, seed=7),
    ]
    stack = trained(group)
    assert_each_model_trains_as_alone(stack)
    taken = stack.now.take(np.array([3]))  # a copy keeps each model's own r/d limits
    np.testing.assert_array_equal(np.asarray(taken.net.r_max), [[1.5]])
    if norm == "renorm":
        assert not np.array_equal(
            stack.net.theta[0], trained([base.replace(normalization="batch")]).net.theta[0]
        )
    else:  # no running estimates: they stay v_0 = 0
        assert all(not mu.any() and not var.any() for mu, var in stack.now.running)


def test_batch_renorm_with_r_max_1_and_d_max_0_trains_exactly_like_batch_norm():
    s = Settings(steps=50, decay=0.8)
    renorm = trained([s.replace(normalization="renorm", renorm_r_max=1.0, renorm_d_max=0.0)])
    batch = trained([s])
    np.testing.assert_array_equal(renorm.net.theta, batch.net.theta)
    for (mu, var), (bmu, bvar) in zip(renorm.now.running, batch.now.running):
        np.testing.assert_array_equal(mu, bmu)
        np.testing.assert_array_equal(var, bvar)


def test_layer_norm_trains_on_batches_of_one_where_batch_norm_cannot():
    s = Settings(batch_size=1, activation="tanh", lr=0.01, steps=300, depth=2)
    acc = {}
    for norm in ("layer", "batch"):
        stack = trained([s.replace(normalization=norm)])
        _, _, pop = engine.population(stack.net, stack.X_train)
        acc[norm] = engine.evaluate(stack, stack.now, pop)
    # BN at m = 1: z_norm = 0, so z_tilde = beta and no gradient reaches the hidden weights
    assert acc["layer"]["test_acc"][0] > 0.85 and acc["batch"]["test_acc"][0] < 0.7
    # LayerNorm has no statistics to choose at inference: one number in every column
    assert len({float(v[0]) for key, v in acc["layer"].items() if key.startswith("test_acc")}) == 1


def test_group_norm_models_stack_only_with_equal_groups_and_bn_ignores_groups():
    with pytest.raises(ValueError, match="share"):
        engine.Stack.create(
            [Settings(normalization="group", groups=2), Settings(normalization="group", groups=3)]
        )
    assert engine.group_key(Settings(groups=2)) == engine.group_key(Settings(groups=3))
    assert engine.group_key(Settings(use_bn=False, normalization="layer")) == engine.group_key(
        Settings(use_bn=False)
    )


def test_the_normalization_after_g_trains_stacked_as_alone_and_differs_from_before():
    base = Settings(steps=40, bn_position="after", activation="tanh")
    group = [base, base.replace(lr=0.2, seed=5, bn_noise=0.2), base.replace(decay=0.5, eps=1e-3)]
    stack = trained(group)
    assert_each_model_trains_as_alone(stack)
    before = trained([base.replace(bn_position="before")])
    assert not np.array_equal(before.net.theta[0], stack.net.theta[0])
    # the running estimates average what BN normalizes there: tanh's output, within (-1, 1)
    assert all(np.abs(mu).max() < 1 and var.max() < 1 for mu, var in stack.now.running)
    plain = Settings(steps=40, use_bn=False)
    assert engine.group_key(plain.replace(bn_position="after")) == engine.group_key(plain)


@pytest.mark.parametrize("changes", [
    {}, {"activation": "relu", "bn_position": "after"}, {"normalization": "renorm", "activation": "tanh"},
    {"eps": 0.0, "batch_size": 1}, {"dataset": "digits", "width": 16, "depth": 2, "bias_correction": True},
])  # fmt: skip
def test_one_stacked_pass_gives_the_logits_of_one_forward_pass_per_choice_bit_for_bit(changes):
    base = Settings(steps=30, **changes)
    for group in ([base], [base, base.replace(seed=2, eps=1e-2, decay=0.5)]):
        stack = trained(group)
        net = stack.net
        _, _, population = engine.population(net, stack.X_train)
        choices = [stack.now.running, population, None, stack.now.corrected()]
        for X in (stack.X_test, stack.X_train):
            many = engine.logits_many(net, X, choices)
            assert many.shape == (len(choices), len(group), X.shape[1], net.sizes[-1])
            for got, stats in zip(many, choices):
                np.testing.assert_array_equal(got, nn.forward(net, X, stats)[0])
            np.testing.assert_array_equal(engine.predict_many(net, X, choices)[2], nn.predict(net, X, None))


def test_evaluate_gives_each_accuracy_of_its_own_prediction():
    s = Settings(steps=40, bias_correction=True, decay=0.99)  # corrected differs from running here
    stack = trained([s, s.replace(bias_correction=False, seed=1)])
    _, _, population = engine.population(stack.net, stack.X_train)
    acc = engine.evaluate(stack, stack.now, population)
    X, y = stack.X_test, stack.y_test
    for which in nn.STATS:
        stats = engine.final_stats(which, stack.now.running, population, 0.99, 40)
        alone = (nn.predict(stack.net, X, stats) == y).mean(axis=-1)
        np.testing.assert_array_equal(acc[engine.STATS_COLUMNS[which]], alone)
    chosen = stack.now.chosen()
    np.testing.assert_array_equal(acc["test_acc"], (nn.predict(stack.net, X, chosen) == y).mean(axis=-1))

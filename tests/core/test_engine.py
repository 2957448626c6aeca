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


def test_each_stacked_model_trains_bit_for_bit_as_it_would_alone():
    base = Settings(steps=60, optimizer="adam", lr=0.01)
    group = [
        base,
        base.replace(lr=0.05, eps=1e-3, decay=0.99, gamma_init=0.5, seed=3),
        base.replace(freeze_affine=True, beta_init=0.5, noise=0.4, bias_correction=True),
        base.replace(eps=0.0, decay=0.5, seed=7),
    ]
    stack = trained(group)
    for k, s in enumerate(group):
        alone = trained([s])
        np.testing.assert_array_equal(stack.net.theta[k], alone.net.theta[0])
        for (mu, var), (amu, avar) in zip(stack.now.running, alone.now.running):
            np.testing.assert_array_equal(mu[k], amu[0])
            np.testing.assert_array_equal(var[k], avar[0])
        assert stack.last_loss[k] == alone.last_loss[0]
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

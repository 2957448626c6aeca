"""The MLP: whole-network gradients against finite differences, the redundant bias, stacking."""

import numpy as np
import pytest

from bnviz import nn

from .test_bn import numeric_grad, rel_error


def make(sizes=(3, 6, 5, 4), activation="tanh", use_bn=True, eps=1e-3, seed=0, lead=()):
    rng = np.random.default_rng(seed)
    net = nn.create(sizes, activation, use_bn, eps, lead=lead)
    nn.init(net, rng, gamma_init=1.3, beta_init=0.2)
    net.b[0][...] = rng.standard_normal(net.b[0].shape)  # a non-zero bias, so its effect would show
    return net, rng


def batch(rng, m, sizes=(3, 6, 5, 4), lead=()):
    X = rng.standard_normal(lead + (m, sizes[0]))
    Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], lead + (m,))]
    return X, Y


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "linear", "relu"])
@pytest.mark.parametrize("use_bn", [True, False])
@pytest.mark.parametrize("m", [2, 5, 16])
def test_whole_network_gradient_matches_finite_differences(activation, use_bn, m):
    net, rng = make(activation=activation, use_bn=use_bn, eps=0.1 if m == 2 else 1e-3)
    X, Y = batch(rng, m)
    if activation == "relu":  # keep pre-activations off ReLU's kink at exactly 0
        for beta in net.beta:
            beta[...] = 0.7
        for b in net.b[1:-1]:
            b[...] = 0.1  # an example whose units are all dead would otherwise give z == 0

    def loss():
        logits, _ = nn.forward(net, X)
        return float(nn.softmax_cross_entropy(logits, Y)[0])

    logits, taps = nn.forward(net, X)
    nn.backward(net, logits, taps, Y)
    analytic = net.grad.copy()
    numeric = numeric_grad(loss, net.theta)
    assert rel_error(analytic, numeric) < 1e-6


def test_bias_gradient_is_zero_with_bn_and_not_without():
    for use_bn in (True, False):
        net, rng = make(use_bn=use_bn)
        X, Y = batch(rng, 32)
        logits, taps = nn.forward(net, X)
        nn.backward(net, logits, taps, Y)
        hidden_db = np.concatenate([db.ravel() for db in net.db[:-1]])
        if use_bn:
            assert np.max(np.abs(hidden_db)) < 1e-15  # zero to machine precision
        else:
            assert np.max(np.abs(hidden_db)) > 1e-3


def test_shifting_the_bias_changes_nothing_after_bn():
    net, rng = make()
    X, _ = batch(rng, 20)
    before, taps_before = nn.forward(net, X)
    net.b[0][...] += 100.0
    after, taps_after = nn.forward(net, X)
    np.testing.assert_allclose(after, before, atol=1e-10)
    np.testing.assert_allclose(taps_after[0].z - taps_before[0].z, 100.0, rtol=1e-12)  # Z moved, Z~ did not


def test_inference_with_the_batch_statistics_equals_training_mode():
    net, rng = make()
    X, _ = batch(rng, 12)
    train_logits, taps = nn.forward(net, X)
    stats = []
    for t in taps:
        assert t.cache is not None, "a BN layer keeps its cache in training mode"
        stats.append((t.cache.mu, t.cache.var))
    infer_logits, infer_taps = nn.forward(net, X, stats)
    np.testing.assert_allclose(infer_logits, train_logits, rtol=1e-12)
    for a, b in zip(infer_taps, taps):
        assert a.z_norm is not None and b.z_norm is not None
        np.testing.assert_allclose(a.z_norm, b.z_norm, rtol=1e-12)


def test_taps_record_z_z_norm_z_tilde_a():
    net, rng = make(activation="sigmoid")
    X, _ = batch(rng, 8)
    _, taps = nn.forward(net, X)
    assert len(taps) == net.depth == 2
    t = taps[0]
    np.testing.assert_allclose(t.z, X @ net.W[0] + net.b[0])
    np.testing.assert_allclose(t.z_tilde, net.gamma[0] * t.z_norm + net.beta[0])
    np.testing.assert_allclose(t.a, 1 / (1 + np.exp(-t.z_tilde)))


def test_a_stack_of_models_computes_each_model_as_if_alone():
    K = 3
    stack, rng = make(lead=(K,))
    singles = []
    for k in range(K):
        net, _ = make()
        net.theta[...] = stack.theta[k]
        singles.append(net)
    stack.eps = np.array([1e-3, 1e-3, 1e-3])[:, None]
    X, Y = batch(rng, 10, lead=(K,))
    logits, taps = nn.forward(stack, X)
    loss = nn.backward(stack, logits, taps, Y)
    for k, net in enumerate(singles):
        lk, tk = nn.forward(net, X[k])
        loss_k = nn.backward(net, lk, tk, Y[k])
        np.testing.assert_allclose(logits[k], lk, rtol=1e-12)
        assert loss[k] == pytest.approx(loss_k, rel=1e-12)
        np.testing.assert_allclose(stack.grad[k], net.grad, rtol=1e-10, atol=1e-14)


def test_parameters_are_views_into_one_flat_array():
    net, _ = make()
    net.theta[...] = 7.0
    assert all(np.all(p == 7.0) for p in net.W + net.b + net.gamma + net.beta)
    n = sum(p.size for p in net.W + net.b + net.gamma + net.beta)
    assert n == net.theta.size


def test_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="activation"):
        nn.create((2, 3, 2), activation="swish")

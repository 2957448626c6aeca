"""The MLP: whole-network gradients against finite differences, the redundant bias, stacking."""

from typing import Any

import numpy as np
import pytest

from bnviz import bn, nn, norms

from .test_bn import numeric_grad, rel_error


def make(sizes=(3, 6, 5, 4), activation="tanh", use_bn=True, eps=1e-3, seed=0, lead=(), **norm):
    rng = np.random.default_rng(seed)
    net = nn.create(sizes, activation, use_bn, eps, lead=lead, **norm)
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


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_the_gradient_goes_exactly_through_noise_after_bn(activation):
    net, rng = make(activation=activation)
    X, Y = batch(rng, 7)
    noise = [(rng.uniform(0.5, 2.0, n), rng.uniform(-1.0, 1.0, n)) for n in net.sizes[1:-1]]
    if activation == "relu":  # keep pre-activations off ReLU's kink at exactly 0
        for b in net.b[1:-1]:
            b[...] = 0.1

    def loss():
        logits, _ = nn.forward(net, X, None, noise)
        return float(nn.softmax_cross_entropy(logits, Y)[0])

    logits, taps = nn.forward(net, X, None, noise)
    for l, (tap, (s, d)) in enumerate(zip(taps, noise)):  # z_tilde' = s * z_tilde + d feeds g
        assert tap.z_norm is not None
        z_tilde = net.gamma[l] * tap.z_norm + net.beta[l]
        np.testing.assert_allclose(tap.z_tilde, s * z_tilde + d, rtol=1e-12)
        np.testing.assert_allclose(
            tap.a, np.tanh(tap.z_tilde) if activation == "tanh" else np.maximum(tap.z_tilde, 0)
        )
    nn.backward(net, logits, taps, Y)
    analytic = net.grad.copy()
    assert rel_error(analytic, numeric_grad(loss, net.theta)) < 1e-6
    plain, plain_taps = nn.forward(net, X)
    assert np.abs(plain - logits).max() > 1e-3  # the noise changed the logits
    stats = [(t.cache.mu, t.cache.var) for t in plain_taps if t.cache is not None]
    inferred, _ = nn.forward(net, X, stats, noise)  # inference ignores the noise
    np.testing.assert_allclose(inferred, plain, rtol=1e-12)


def test_unit_noise_changes_nothing():
    net, rng = make()
    X, _ = batch(rng, 9)
    plain, _ = nn.forward(net, X)
    ones = [(np.ones(n), np.zeros(n)) for n in net.sizes[1:-1]]
    np.testing.assert_array_equal(nn.forward(net, X, None, ones)[0], plain)


NORMS: dict[
    str, dict[str, Any]
] = {  # each normalization with its settings, on a network whose widths 6, 6 suit groups=3
    "layer": {"norm": "layer"},
    "group": {"norm": "group", "groups": 3},
    "group-1": {"norm": "group", "groups": 1},
    "renorm": {"norm": "renorm", "r_max": 2.0, "d_max": 0.5},
}


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
# (a batch of one has no batch variance for Batch Renorm to renormalize: not a case)
@pytest.mark.parametrize(("norm", "m"), [(n, m) for n in NORMS for m in (1, 2, 5, 16)
                                         if not (n == "renorm" and m == 1)])  # fmt: skip
def test_whole_network_gradient_matches_finite_differences_for_every_norm(activation, norm, m):
    sizes = (3, 6, 6, 4)
    eps = 0.1 if m <= 2 else 1e-3
    if norm == "renorm":
        eps = 1e-6  # with running var 1e-6 below: sigma = sqrt(2e-6), far under every sigma_B
    net, rng = make(sizes, activation, eps=eps, **NORMS[norm])
    X, Y = batch(rng, m, sizes)
    running = None
    if norm == "renorm":
        # running estimates far from the batch's, so r and d sit at their clip limits: there
        # they are constant, and the stop-gradient backward is the whole network's gradient
        running = [(np.array([10.0, -10.0] * 3), np.full(6, 1e-6)) for _ in range(2)]
    if activation == "relu":  # keep pre-activations off ReLU's kink at exactly 0
        for beta in net.beta:
            beta[...] = 0.7

    def loss():
        logits, _ = nn.forward(net, X, None, None, running)
        return float(nn.softmax_cross_entropy(logits, Y)[0])

    logits, taps = nn.forward(net, X, None, None, running)
    nn.backward(net, logits, taps, Y)
    analytic = net.grad.copy()
    numeric = numeric_grad(loss, net.theta)
    assert rel_error(analytic, numeric) < 1e-6
    if norm == "renorm":
        for tap in taps:
            assert isinstance(tap.cache, norms.BatchRenormCache)
            assert np.all(tap.cache.r == 2.0) and np.all(np.abs(tap.cache.d) == 0.5)
    if m == 1:  # each example by itself: a batch of one still passes gradients to W
        assert np.abs(net.dW[0]).max() > 1e-3


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
@pytest.mark.parametrize("norm", ["batch", *NORMS])
@pytest.mark.parametrize("m", [2, 16])
def test_with_the_normalization_after_g_the_gradient_matches_finite_differences(activation, norm, m):
    sizes = (3, 6, 6, 4)
    eps = 1e-6 if norm == "renorm" else 0.1 if m <= 2 else 1e-3
    net, rng = make(sizes, activation, eps=eps, position="after", **NORMS.get(norm, {}))
    X, Y = batch(rng, m, sizes)
    running = (
        [(np.array([10.0, -10.0] * 3), np.full(6, 1e-6)) for _ in range(2)] if norm == "renorm" else None
    )
    if activation == "relu":  # keep pre-activations off ReLU's kink at exactly 0
        net.b[0][...] = 0.3
        net.b[1][...] = 0.2
    noise = [(rng.uniform(0.5, 2.0, 6), rng.uniform(-1.0, 1.0, 6)) for _ in range(2)]

    def loss():
        logits, _ = nn.forward(net, X, None, noise, running)
        return float(nn.softmax_cross_entropy(logits, Y)[0])

    logits, taps = nn.forward(net, X, None, noise, running)
    for l, tap in enumerate(taps):  # Z' -> g -> Z -> norm -> Z~ = A: z is g's output
        assert tap.pre is not None and tap.z_norm is not None
        np.testing.assert_allclose(tap.pre, tap.a_prev @ net.W[l] + net.b[l], rtol=1e-12)
        np.testing.assert_allclose(tap.z, nn.activate(activation, tap.pre), rtol=1e-12)
        s, d = noise[l]
        np.testing.assert_allclose(tap.a, s * (net.gamma[l] * tap.z_norm + net.beta[l]) + d, rtol=1e-12)
    nn.backward(net, logits, taps, Y)
    assert rel_error(net.grad.copy(), numeric_grad(loss, net.theta)) < 1e-6
    if activation != "relu":  # (a ReLU unit active on the whole batch is linear there: b cancels)
        # the bias is no longer cancelled: a curved g sits between it and the mean subtraction
        assert np.abs(net.db[0]).max() > 1e-6


def test_the_position_is_checked_and_ignored_without_normalization():
    with pytest.raises(ValueError, match="position"):
        nn.create((3, 6, 4), position="middle")
    net, rng = make(use_bn=False)
    X, _ = batch(rng, 5)
    after = nn.like(net)
    after.position = "after"
    after.theta[...] = net.theta
    np.testing.assert_array_equal(nn.forward(after, X)[0], nn.forward(net, X)[0])


def test_layer_and_group_norm_ignore_statistics_and_infer_as_they_train():
    for norm in ("layer", "group"):
        net, rng = make((3, 6, 6, 4), **NORMS[norm])
        X, _ = batch(rng, 5, (3, 6, 6, 4))
        train_logits, _ = nn.forward(net, X)
        junk = [(np.full(6, 3.0), np.full(6, 0.0))] * 2
        np.testing.assert_array_equal(nn.forward(net, X, junk)[0], train_logits)
        one_by_one = np.concatenate([nn.forward(net, X[i : i + 1])[0] for i in range(5)])
        np.testing.assert_allclose(one_by_one, train_logits, rtol=1e-12)


def test_batch_renorm_without_running_estimates_and_with_r_1_d_0_is_batch_norm():
    bn_net, rng = make()
    X, Y = batch(rng, 9)
    logits, taps = nn.forward(bn_net, X)
    nn.backward(bn_net, logits, taps, Y)
    stats = [(t.cache.mu, t.cache.var) for t in taps if isinstance(t.cache, bn.Cache)]
    for r_max, d_max, running in [(3.0, 5.0, None), (1.0, 0.0, [(mu * 0.5, var * 2) for mu, var in stats])]:
        renorm = nn.like(bn_net, r_max=r_max, d_max=d_max)
        assert renorm.norm == "batch"
        renorm.norm = "renorm"
        renorm.theta[...] = bn_net.theta
        rl, rt = nn.forward(renorm, X, None, None, running)  # type: ignore[arg-type]
        nn.backward(renorm, rl, rt, Y)
        np.testing.assert_array_equal(rl, logits)
        np.testing.assert_array_equal(renorm.grad, bn_net.grad)


def test_groups_must_divide_every_width_and_norm_must_be_known():
    with pytest.raises(ValueError, match="groups"):
        nn.create((3, 6, 5, 4), norm="group", groups=3)
    with pytest.raises(ValueError, match="norm"):
        nn.create((3, 6, 4), norm="instance")
    nn.create((3, 6, 5, 4), use_bn=False, norm="group", groups=3)  # off: nothing to divide


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


def test_sigmoid_is_accurate_in_both_tails_and_silent_where_exp_overflows():
    """g(x) = 1 / (1 + e^-x) to a few ulps against e^x / (1 + e^x) (no cancellation for x < 0),
    also at x = -30, where 0.5 (1 + tanh(x / 2)) is off by 2e-4 relative; 0 and 1 without a
    warning where e^-x overflows."""
    import math
    import warnings

    x = np.array([-700.0, -300.0, -30.0, -5.0, -1e-3, 0.0, 2.0, 30.0, 800.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = nn.activate("sigmoid", x)
    want = [math.exp(v) / (1 + math.exp(v)) if v < 0 else 1 / (1 + math.exp(-v)) for v in x]
    np.testing.assert_allclose(got, want, rtol=4e-16, atol=0)
    assert nn.activate("sigmoid", np.array([-800.0]))[0] == 0.0


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

"""norms.py against its equations, finite differences, BN itself and torch's values."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bnviz import bn, norms
from tests.core.test_bn import numeric_grad, rel_error

# --- finite differences: loss = sum(w * z_tilde), a generic upstream gradient -----------------


def _check_gradients(forward, backward, z, gamma, beta, tol=1e-6):
    rng = np.random.default_rng(99)
    w = rng.standard_normal(z.shape)

    def loss():
        return float(np.sum(w * forward(z, gamma, beta)[0]))

    _, cache = forward(z, gamma, beta)
    dz, dgamma, dbeta = backward(w, cache)
    assert dz.shape == z.shape and dgamma.shape == gamma.shape and dbeta.shape == beta.shape
    assert rel_error(dz, numeric_grad(loss, z)) < tol
    assert rel_error(dgamma, numeric_grad(loss, gamma)) < tol
    assert rel_error(dbeta, numeric_grad(loss, beta)) < tol


def _inputs(lead, m, n, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(1.0, 2.0, lead + (m, n))
    return z, rng.normal(1.0, 0.5, lead + (n,)), rng.normal(0.0, 1.0, lead + (n,))


@pytest.mark.parametrize("lead", [(), (3,)])
@pytest.mark.parametrize("m,n,eps", [(1, 5, 1e-5), (4, 2, 0.5), (6, 5, 1e-5), (8, 16, 1e-3)])
def test_layer_norm_backward_matches_finite_differences(lead, m, n, eps):
    z, gamma, beta = _inputs(lead, m, n, seed=m * n)
    _check_gradients(
        lambda z, g, b: norms.layer_norm_forward(z, g, b, eps), norms.layer_norm_backward, z, gamma, beta
    )


@pytest.mark.parametrize("lead", [(), (2,)])
# groups of 2 units normalize to +-sqrt(var / (var + eps)): an eps comparable to var keeps
# the gradient measurable (see test_bn)
@pytest.mark.parametrize(
    "m,n,groups,eps", [(1, 6, 2, 0.5), (5, 6, 3, 0.5), (5, 9, 3, 1e-5), (4, 8, 2, 1e-5), (3, 8, 1, 1e-5)]
)
def test_group_norm_backward_matches_finite_differences(lead, m, n, groups, eps):
    z, gamma, beta = _inputs(lead, m, n, seed=m + n + groups)
    _check_gradients(
        lambda z, g, b: norms.group_norm_forward(z, g, b, eps, groups),
        norms.group_norm_backward,
        z,
        gamma,
        beta,
    )


@pytest.mark.parametrize("lead", [(), (3,)])
@pytest.mark.parametrize("m,r_max,d_max", [(2, 3.0, 5.0), (7, 1.5, 0.25), (16, 2.0, 1.0), (5, 1.0, 0.0)])
def test_batch_renorm_backward_with_r_and_d_fixed_matches_finite_differences(lead, m, r_max, d_max):
    n = 4
    z, gamma, beta = _inputs(lead, m, n, seed=m)
    rng = np.random.default_rng(m + 1)
    running_mu = rng.normal(0.5, 1.0, lead + (n,))
    running_var = rng.uniform(0.5, 8.0, lead + (n,))
    eps = 0.5 if m == 2 else 1e-5  # m = 2: z_norm is almost constant, see test_bn
    z_tilde, cache = norms.batch_renorm_forward(z, gamma, beta, eps, running_mu, running_var, r_max, d_max)
    r, d = cache.r, cache.d

    # r and d are the paper's stop_gradient constants: differentiate with them held at their values
    def held(z, g, b):
        _, c = bn.forward(z, g, b, eps)
        z_norm = c.z_norm * r[..., None, :] + d[..., None, :]
        return g[..., None, :] * z_norm + b[..., None, :], c

    np.testing.assert_allclose(held(z, gamma, beta)[0], z_tilde, rtol=1e-14, atol=1e-14)
    w = np.random.default_rng(99).standard_normal(z.shape)

    def loss():
        return float(np.sum(w * held(z, gamma, beta)[0]))

    dz, dgamma, dbeta = norms.batch_renorm_backward(w, cache)
    assert rel_error(dz, numeric_grad(loss, z)) < 1e-6
    assert rel_error(dgamma, numeric_grad(loss, gamma)) < 1e-6
    assert rel_error(dbeta, numeric_grad(loss, beta)) < 1e-6


def test_batch_renorm_backward_is_the_full_gradient_where_r_and_d_are_clipped():
    # sigma_B / sigma >> r_max and |mu - running_mu| / sigma >> d_max: r and d sit at their
    # limits and do not move under small changes of z, so the forward itself is differentiated
    z, gamma, beta = _inputs((), 6, 3, seed=5)
    running_mu, running_var = np.array([-50.0, 40.0, 60.0]), np.full(3, 1e-3)
    r_max, d_max, eps = 2.0, 0.5, 1e-5
    _, cache = norms.batch_renorm_forward(z, gamma, beta, eps, running_mu, running_var, r_max, d_max)
    np.testing.assert_array_equal(cache.r, r_max)
    np.testing.assert_array_equal(cache.d, [d_max, -d_max, -d_max])
    _check_gradients(
        lambda z, g, b: norms.batch_renorm_forward(z, g, b, eps, running_mu, running_var, r_max, d_max),
        norms.batch_renorm_backward,
        z,
        gamma,
        beta,
    )


# --- LayerNorm ---------------------------------------------------------------------------------


def test_layer_norm_forward_by_hand():
    z = np.array([[1.0, 3.0, 8.0], [10.0, 10.0, 13.0]])
    gamma, beta, eps = np.array([2.0, -1.0, 0.5]), np.array([0.5, 1.0, 0.0]), 1e-3
    z_tilde, cache = norms.layer_norm_forward(z, gamma, beta, eps)
    # example 0: mu = 4, var = (9 + 1 + 16) / 3; example 1: mu = 11, var = (1 + 1 + 4) / 3
    np.testing.assert_allclose(cache.mu, [4.0, 11.0], rtol=1e-15)
    np.testing.assert_allclose(cache.var, [26 / 3, 2.0], rtol=1e-15)
    expected = (z - [[4.0], [11.0]]) / np.sqrt(np.array([[26 / 3], [2.0]]) + eps)  # eps inside the root
    np.testing.assert_allclose(cache.z_norm, expected, rtol=1e-14)
    np.testing.assert_allclose(z_tilde, gamma * expected + beta, rtol=1e-14)
    out, z_norm = norms.layer_norm_infer(z, gamma, beta, eps)
    np.testing.assert_array_equal(out, z_tilde)
    np.testing.assert_array_equal(z_norm, cache.z_norm)


def test_layer_norm_treats_each_example_alone_so_a_batch_of_one_works():
    z, gamma, beta = _inputs((), 5, 4, seed=1)
    z_tilde, _ = norms.layer_norm_forward(z, gamma, beta, 1e-5)
    for i in range(5):
        one, cache = norms.layer_norm_forward(z[i : i + 1], gamma, beta, 1e-5)
        np.testing.assert_allclose(one[0], z_tilde[i], rtol=1e-14)
        assert np.all(cache.var > 0.1)  # a real normalization, unlike BN's batch of one


@settings(max_examples=60, deadline=None)
@given(
    z=arrays(np.float64, (4, 8), elements=st.floats(-1e3, 1e3)),
    gamma=st.floats(-5, 5),
    beta=st.floats(-5, 5),
)
def test_layer_norm_units_of_each_example_have_mean_0_var_1(z, gamma, beta):
    eps = 1e-8
    keep = z.var(axis=1) > 1e-2  # the property is for var >> eps
    z_tilde, cache = norms.layer_norm_forward(z, np.full(8, gamma), np.full(8, beta), eps)
    zn, zt = cache.z_norm[keep], z_tilde[keep]
    np.testing.assert_allclose(zn.mean(axis=1), 0, atol=1e-9)
    np.testing.assert_allclose(zn.var(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(zt.mean(axis=1), beta, atol=1e-8)
    np.testing.assert_allclose(zt.std(axis=1), abs(gamma), rtol=1e-5, atol=1e-12)


def test_layer_norm_constant_example_with_eps_zero_is_zero_not_nan():
    z = np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]])
    w = np.arange(6.0).reshape(2, 3)
    with np.errstate(all="raise"):
        z_tilde, cache = norms.layer_norm_forward(z, np.ones(3), np.array([0.0, 0.7, -1.0]), eps=0.0)
        dz, _, _ = norms.layer_norm_backward(w, cache)
    np.testing.assert_array_equal(cache.z_norm[1], 0.0)
    np.testing.assert_array_equal(z_tilde[1], [0.0, 0.7, -1.0])
    np.testing.assert_array_equal(dz[1], 0.0)
    np.testing.assert_allclose(cache.z_norm[0], [-np.sqrt(1.5), 0, np.sqrt(1.5)])


# --- GroupNorm ---------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(z=arrays(np.float64, (3, 6), elements=st.floats(-1e3, 1e3)), eps=st.sampled_from([0.0, 1e-5, 1.0]))
def test_group_norm_with_one_group_is_layer_norm(z, eps):
    rng = np.random.default_rng(0)
    gamma, beta = rng.standard_normal(6), rng.standard_normal(6)
    w = rng.standard_normal((3, 6))
    ln, ln_cache = norms.layer_norm_forward(z, gamma, beta, eps)
    gn, gn_cache = norms.group_norm_forward(z, gamma, beta, eps, groups=1)
    np.testing.assert_allclose(gn, ln, rtol=1e-14, atol=1e-12)
    for a, b in zip(norms.group_norm_backward(w, gn_cache), norms.layer_norm_backward(w, ln_cache)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-12)


def test_group_norm_normalizes_each_group_of_each_example_alone():
    z, gamma, beta = _inputs((), 4, 6, seed=2)
    z_tilde, cache = norms.group_norm_forward(z, gamma, beta, 1e-5, groups=3)
    assert cache.mu.shape == cache.var.shape == (4, 3)
    for g in range(3):
        cols = slice(2 * g, 2 * g + 2)
        ln, _ = norms.layer_norm_forward(z[:, cols], gamma[cols], beta[cols], 1e-5)
        np.testing.assert_allclose(z_tilde[:, cols], ln, rtol=1e-14)
    out, z_norm = norms.group_norm_infer(z, gamma, beta, 1e-5, 3)
    np.testing.assert_array_equal(out, z_tilde)
    np.testing.assert_array_equal(z_norm, cache.z_norm)


@pytest.mark.parametrize("eps", [1e-5, 0.0])
def test_group_norm_with_one_unit_per_group_erases_the_signal(eps):
    z, gamma, beta = _inputs((), 5, 4, seed=3)
    z_tilde, cache = norms.group_norm_forward(z, gamma, beta, eps, groups=4)
    np.testing.assert_array_equal(cache.z_norm, 0.0)
    np.testing.assert_array_equal(z_tilde, np.broadcast_to(beta, z.shape))
    dz, dgamma, dbeta = norms.group_norm_backward(np.ones_like(z), cache)
    np.testing.assert_array_equal(dz, 0.0)
    np.testing.assert_array_equal(dgamma, 0.0)
    np.testing.assert_array_equal(dbeta, 5.0)


@pytest.mark.parametrize("groups", [0, -2, 4, 7, 2.0])
def test_group_norm_needs_groups_that_divide_the_width(groups):
    z, gamma, beta = _inputs((), 3, 6, seed=4)
    with pytest.raises(ValueError, match="divides the width 6"):
        norms.group_norm_forward(z, gamma, beta, 1e-5, groups)


# --- against torch (values printed by tools/norms_reference.py) --------------------------------

TORCH_Z = [
    [0.5, -1.25, 2.0, 3.5, -0.75, 1.0],
    [4.0, 4.5, -2.0, 0.25, 1.5, -3.0],
    [-1.0, 0.0, 1.0, 2.0, 3.0, 4.0],
    [10.0, -10.0, 0.125, 0.375, 7.5, -2.5],
]
TORCH_GAMMA = [1.5, -0.5, 2.0, 0.75, -1.25, 1.0]
TORCH_BETA = [0.25, -1.0, 0.5, 0.0, 2.0, -0.75]
TORCH_EPS = 1e-5
LAYER_NORM_TORCH = [
    [
        -0.06150387445546454, -0.35103359488444885, 1.9536847474588341,
        1.246015497821858, 3.233036169719547, -0.6461653751815118,
    ],
    [
        1.9253753734331915, -1.647811811060834, -1.5551271247447152,
        -0.16753753734331917, 1.720770771094468, -2.1349769753714383,
    ],
    [
        -1.9457713999578834, -0.5608457200084234, -0.08553903998876888,
        0.21957713999578832, 0.9021143000210584, 0.7138475999719223,
    ],
    [
        2.329346488733698, -0.16698963295377844, 0.25836340497895866,
        -0.061998863196188234, 0.744125591666956, -1.2714263366243523,
    ],
]
GROUP_NORM_2_TORCH = [
    [
        0.3441181039796261, -0.37254597346915963, 2.8843253008171934,
        0.9675808366566467, 3.43345309134318, -0.893345309134318,
    ],
    [
        1.1811483353929682, -1.3950326271364106, -2.3216616224029334,
        0.26362449867062815, 0.73679927720324, -2.1120599097982455,
    ],
    [
        -1.5871035288625852, -1.0, 2.9494713718167804,
        -0.9185517644312928, 2.0, 0.47473568590839044,
    ],
    [
        2.079414874046613, -0.38509207162449954, 0.5204118814398506,
        -0.2527602837747465, 0.3025412315127318, -1.7709533030901528,
    ],
]
GROUP_NORM_3_TORCH = [
    [
        1.7499902041775917, -0.5000032652741362, -1.4999822224592556,
        0.7499933334222209, 3.24999183681466, 0.24999346945172773,
    ],
    [
        -1.2498800143980802, -1.4999600047993606, -1.4999920988122541,
        0.7499970370545953, 0.7500012345660724, -1.7499990123471423,
    ],
    [
        -1.24997000089997, -1.49999000029999, -1.4999600011999599,
        0.7499850004499851, 3.2499750007499744, 0.2499800005999795,
    ],
    [
        1.7499999250000058, -0.5000000249999982, -1.4993603070362518,
        0.7497601151385944, 0.750000249999925, -1.7499998000000603,
    ],
]


def test_layer_norm_and_group_norm_equal_torch():
    z, gamma, beta = np.array(TORCH_Z), np.array(TORCH_GAMMA), np.array(TORCH_BETA)
    ln, _ = norms.layer_norm_forward(z, gamma, beta, TORCH_EPS)
    np.testing.assert_allclose(ln, LAYER_NORM_TORCH, rtol=0, atol=1e-12)
    for groups, expected in ((2, GROUP_NORM_2_TORCH), (3, GROUP_NORM_3_TORCH)):
        gn, _ = norms.group_norm_forward(z, gamma, beta, TORCH_EPS, groups)
        np.testing.assert_allclose(gn, expected, rtol=0, atol=1e-12)


# --- Batch Renorm ------------------------------------------------------------------------------


def test_batch_renorm_forward_by_hand():
    z = np.array([[1.0, 10.0], [3.0, 10.0], [8.0, 13.0]])  # mu = (4, 11), var = (26/3, 2)
    gamma, beta, eps = np.array([2.0, -1.0]), np.array([0.5, 1.0]), 1e-3
    running_mu, running_var = np.array([3.0, 20.0]), np.array([4.0, 0.5])
    z_tilde, cache = norms.batch_renorm_forward(z, gamma, beta, eps, running_mu, running_var, 3.0, 1.0)
    sigma_b = np.sqrt(np.array([26 / 3, 2.0]) + eps)  # eps inside the root, as in Ioffe 2017
    sigma = np.sqrt(running_var + eps)
    # r = sigma_B / sigma is inside [1/3, 3] for both units; d = (mu - running_mu) / sigma is
    # 1 / 2.00025 for unit 0 and -9 / 0.708 for unit 1, clipped to -1
    r = sigma_b / sigma
    assert 1 / 3 < r.min() and r.max() < 3
    np.testing.assert_allclose(cache.r, r, rtol=1e-15)
    np.testing.assert_allclose(cache.d, [1 / sigma[0], -1.0], rtol=1e-15)
    np.testing.assert_allclose(cache.mu, [4.0, 11.0], rtol=1e-15)
    np.testing.assert_allclose(cache.var, [26 / 3, 2.0], rtol=1e-15)
    expected = (z - [4.0, 11.0]) / sigma_b * r + cache.d
    np.testing.assert_allclose(cache.z_norm, expected, rtol=1e-14)
    np.testing.assert_allclose(z_tilde, gamma * expected + beta, rtol=1e-14)


def test_batch_renorm_clips_r_to_its_limits():
    z = np.array([[0.0, 0.0], [2.0, 0.02]])  # var = (1, 1e-4), mu = (1, 0.01)
    _, cache = norms.batch_renorm_forward(
        z, np.ones(2), np.zeros(2), 0.0, np.array([1.0, 0.01]), np.array([1e-4, 1.0]), 4.0, 1.0
    )
    np.testing.assert_allclose(cache.r, [4.0, 0.25])  # sigma_B / sigma = 100 and 0.01
    np.testing.assert_array_equal(cache.d, 0.0)


def test_batch_renorm_with_r_max_1_d_max_0_is_batch_norm():
    z, gamma, beta = _inputs((3,), 8, 5, seed=6)
    rng = np.random.default_rng(7)
    running_mu, running_var = rng.standard_normal((3, 5)), rng.uniform(0.1, 9.0, (3, 5))
    eps = np.array([[1e-5], [1e-2], [1.0]])
    w = rng.standard_normal(z.shape)
    # bit for bit: r = 1 and d = +-0 exactly, gamma * 1 = gamma and gamma * 0 + beta = beta, and
    # every other step is BN's own, in BN's order; for a stack of 3 models and for one (whose
    # eps, r_max, d_max Batch Renorm applies as floats)
    for dtype, k in itertools.product((np.float64, np.float32), (slice(None), slice(1, 2))):
        inputs = (z, gamma, beta, eps, running_mu, running_var)
        z_d, g_d, b_d, eps_d, mu_d, var_d = (np.asarray(x[k], dtype) for x in inputs)
        out, cache = norms.batch_renorm_forward(z_d, g_d, b_d, eps_d, mu_d, var_d, 1.0, 0.0)
        out_bn, cache_bn = bn.forward(z_d, g_d, b_d, eps_d)
        np.testing.assert_array_equal(out, out_bn)
        np.testing.assert_array_equal(cache.z_norm, cache_bn.z_norm)
        np.testing.assert_array_equal(cache.z_norm_bn, cache_bn.z_norm)
        w_d = w.astype(dtype)
        for a, b in zip(norms.batch_renorm_backward(w_d, cache), bn.backward(w_d, cache_bn), strict=True):
            np.testing.assert_array_equal(a, b)


def test_batch_renorm_inference_is_batch_norm_with_the_running_estimates():
    z, gamma, beta = _inputs((), 4, 3, seed=8)
    running_mu, running_var = np.array([0.5, -1.0, 2.0]), np.array([1.0, 4.0, 0.25])
    out, z_norm = norms.batch_renorm_infer(z, gamma, beta, 1e-5, running_mu, running_var)
    expected = (z - running_mu) / np.sqrt(running_var + 1e-5)
    np.testing.assert_allclose(z_norm, expected, rtol=1e-14)
    np.testing.assert_allclose(out, gamma * expected + beta, rtol=1e-14)


def test_batch_renorm_with_sigma_zero_takes_the_limits():
    z = np.array([[0.0, 3.0, 1.0], [2.0, 3.0, 1.0]])  # mu = (1, 3, 1), var = (1, 0, 0)
    running_mu, running_var = np.array([0.0, 5.0, 1.0]), np.zeros(3)
    with np.errstate(all="raise"):
        z_tilde, cache = norms.batch_renorm_forward(
            z, np.ones(3), np.zeros(3), 0.0, running_mu, running_var, 2.0, 0.5
        )
        dz, _, _ = norms.batch_renorm_backward(np.ones_like(z), cache)
    np.testing.assert_array_equal(cache.r, [2.0, 1.0, 1.0])  # 1/0 -> r_max; 0/0 -> 1
    np.testing.assert_array_equal(cache.d, [0.5, -0.5, 0.0])  # +-1/0 -> +-d_max; 0/0 -> 0
    np.testing.assert_array_equal(z_tilde[:, 1:], [[-0.5, 0.0], [-0.5, 0.0]])
    assert np.all(np.isfinite(dz))


@pytest.mark.parametrize("r_max,d_max", [(0.5, 1.0), (2.0, -0.1)])
def test_batch_renorm_needs_r_max_at_least_1_and_d_max_at_least_0(r_max, d_max):
    z, gamma, beta = _inputs((), 3, 2, seed=9)
    with pytest.raises(ValueError, match="r_max >= 1 and d_max >= 0"):
        norms.batch_renorm_forward(z, gamma, beta, 1e-5, np.zeros(2), np.ones(2), r_max, d_max)


# --- stacks and dtypes -------------------------------------------------------------------------


def _stacked_cases():
    rng = np.random.default_rng(10)
    running = rng.standard_normal((3, 6)), rng.uniform(0.1, 4.0, (3, 6))
    r_max, d_max = np.array([[1.0], [1.5], [3.0]]), np.array([[0.0], [0.5], [2.0]])
    return [
        ("layer", norms.layer_norm_forward, norms.layer_norm_backward, (), ()),
        ("group", norms.group_norm_forward, norms.group_norm_backward, (3,), (3,)),
        (
            "renorm",
            norms.batch_renorm_forward,
            norms.batch_renorm_backward,
            (*running, r_max, d_max),
            (running[0], running[1], r_max[:, 0], d_max[:, 0]),
        ),
    ]


@pytest.mark.parametrize("case", _stacked_cases(), ids=lambda c: c[0])
def test_a_stack_of_models_equals_each_model_alone(case):
    _, forward, backward, extra, extra_k = case
    z, gamma, beta = _inputs((3,), 8, 6, seed=11)
    eps = np.array([[1e-5], [1e-2], [1.0]])
    dout = np.random.default_rng(12).standard_normal(z.shape)
    out, cache = forward(z, gamma, beta, eps, *extra)
    grads = backward(dout, cache)
    for k in range(3):
        per = [x[k] if isinstance(x, np.ndarray) and x.ndim else x for x in extra_k]
        out_k, cache_k = forward(z[k], gamma[k], beta[k], eps[k, 0], *per)
        np.testing.assert_allclose(out[k], out_k, rtol=1e-13)
        for g, g_k in zip(grads, backward(dout[k], cache_k)):
            np.testing.assert_allclose(g[k], g_k, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", _stacked_cases(), ids=lambda c: c[0])
def test_float32_stays_float32_and_agrees_with_float64(case):
    _, forward, backward, extra, _ = case
    z, gamma, beta = _inputs((3,), 16, 6, seed=13)
    dout = np.random.default_rng(14).standard_normal(z.shape)
    out64, c64 = forward(z, gamma, beta, 1e-5, *extra)
    f32 = [np.asarray(x, np.float32) if isinstance(x, np.ndarray) else x for x in extra]
    out32, c32 = forward(z.astype(np.float32), gamma.astype(np.float32), beta.astype(np.float32), 1e-5, *f32)
    assert out32.dtype == np.float32 and c32.z_norm.dtype == np.float32
    np.testing.assert_allclose(out32, out64, rtol=1e-4, atol=1e-5)
    for a, b in zip(backward(dout.astype(np.float32), c32), backward(dout, c64)):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)

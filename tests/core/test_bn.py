"""bn.py against the note's equations, finite differences and hand-computed values."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.typing import NDArray

from bnviz import bn


def rel_error(a, b) -> float:
    """Normwise relative error ||a - b|| / max(||a||, ||b||)."""
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)), 1e-300)
    return float(np.linalg.norm(a - b)) / scale


def numeric_grad(f, x, h=1e-6):
    """Central differences of the scalar f() with respect to every entry of x (in place)."""
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = f()
        x[i] = old - h
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * h)
    return g


def test_forward_matches_the_seed_by_hand():
    z = np.array([[1.0, 10.0], [3.0, 10.0], [8.0, 13.0]])
    gamma, beta, eps = np.array([2.0, -1.0]), np.array([0.5, 1.0]), 1e-3
    z_tilde, cache = bn.forward(z, gamma, beta, eps)
    # column 0: mu = 4, var = (9 + 1 + 16) / 3 (1/m, not 1/(m-1))
    assert cache.mu[0] == pytest.approx(4.0)
    assert cache.var[0] == pytest.approx(26 / 3)
    assert cache.mu[1] == pytest.approx(11.0)
    assert cache.var[1] == pytest.approx(2.0)
    expected_norm = (z - [4.0, 11.0]) / np.sqrt(np.array([26 / 3, 2.0]) + eps)  # eps inside the root
    np.testing.assert_allclose(cache.z_norm, expected_norm, rtol=1e-14)
    np.testing.assert_allclose(z_tilde, gamma * expected_norm + beta, rtol=1e-14)


# With m = 2, z_norm is +-sqrt(var / (var + eps)): almost constant, so its gradient is
# of order eps / var. An eps comparable to var keeps that gradient measurable.
@pytest.mark.parametrize("m,eps", [(2, 0.5), (2, 1e-5), (3, 1e-5), (7, 1e-3), (32, 1e-5)])
def test_backward_matches_finite_differences(m, eps):
    rng = np.random.default_rng(m)
    n = 5
    z = rng.normal(0.5, 1.0, (m, n)) if eps > 0.1 else rng.normal(2.0, 3.0, (m, n))
    gamma = rng.normal(1.0, 0.5, n)
    beta = rng.normal(0.0, 1.0, n)
    w = rng.standard_normal((m, n))  # loss = sum(w * z_tilde): a generic upstream gradient

    def loss():
        return float(np.sum(w * bn.forward(z, gamma, beta, eps)[0]))

    _, cache = bn.forward(z, gamma, beta, eps)
    dz, dgamma, dbeta = bn.backward(w, cache)
    assert rel_error(dz, numeric_grad(loss, z)) < 1e-6
    assert rel_error(dgamma, numeric_grad(loss, gamma)) < 1e-6
    assert rel_error(dbeta, numeric_grad(loss, beta)) < 1e-6


def test_backward_of_a_stack_equals_each_model_alone():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((3, 8, 4))
    gamma, beta = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    eps = np.array([1e-5, 1e-2, 1.0])[:, None]
    dout = rng.standard_normal((3, 8, 4))
    out, cache = bn.forward(z, gamma, beta, eps)
    grads = bn.backward(dout, cache)
    for k in range(3):
        out_k, cache_k = bn.forward(z[k], gamma[k], beta[k], eps[k, 0])
        np.testing.assert_allclose(out[k], out_k, rtol=1e-13)
        for g, g_k in zip(grads, bn.backward(dout[k], cache_k)):
            np.testing.assert_allclose(g[k], g_k, rtol=1e-12, atol=1e-14)


def test_float32_stays_float32_and_agrees_with_float64():
    rng = np.random.default_rng(2)
    z = rng.standard_normal((64, 16))
    gamma, beta = rng.standard_normal(16), rng.standard_normal(16)
    out64, c64 = bn.forward(z, gamma, beta, 1e-5)
    out32, c32 = bn.forward(z.astype(np.float32), gamma.astype(np.float32), beta.astype(np.float32), 1e-5)
    assert out32.dtype == np.float32 and c32.z_norm.dtype == np.float32 and c32.var.dtype == np.float32
    np.testing.assert_allclose(out32, out64, rtol=1e-4, atol=1e-5)
    dout = rng.standard_normal((64, 16))
    g64 = bn.backward(dout, c64)
    g32 = bn.backward(dout.astype(np.float32), c32)
    for a, b in zip(g32, g64):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


@settings(max_examples=60, deadline=None)
@given(
    z=arrays(np.float64, (16, 3), elements=st.floats(-1e3, 1e3)),
    gamma=st.floats(-5, 5),
    beta=st.floats(-5, 5),
)
def test_normalized_units_have_mean_0_var_1_and_tilde_has_mean_beta_std_abs_gamma(z, gamma, beta):
    eps = 1e-8
    keep = z.var(axis=0) > 1e-2  # the property is for var >> eps
    z_tilde, cache = bn.forward(z, np.full(3, gamma), np.full(3, beta), eps)
    zn, zt = cache.z_norm[:, keep], z_tilde[:, keep]
    np.testing.assert_allclose(zn.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(zn.var(axis=0), 1, rtol=1e-5)
    np.testing.assert_allclose(zt.mean(axis=0), beta, atol=1e-8)
    np.testing.assert_allclose(zt.std(axis=0), abs(gamma), rtol=1e-5, atol=1e-12)


def test_constant_column_with_eps_zero_is_zero_not_nan():
    z = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    w = np.arange(6.0).reshape(3, 2)
    with np.errstate(all="raise"):  # no division warning either
        z_tilde, cache = bn.forward(z, np.ones(2), np.array([0.0, 0.7]), eps=0.0)
        dz, _dgamma, dbeta = bn.backward(w, cache)
    assert np.all(np.isfinite(z_tilde)) and np.all(np.isfinite(dz))
    np.testing.assert_array_equal(cache.z_norm[:, 1], 0.0)  # the documented convention
    np.testing.assert_array_equal(z_tilde[:, 1], 0.7)  # ... so z_tilde = beta
    np.testing.assert_array_equal(dz[:, 1], 0.0)  # and a dead unit passes no gradient
    assert dbeta[1] == pytest.approx(w[:, 1].sum())
    # the non-constant column is untouched by the special case
    np.testing.assert_allclose(cache.z_norm[:, 0], [-np.sqrt(1.5), 0, np.sqrt(1.5)])


def test_batch_of_one_normalizes_to_zero():
    z_tilde, cache = bn.forward(np.array([[3.0, -2.0]]), np.array([2.0, 2.0]), np.array([0.1, 0.2]), 1e-5)
    np.testing.assert_array_equal(cache.var, 0.0)
    np.testing.assert_array_equal(cache.z_norm, 0.0)
    np.testing.assert_array_equal(z_tilde, [[0.1, 0.2]])


def test_infer_with_the_batch_own_statistics_equals_training_mode():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((10, 4))
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    out, cache = bn.forward(z, gamma, beta, 1e-3)
    out_inf, z_norm = bn.infer(z, gamma, beta, 1e-3, cache.mu, cache.var)
    np.testing.assert_allclose(out_inf, out, rtol=1e-13)
    np.testing.assert_allclose(z_norm, cache.z_norm, rtol=1e-13)


def test_infer_uses_the_given_statistics():
    out, z_norm = bn.infer(
        np.array([[4.0]]), np.array([3.0]), np.array([1.0]), 0.5, np.array([2.0]), np.array([3.5])
    )
    assert z_norm[0, 0] == pytest.approx((4 - 2) / np.sqrt(3.5 + 0.5))
    assert out[0, 0] == pytest.approx(3 * 1.0 + 1)


def test_ewa_against_a_hand_computed_sequence():
    decay, xs = 0.9, [10.0, 20.0, 30.0]
    v: float | NDArray[np.floating] = 0.0
    vs = []
    for x in xs:
        v = bn.ewa(v, x, decay)
        vs.append(float(v))
    # v1 = 0.1*10 = 1; v2 = 0.9*1 + 0.1*20 = 2.9; v3 = 0.9*2.9 + 0.1*30 = 5.61
    assert vs == pytest.approx([1.0, 2.9, 5.61])
    # bias-corrected: v_t / (1 - 0.9^t)
    assert float(bn.bias_corrected(vs[0], decay, 1)) == pytest.approx(10.0)  # exact after one step
    assert float(bn.bias_corrected(vs[1], decay, 2)) == pytest.approx(2.9 / 0.19)
    assert float(bn.bias_corrected(vs[2], decay, 3)) == pytest.approx(5.61 / 0.271)


def test_bias_correction_is_exact_for_a_constant_sequence():
    decay = 0.99
    v: NDArray[np.floating] = np.zeros(3)
    x = np.array([1.0, -2.0, 5.0])
    for t in range(1, 50):
        v = bn.ewa(v, x, decay)
        np.testing.assert_allclose(bn.bias_corrected(v, decay, t), x, rtol=1e-12)


def test_bias_correction_needs_a_step():
    with pytest.raises(ValueError, match="t >= 1"):
        bn.bias_corrected(0.0, 0.9, 0)


def test_bias_correction_takes_one_decay_and_one_step_per_model():
    v = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])  # 3 models x 2 units
    decay = np.array([[0.9], [0.5], [0.99]])
    t = np.array([[1], [4], [250]])
    out = bn.bias_corrected(v, decay, t)
    for k in range(3):
        np.testing.assert_array_equal(out[k], bn.bias_corrected(v[k], float(decay[k, 0]), int(t[k, 0])))
    np.testing.assert_allclose(out[1], v[1] / (1 - 0.5**4), rtol=1e-15)
    with pytest.raises(ValueError, match="t >= 1"):
        bn.bias_corrected(v, decay, np.array([[1], [0], [2]]))


def test_bias_correction_keeps_the_estimates_dtype():
    v = np.array([0.1, 0.2], np.float32)
    out = bn.bias_corrected(v, 0.9, 3)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, v / np.float32(1 - 0.9**3))
    assert bn.bias_corrected(np.array([1, 2]), 0.5, 1).dtype == np.float64  # integers: float64

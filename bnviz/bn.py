"""Batch Normalization, exactly as the note writes it.

Rows are examples, columns are units. Every function also accepts a leading
stack of models: ``z`` of shape ``(..., m, n)`` with per-unit vectors of shape
``(..., n)``; the batch statistics are taken over axis ``-2`` (the examples).

    mu      = 1/m * sum_i z(i)
    var     = 1/m * sum_i (z(i) - mu)^2            (biased: 1/m, not 1/(m-1))
    z_norm  = (z - mu) / sqrt(var + eps)           (eps inside the square root)
    z_tilde = gamma * z_norm + beta

A constant column with ``eps = 0`` has ``var + eps = 0``.  Its centred values
``z - mu`` are exactly 0, and for every ``eps > 0`` they normalize to exactly 0,
so bnviz defines ``z_norm = 0`` there (never NaN) and passes no gradient back
through that unit (``dz = 0``): a dead unit stays dead.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]


@dataclass(slots=True)
class Cache:
    """What the backward pass needs, and what the app shows."""

    z_norm: Array  # (..., m, n)
    mu: Array  # (..., n) batch mean
    var: Array  # (..., n) batch variance, 1/m
    inv_std: Array  # (..., n) 1 / sqrt(var + eps), 0 where var + eps == 0
    gamma: Array  # (..., n)


def _row(v: Array) -> Array:
    """A per-unit vector (..., n) as a row (..., 1, n) that broadcasts over examples."""
    return v[..., None, :]


@lru_cache(maxsize=64)
def ones(m: int, dtype: np.dtype) -> Array:
    """A cached, read-only vector of m ones: sums as BLAS products (``ones @ a``)."""
    out = np.ones(m, dtype)
    out.flags.writeable = False
    return out


def column_sum(a: Array) -> Array:
    """Sum over the examples axis (-2) as one BLAS product ``ones(m) @ a``: the fastest pass."""
    return ones(a.shape[-2], a.dtype) @ a


def batch_stats(z: Array) -> tuple[Array, Array, Array]:
    """This mini-batch's mu and var per unit (the note's 1/m variance) and ``z - mu``, the
    centred batch (a new array the caller may normalize in place), in one pass each."""
    m = z.shape[-2]
    mu = column_sum(z)
    mu /= m
    centred = z - _row(mu)
    var = np.einsum("...ij,...ij->...j", centred, centred)  # one pass, no temporary
    var /= m
    return mu, var, centred


def inv_sqrt(var: Array, eps: float | Array) -> Array:
    """1 / sqrt(var + eps), with 0 where var + eps == 0 (see module docstring)."""
    s = var + eps
    if s.min() > 0:
        np.sqrt(s, out=s)
        return np.reciprocal(s, out=s)
    positive = s > 0
    out = np.zeros_like(s)
    np.divide(1.0, np.sqrt(s, where=positive, out=np.ones_like(s)), out=out, where=positive)
    return out


def forward(z: Array, gamma: Array, beta: Array, eps: float | Array) -> tuple[Array, Cache]:
    """Training-mode BN: normalize with this mini-batch's own mu and var.

    Returns ``(z_tilde, cache)``; ``cache.mu``, ``cache.var`` and ``cache.z_norm``
    are the note's mu, sigma^2 and z_norm.
    """
    dtype = z.dtype
    gamma = np.asarray(gamma, dtype=dtype)
    beta = np.asarray(beta, dtype=dtype)
    eps = np.asarray(eps, dtype=dtype)
    mu, var, z_norm = batch_stats(z)  # z_norm centred; normalized in place below
    inv_std = inv_sqrt(var, eps)
    z_norm *= _row(inv_std)
    z_tilde = z_norm * _row(gamma)
    z_tilde += _row(beta)
    return z_tilde, Cache(z_norm=z_norm, mu=mu, var=var, inv_std=inv_std, gamma=gamma)


def backward(dz_tilde: Array, cache: Cache) -> tuple[Array, Array, Array]:
    """Gradients of the loss w.r.t. z, gamma and beta, in the compact closed form.

    dbeta  = sum_i dz_tilde(i)
    dgamma = sum_i dz_tilde(i) * z_norm(i)
    dz     = gamma / (m sqrt(var + eps)) * (m dz_tilde - dbeta - z_norm * dgamma)
    """
    m = dz_tilde.shape[-2]
    z_norm = cache.z_norm
    dbeta = column_sum(dz_tilde)
    dgamma = np.einsum("...ij,...ij->...j", dz_tilde, z_norm)
    scale = cache.gamma * cache.inv_std  # (..., n)
    k = scale / -m
    # dz = scale * dz_tilde - (scale * dgamma / m) * z_norm - scale * dbeta / m
    dz = z_norm * _row(k * dgamma)
    dz += _row(k * dbeta)
    dz += dz_tilde * _row(scale)
    return dz, dgamma, dbeta


def infer(
    z: Array, gamma: Array, beta: Array, eps: float | Array, mu: Array, var: Array
) -> tuple[Array, Array]:
    """Inference-mode BN with given statistics (running, population or batch).

    Returns ``(z_tilde, z_norm)``.
    """
    dtype = z.dtype
    inv_std = inv_sqrt(np.asarray(var, dtype=dtype), np.asarray(eps, dtype=dtype))
    z_norm = z - _row(np.asarray(mu, dtype=dtype))
    z_norm *= _row(inv_std)
    z_tilde = z_norm * _row(np.asarray(gamma, dtype=dtype))
    z_tilde += _row(np.asarray(beta, dtype=dtype))
    return z_tilde, z_norm


def ewa(running: Array | float, value: Array | float, decay: float | Array) -> Array:
    """One step of the exponentially weighted average: decay*v + (1 - decay)*x."""
    return decay * np.asarray(running) + (1.0 - decay) * np.asarray(value)


def bias_corrected(running: Array | float, decay: float | Array, t: int | NDArray[np.integer]) -> Array:
    """The bias-corrected EWA estimate v_t / (1 - decay^t), for v_0 = 0 and t >= 1.

    ``decay`` and ``t`` may be arrays that broadcast against ``running`` (one per model
    of a stack, or one t per recorded step). The result has running's floating dtype:
    1 - decay^t is computed in float64 and rounded to it.
    """
    t = np.asarray(t)
    if t.size and t.min() < 1:
        raise ValueError("bias correction needs t >= 1 (no value has been averaged yet)")
    v = np.asarray(running)
    c = 1.0 - np.asarray(decay, dtype=np.float64) ** t
    if np.issubdtype(v.dtype, np.floating):
        c = c.astype(v.dtype, copy=False)
    return v / c

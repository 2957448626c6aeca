"""The other normalizations: LayerNorm, GroupNorm and Batch Renormalization, in the note's naming.

Rows are examples, columns are units, as in :mod:`bnviz.bn`, and every function accepts
a leading stack of models: ``z`` of shape ``(..., m, n)``, per-unit vectors ``gamma``,
``beta`` (and Batch Renorm's running estimates) of shape ``(..., n)``. ``eps``, ``r_max``
and ``d_max`` are floats or, for a stack, arrays shaped like a per-unit vector with size 1
along the units axis (``(K, 1)``, as the engine passes ``eps``). Each normalization has a
forward pass returning ``(z_tilde, cache)``, a closed-form backward pass returning
``(dz, dgamma, dbeta)``, and an inference path returning ``(z_tilde, z_norm)`` like
:func:`bnviz.bn.infer`. Every variance is biased (1/m) with eps inside the square root,
and ``var + eps = 0`` gives ``z_norm = 0`` and no gradient, as in BN.

LayerNorm (Ba et al. 2016) normalizes each example over its own n units::

    mu(i)   = 1/n * sum_j z(i, j)
    var(i)  = 1/n * sum_j (z(i, j) - mu(i))^2
    z_norm  = (z - mu) / sqrt(var + eps)
    z_tilde = gamma * z_norm + beta          (gamma, beta per unit)

No statistic crosses examples, so a batch of one works and inference is the training
forward: there are no running estimates.

GroupNorm (Wu & He 2018) does the same per example over each of ``groups`` consecutive
blocks of n / groups units. ``groups = 1`` is LayerNorm. ``groups = n`` makes every group
one unit wide: its mean is the unit's own value, so ``z_norm = 0`` exactly, ``z_tilde =
beta`` whatever ``z`` is, and ``dz = 0``. In a convolutional network that choice is
InstanceNorm (each channel over its spatial positions); a unit of an MLP has no positions,
so per-unit normalization erases the signal.

Batch Renormalization (Ioffe 2017, Algorithm 1) is BN with a correction towards the
running estimates ``running_mu`` and ``running_var``::

    mu, var  = the batch statistics, as in BN
    sigma_B  = sqrt(var + eps)                   (eps inside the root, as in the paper)
    sigma    = sqrt(running_var + eps)
    r        = clip(sigma_B / sigma, 1/r_max, r_max)
    d        = clip((mu - running_mu) / sigma, -d_max, d_max)
    z_norm   = (z - mu) / sigma_B * r + d
    z_tilde  = gamma * z_norm + beta

r and d are constants in the backward pass (the paper's stop_gradient). ``r_max = 1``,
``d_max = 0`` is BN exactly. Inference is BN's with the running estimates:
``z_norm = (z - running_mu) / sigma``. The paper keeps a moving average of sigma_B itself;
bnviz keeps BN's estimates (the EWA of mu and of var, which the caller updates with
:func:`bnviz.bn.ewa` from ``cache.mu`` and ``cache.var``) and takes sigma from the running
variance, so the inference path is the note's. Where sigma = 0 (running variance 0 with
eps = 0) r and d take their limits for sigma -> 0+: r = r_max, d = +-d_max, and 0/0 gives
r = 1, d = 0 before clipping.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import bn
from .bn import Array, column_sum, inv_sqrt


@dataclass(slots=True)
class LayerNormCache:
    """What the LayerNorm backward pass needs: statistics per example."""

    z_norm: Array  # (..., m, n)
    mu: Array  # (..., m) each example's mean over its units
    var: Array  # (..., m) each example's variance over its units, 1/n
    inv_std: Array  # (..., m) 1 / sqrt(var + eps), 0 where var + eps == 0
    gamma: Array  # (..., n)


@dataclass(slots=True)
class GroupNormCache:
    """What the GroupNorm backward pass needs: statistics per example and group."""

    z_norm: Array  # (..., m, n)
    mu: Array  # (..., m, groups) each example's mean over each group of units
    var: Array  # (..., m, groups) the variance over each group, 1/(n / groups)
    inv_std: Array  # (..., m, groups) 1 / sqrt(var + eps), 0 where var + eps == 0
    gamma: Array  # (..., n)
    groups: int


@dataclass(slots=True)
class BatchRenormCache:
    """What the Batch Renorm backward pass needs, and the r, d it applied."""

    z_norm: Array  # (..., m, n) (z - mu) / sigma_B * r + d
    z_norm_bn: Array  # (..., m, n) BN's z_norm, (z - mu) / sigma_B
    mu: Array  # (..., n) batch mean
    var: Array  # (..., n) batch variance, 1/m
    inv_std: Array  # (..., n) 1 / sigma_B, 0 where var + eps == 0
    r: Array  # (..., n) the clipped scale correction
    d: Array  # (..., n) the clipped shift correction
    gamma: Array  # (..., n)


def _row(v: Array) -> Array:
    """A per-unit vector (..., n) as a row (..., 1, n) that broadcasts over examples."""
    return v[..., None, :]


def _as(x: float | Array, dtype: np.dtype) -> Array:
    return np.asarray(x, dtype=dtype)


def _normalize_last(x: Array, eps: Array) -> tuple[Array, Array, Array, Array]:
    """Normalize over the last axis: ``(x_norm, mu, var, inv_std)``, statistics without it."""
    c = x.shape[-1]
    mu = x.sum(axis=-1)
    mu /= c
    x_norm = x - mu[..., None]  # centred; normalized in place below
    var = np.einsum("...j,...j->...", x_norm, x_norm)
    var /= c
    inv_std = inv_sqrt(var, eps)
    x_norm *= inv_std[..., None]
    return x_norm, mu, var, inv_std


def _normalize_last_backward(dx_norm: Array, x_norm: Array, inv_std: Array) -> Array:
    """dL/dx from dL/dx_norm for :func:`_normalize_last`, in the compact closed form.

    dx = inv_std / c * (c dx_norm - sum_j dx_norm - x_norm * sum_j dx_norm * x_norm)
    """
    c = dx_norm.shape[-1]
    total = dx_norm.sum(axis=-1)[..., None]
    dot = np.einsum("...j,...j->...", dx_norm, x_norm)[..., None]
    dx = dx_norm * c
    dx -= total
    dx -= x_norm * dot
    dx *= (inv_std / c)[..., None]
    return dx


def _affine(z_norm: Array, gamma: Array, beta: Array) -> Array:
    z_tilde = z_norm * _row(gamma)
    z_tilde += _row(beta)
    return z_tilde


def _affine_backward(dz_tilde: Array, z_norm: Array) -> tuple[Array, Array]:
    """(dgamma, dbeta) of ``z_tilde = gamma * z_norm + beta``, summed over the examples."""
    return np.einsum("...ij,...ij->...j", dz_tilde, z_norm), column_sum(dz_tilde)


def layer_norm_forward(
    z: Array, gamma: Array, beta: Array, eps: float | Array
) -> tuple[Array, LayerNormCache]:
    """LayerNorm: normalize each example over its units; ``cache.mu``, ``cache.var`` per example."""
    dtype = z.dtype
    gamma, beta = _as(gamma, dtype), _as(beta, dtype)
    z_norm, mu, var, inv_std = _normalize_last(z, _as(eps, dtype))
    z_tilde = _affine(z_norm, gamma, beta)
    return z_tilde, LayerNormCache(z_norm=z_norm, mu=mu, var=var, inv_std=inv_std, gamma=gamma)


def layer_norm_backward(dz_tilde: Array, cache: LayerNormCache) -> tuple[Array, Array, Array]:
    """Gradients w.r.t. z, gamma and beta of :func:`layer_norm_forward`.

    dbeta  = sum_i dz_tilde(i)
    dgamma = sum_i dz_tilde(i) * z_norm(i)
    dz     = inv_std / n * (n g - sum_j g - z_norm * sum_j g * z_norm),  g = gamma * dz_tilde
    """
    dgamma, dbeta = _affine_backward(dz_tilde, cache.z_norm)
    dz = _normalize_last_backward(dz_tilde * _row(cache.gamma), cache.z_norm, cache.inv_std)
    return dz, dgamma, dbeta


def layer_norm_infer(z: Array, gamma: Array, beta: Array, eps: float | Array) -> tuple[Array, Array]:
    """Inference-mode LayerNorm, the training forward itself: ``(z_tilde, z_norm)``."""
    z_tilde, cache = layer_norm_forward(z, gamma, beta, eps)
    return z_tilde, cache.z_norm


def _check_groups(n: int, groups: int) -> None:
    if not isinstance(groups, int | np.integer) or groups < 1 or n % groups:
        raise ValueError(f"groups must be a positive integer that divides the width {n}, got {groups!r}")


def group_norm_forward(
    z: Array, gamma: Array, beta: Array, eps: float | Array, groups: int
) -> tuple[Array, GroupNormCache]:
    """GroupNorm: normalize each example over each of ``groups`` blocks of consecutive units.

    ``groups`` must divide the width n (ValueError otherwise); ``cache.mu`` and
    ``cache.var`` have shape ``(..., m, groups)``.
    """
    n = z.shape[-1]
    _check_groups(n, groups)
    dtype = z.dtype
    gamma, beta = _as(gamma, dtype), _as(beta, dtype)
    eps = _as(eps, dtype)
    if eps.ndim:
        eps = eps[..., None]  # (..., 1) -> (..., 1, 1): broadcasts over examples and groups
    zg = z.reshape(z.shape[:-1] + (groups, n // groups))
    zg_norm, mu, var, inv_std = _normalize_last(zg, eps)
    z_norm = zg_norm.reshape(z.shape)
    z_tilde = _affine(z_norm, gamma, beta)
    cache = GroupNormCache(z_norm=z_norm, mu=mu, var=var, inv_std=inv_std, gamma=gamma, groups=groups)
    return z_tilde, cache


def group_norm_backward(dz_tilde: Array, cache: GroupNormCache) -> tuple[Array, Array, Array]:
    """Gradients w.r.t. z, gamma and beta of :func:`group_norm_forward`: LayerNorm's
    closed form within each group, with c = n / groups units in place of n."""
    dgamma, dbeta = _affine_backward(dz_tilde, cache.z_norm)
    shape = dz_tilde.shape
    grouped = shape[:-1] + (cache.groups, shape[-1] // cache.groups)
    dz_norm = (dz_tilde * _row(cache.gamma)).reshape(grouped)
    dz = _normalize_last_backward(dz_norm, cache.z_norm.reshape(grouped), cache.inv_std)
    return dz.reshape(shape), dgamma, dbeta


def group_norm_infer(
    z: Array, gamma: Array, beta: Array, eps: float | Array, groups: int
) -> tuple[Array, Array]:
    """Inference-mode GroupNorm, the training forward itself: ``(z_tilde, z_norm)``."""
    z_tilde, cache = group_norm_forward(z, gamma, beta, eps, groups)
    return z_tilde, cache.z_norm


def _ratio(num: Array, den: Array, zero_over_zero: float) -> Array:
    """num / den, with the limit den -> 0+ where den == 0: +-inf, and ``zero_over_zero`` for 0/0."""
    if den.min() > 0:
        return num / den
    limit = np.where(num > 0, np.inf, np.where(num < 0, -np.inf, zero_over_zero)).astype(num.dtype)
    return np.divide(num, den, out=limit, where=den > 0)


def batch_renorm_forward(
    z: Array,
    gamma: Array,
    beta: Array,
    eps: float | Array,
    running_mu: Array,
    running_var: Array,
    r_max: float | Array,
    d_max: float | Array,
) -> tuple[Array, BatchRenormCache]:
    """Training-mode Batch Renorm: BN's batch normalization corrected by r and d.

    ``r_max >= 1`` and ``d_max >= 0`` (ValueError otherwise). Returns ``(z_tilde, cache)``;
    ``cache.mu`` and ``cache.var`` are the batch statistics (for the running estimates),
    ``cache.r`` and ``cache.d`` the corrections applied.
    """
    dtype = z.dtype
    r_max, d_max = _as(r_max, dtype), _as(d_max, dtype)
    if r_max.min() < 1 or d_max.min() < 0:
        raise ValueError("Batch Renorm needs r_max >= 1 and d_max >= 0")
    gamma, beta, eps = _as(gamma, dtype), _as(beta, dtype), _as(eps, dtype)
    running_mu, running_var = _as(running_mu, dtype), _as(running_var, dtype)
    m = z.shape[-2]
    mu = column_sum(z)
    mu /= m
    z_norm_bn = z - _row(mu)
    var = np.einsum("...ij,...ij->...j", z_norm_bn, z_norm_bn)
    var /= m
    inv_std = inv_sqrt(var, eps)
    z_norm_bn *= _row(inv_std)
    sigma_b = np.sqrt(var + eps)
    sigma = np.sqrt(running_var + eps)
    r = np.clip(_ratio(sigma_b, sigma, 1.0), 1 / r_max, r_max)
    d = np.clip(_ratio(mu - running_mu, sigma, 0.0), -d_max, d_max)
    z_norm = z_norm_bn * _row(r)
    z_norm += _row(d)
    z_tilde = _affine(z_norm, gamma, beta)
    cache = BatchRenormCache(
        z_norm=z_norm, z_norm_bn=z_norm_bn, mu=mu, var=var, inv_std=inv_std, r=r, d=d, gamma=gamma
    )
    return z_tilde, cache


def batch_renorm_backward(dz_tilde: Array, cache: BatchRenormCache) -> tuple[Array, Array, Array]:
    """Gradients w.r.t. z, gamma and beta of :func:`batch_renorm_forward`, r and d held fixed.

    dbeta  = sum_i dz_tilde(i)
    dgamma = sum_i dz_tilde(i) * z_norm(i)                (z_norm with r and d)
    dz     = gamma r / (m sigma_B) * (m dz_tilde - dbeta - z_norm_bn * sum_i dz_tilde(i) z_norm_bn(i))

    which is :func:`bnviz.bn.backward` with gamma * r in place of gamma.
    """
    m = dz_tilde.shape[-2]
    dgamma, dbeta = _affine_backward(dz_tilde, cache.z_norm)
    dgamma_bn = np.einsum("...ij,...ij->...j", dz_tilde, cache.z_norm_bn)
    scale = cache.gamma * cache.r * cache.inv_std  # (..., n)
    k = scale / -m
    dz = cache.z_norm_bn * _row(k * dgamma_bn)
    dz += _row(k * dbeta)
    dz += dz_tilde * _row(scale)
    return dz, dgamma, dbeta


def batch_renorm_infer(
    z: Array,
    gamma: Array,
    beta: Array,
    eps: float | Array,
    running_mu: Array,
    running_var: Array,
) -> tuple[Array, Array]:
    """Inference-mode Batch Renorm, BN's with the running estimates: ``(z_tilde, z_norm)``."""
    return bn.infer(z, gamma, beta, eps, running_mu, running_var)

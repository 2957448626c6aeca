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
from functools import lru_cache

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
    """What the Batch Renorm backward pass needs, and the r, d it applied.

    Its ``z_norm`` (with r and d) is computed when read: the training loop reads only
    ``z_norm_bn``, r and d, so a training step makes no pass over the batch for it."""

    z_norm_bn: Array  # (..., m, n) BN's z_norm, (z - mu) / sigma_B
    mu: Array  # (..., n) batch mean
    var: Array  # (..., n) batch variance, 1/m
    inv_std: Array  # (..., n) 1 / sigma_B, 0 where var + eps == 0
    r: Array  # (..., n) the clipped scale correction
    d: Array  # (..., n) the clipped shift correction
    gamma: Array  # (..., n)
    gamma_r: Array  # (..., n) gamma * r, the scale z_tilde applies to z_norm_bn

    @property
    def z_norm(self) -> Array:
        """Batch Renorm's z_norm, ``z_norm_bn * r + d`` (..., m, n), computed at each read."""
        z_norm = self.z_norm_bn * _row(self.r)
        z_norm += _row(self.d)
        return z_norm


def _row(v: Array) -> Array:
    """A per-unit vector (..., n) as a row (..., 1, n) that broadcasts over examples."""
    return v[..., None, :]


def _as(x: float | Array, dtype: np.dtype) -> Array:
    return np.asarray(x, dtype=dtype)


# Up to this width GroupNorm sums with an (n, n) block matrix, each group's sum landing in all
# of its units at once: one BLAS product instead of a product and a spread back over the units.
# Its cost grows with n * n, and wider layers sum into (..., m, groups) instead.
BLOCKS_UP_TO = 32


@lru_cache(maxsize=64)
def _indicator(n: int, groups: int, dtype: np.dtype) -> tuple[Array, Array]:
    """``(G, G / c)`` for groups of c = n / groups consecutive units, read-only and cached:
    ``G[j, g] = 1`` where unit j is in group g, else 0. One group: G is the vector of n ones.
    Up to ``BLOCKS_UP_TO`` units, G is (n, n) instead, ``G[j, k] = 1`` where units j and k share
    a group, so that ``a @ G`` holds each group's sum in every unit of the group."""
    group_of = np.arange(n) // (n // groups)
    G = (group_of[:, None] == np.arange(groups)).astype(dtype)
    if groups == 1:
        G = G[:, 0].copy()
    elif n <= BLOCKS_UP_TO:  # B[j, k] = 1 where units j and k share a group: sums by unit
        G = (group_of[:, None] == group_of).astype(dtype)
    out = G, G / (n // groups)
    for a in out:
        a.flags.writeable = False
    return out


def _group_stat(a: Array, groups: int, mean: bool = False) -> Array:
    """Each example's sum (``mean``: mean) over each group of its units, as one BLAS product with
    :func:`_indicator`'s G for the examples of every model of a stack: (..., m, 1) for one group,
    (..., m, n) by unit up to ``BLOCKS_UP_TO`` units, else (..., m, groups)."""
    n = a.shape[-1]
    G, G_mean = _indicator(n, groups, a.dtype)
    if groups == 1:
        return (a @ (G_mean if mean else G))[..., None]
    if n <= BLOCKS_UP_TO:  # (..., m, n): every unit holds its group's value
        return (a.reshape(-1, n) @ (G_mean if mean else G)).reshape(a.shape)
    return (a.reshape(-1, n) @ (G_mean if mean else G)).reshape(a.shape[:-1] + (groups,))


def _by_unit(v: Array, groups: int, n: int) -> Array:
    """Per-group values in each unit of their group, to broadcast against (..., m, n): (..., m, 1)
    for one group and (..., m, n) by unit as they are, (..., m, groups) repeated over the units."""
    if groups == 1 or v.shape[-1] == n:  # one group, or already by unit (BLOCKS_UP_TO)
        return v
    return np.repeat(v, n // groups, axis=-1)


def _normalize_groups(z: Array, eps: Array, groups: int) -> tuple[Array, Array, Array, Array]:
    """Normalize each example over each of ``groups`` blocks of consecutive units:
    ``(z_norm, mu, var, inv_std)``, the statistics (..., m, groups).

    Every step is a pass over (..., m, n) or a BLAS product (:func:`_group_stat`, :func:`_by_unit`);
    on a (..., m, groups, n / groups) layout NumPy's loops would run along rows of n / groups
    values, dearer than BN's steps on the default network (``.venv/bin/python bench/norms.py``).
    """
    n = z.shape[-1]
    c = n // groups
    mu = _group_stat(z, groups)
    mu /= c
    z_norm = z - _by_unit(mu, groups, n)  # centred; normalized in place below
    var = _group_stat(np.square(z_norm), groups)
    var /= c
    inv_std = inv_sqrt(var, eps[..., None] if eps.ndim else eps)  # eps (..., 1) -> (..., 1, 1)
    z_norm *= _by_unit(inv_std, groups, n)
    if groups > 1 and mu.shape[-1] == n:  # by unit: each group's from its first unit
        mu, var, inv_std = mu[..., ::c], var[..., ::c], inv_std[..., ::c]
    return z_norm, mu, var, inv_std


def _normalize_groups_backward(
    dz_tilde: Array, z_norm: Array, inv_std: Array, gamma: Array, groups: int
) -> tuple[Array, Array, Array]:
    """(dz, dgamma, dbeta) of ``z_tilde = gamma * z_norm + beta`` after :func:`_normalize_groups`,
    in the compact closed form, with g = gamma * dz_tilde and the means over each group::

        dz = inv_std * (g - mean g - z_norm * mean(g * z_norm))
    """
    n = z_norm.shape[-1]
    gz = dz_tilde * z_norm
    dgamma, dbeta = column_sum(gz), column_sum(dz_tilde)
    g = dz_tilde * _row(gamma)
    gz *= _row(gamma)  # g * z_norm
    dz = g - _by_unit(_group_stat(g, groups, mean=True), groups, n)
    dz -= z_norm * _by_unit(_group_stat(gz, groups, mean=True), groups, n)
    dz *= _by_unit(inv_std, groups, n)
    return dz, dgamma, dbeta


def _affine(z_norm: Array, gamma: Array, beta: Array) -> Array:
    z_tilde = z_norm * _row(gamma)
    z_tilde += _row(beta)
    return z_tilde


def layer_norm_forward(
    z: Array, gamma: Array, beta: Array, eps: float | Array
) -> tuple[Array, LayerNormCache]:
    """LayerNorm: normalize each example over its units; ``cache.mu``, ``cache.var`` per example."""
    dtype = z.dtype
    gamma, beta = _as(gamma, dtype), _as(beta, dtype)
    z_norm, mu, var, inv_std = _normalize_groups(z, _as(eps, dtype), 1)
    z_tilde = _affine(z_norm, gamma, beta)
    mu, var, inv_std = mu[..., 0], var[..., 0], inv_std[..., 0]  # (..., m, 1) -> (..., m)
    cache = LayerNormCache(z_norm=z_norm, mu=mu, var=var, inv_std=inv_std, gamma=gamma)
    return z_tilde, cache


def layer_norm_backward(dz_tilde: Array, cache: LayerNormCache) -> tuple[Array, Array, Array]:
    """Gradients w.r.t. z, gamma and beta of :func:`layer_norm_forward`.

    dbeta  = sum_i dz_tilde(i)
    dgamma = sum_i dz_tilde(i) * z_norm(i)
    dz     = inv_std / n * (n g - sum_j g - z_norm * sum_j g * z_norm),  g = gamma * dz_tilde
    """
    return _normalize_groups_backward(dz_tilde, cache.z_norm, cache.inv_std[..., None], cache.gamma, 1)


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
    z_norm, mu, var, inv_std = _normalize_groups(z, _as(eps, dtype), groups)
    z_tilde = _affine(z_norm, gamma, beta)
    cache = GroupNormCache(z_norm=z_norm, mu=mu, var=var, inv_std=inv_std, gamma=gamma, groups=groups)
    return z_tilde, cache


def group_norm_backward(dz_tilde: Array, cache: GroupNormCache) -> tuple[Array, Array, Array]:
    """Gradients w.r.t. z, gamma and beta of :func:`group_norm_forward`: LayerNorm's
    closed form within each group, with c = n / groups units in place of n."""
    c = cache
    return _normalize_groups_backward(dz_tilde, c.z_norm, c.inv_std, c.gamma, c.groups)


def group_norm_infer(
    z: Array, gamma: Array, beta: Array, eps: float | Array, groups: int
) -> tuple[Array, Array]:
    """Inference-mode GroupNorm, the training forward itself: ``(z_tilde, z_norm)``."""
    z_tilde, cache = group_norm_forward(z, gamma, beta, eps, groups)
    return z_tilde, cache.z_norm


def _ratio(num: Array, den: Array, zero_over_zero: float) -> Array:
    """num / den where den > 0, and the limit den -> 0+ where den == 0: +-inf, and
    ``zero_over_zero`` for 0/0."""
    limit = np.where(num > 0, np.inf, np.where(num < 0, -np.inf, zero_over_zero)).astype(num.dtype)
    return np.divide(num, den, out=limit, where=den > 0)


def _least(a: float | Array) -> float:
    """The least value of ``a``; one value (a float, a (K, 1) column of one model) read
    directly, without a reduction."""
    if isinstance(a, float):
        return a
    return a.item() if a.size == 1 else a.min()


def _one(x: float | Array, dtype: np.dtype) -> float | Array:
    """``x`` (eps, r_max, d_max) in ``dtype``: one value (a float, the (1, 1) column of one model)
    as a Python float, which NumPy applies to a per-unit vector faster than it broadcasts a
    (1, 1) array against it (``.venv/bin/python bench/norms.py``, the engine's (1, 32, 12));
    several (a stack's column) as the array."""
    a = np.asarray(x, dtype)
    return a.item() if a.size == 1 else a


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
    r_max, d_max = _one(r_max, dtype), _one(d_max, dtype)
    if _least(r_max) < 1 or _least(d_max) < 0:
        raise ValueError("Batch Renorm needs r_max >= 1 and d_max >= 0")
    gamma, beta, eps = _as(gamma, dtype), _as(beta, dtype), _one(eps, dtype)
    running_mu, running_var = _as(running_mu, dtype), _as(running_var, dtype)
    mu, var, z_norm_bn = bn.batch_stats(z)  # z_norm_bn centred; normalized in place below
    # On the default network a NumPy call on a per-unit vector costs about what a pass over the
    # batch does, and more when it broadcasts: every per-unit step below is one call on vectors
    # of one shape, with one model's eps, r_max, d_max as floats
    # (``.venv/bin/python bench/core.py`` times Batch Renorm's steps against BN's).
    sigma_b, sigma = var + eps, running_var + eps  # squared until the square roots below
    # eps > 0 makes both positive (variances are >= 0); else one reduction checks both
    positive = _least(eps) > 0 or np.minimum(sigma_b, sigma).min() > 0
    np.sqrt(sigma_b, out=sigma_b)
    np.sqrt(sigma, out=sigma)
    r: Array
    d: Array
    if positive:
        inv_std = np.reciprocal(sigma_b)
        r = np.divide(sigma_b, sigma, out=sigma_b)  # sigma_B / sigma
        d = mu - running_mu
        d /= sigma
    else:
        inv_std = inv_sqrt(var, eps)  # 0 where var + eps == 0
        r, d = _ratio(sigma_b, sigma, 1.0), _ratio(mu - running_mu, sigma, 0.0)
    np.maximum(r, 1 / r_max, out=r)  # clip(r, 1 / r_max, r_max) and clip(d, -d_max, d_max), in place
    np.minimum(r, r_max, out=r)
    np.maximum(d, -d_max, out=d)
    np.minimum(d, d_max, out=d)
    z_norm_bn *= _row(inv_std)
    # z_tilde = gamma * (z_norm_bn * r + d) + beta = z_norm_bn * (gamma r) + (gamma d + beta):
    # two passes over the batch, as BN's affine step; z_norm itself is the cache's, when read
    gamma_r = gamma * r
    shift = gamma * d
    shift += beta
    z_tilde = z_norm_bn * _row(gamma_r)
    z_tilde += _row(shift)
    cache = BatchRenormCache(
        z_norm_bn=z_norm_bn, mu=mu, var=var, inv_std=inv_std, r=r, d=d, gamma=gamma, gamma_r=gamma_r
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
    dbeta = column_sum(dz_tilde)
    dgamma_bn = np.einsum("...ij,...ij->...j", dz_tilde, cache.z_norm_bn)
    dgamma = dgamma_bn * cache.r  # sum_i dz_tilde(i) * (r z_norm_bn(i) + d), one pass fewer
    dgamma += cache.d * dbeta
    scale = cache.gamma_r * cache.inv_std  # (..., n)
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

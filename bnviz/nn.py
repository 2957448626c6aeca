"""A small MLP with the note's layer: A[l-1] --W--> Z --BN(gamma, beta)--> Z~ --g--> A[l].

``use_bn`` is the one on/off switch of the normalization; ``norm`` says which one the
hidden layers use when it is on (``NORMS``): "batch" (the note's BN, the default),
"layer" (LayerNorm: each example over its units), "group" (GroupNorm: each example over
``groups`` blocks of units) or "renorm" (Batch Renormalization, BN corrected towards the
running estimates; see :mod:`bnviz.norms`). Only "batch" and "renorm" have batch
statistics, hence running estimates and population statistics (``MLP.batch_stats``);
LayerNorm and GroupNorm normalize each example by itself, in training and at inference.
``position`` "after" moves the normalization behind the activation: A[l-1] --W--> Z' --g-->
Z --norm--> Z~ = A[l]. A Tap's ``z`` is always what the normalization normalizes, so there
it is g's output, and ``Tap.pre`` keeps the linear output Z' = A[l-1] W + b.

All parameters live in one flat array ``theta`` (and all gradients in ``grad``);
``W``, ``b``, ``gamma``, ``beta`` are views into it. That makes an optimizer step
one vectorized operation, and lets :mod:`bnviz.sweep` stack K models along a
leading axis: ``theta`` of shape ``(K, P)``, ``W[l]`` of shape ``(K, n_in, n_out)``,
inputs of shape ``(K, m, n_in)``. Every function below works for both.

With BN on, each hidden layer keeps its bias ``b``: the mean subtraction cancels
it, so its gradient is zero (to rounding) -- the app shows exactly that. (LayerNorm and
GroupNorm subtract each example's mean over units instead, which does not cancel a bias
that differs between units.) With normalization off, ``b`` does its usual job and
``gamma``/``beta`` do not exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import DTypeLike, NDArray

from . import bn, norms
from .bn import column_sum, ones

Array = NDArray[np.floating]
ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")
NORMS = ("batch", "layer", "group", "renorm")
# Where the normalization sits in a hidden layer: before g (the note's Z -> BN -> g) or after
# it (Z -> g -> BN, whose output is the next layer's input).
POSITIONS = ("before", "after")
# What a training-mode normalization keeps for its backward pass (and the app's z_norm).
Cache = bn.Cache | norms.LayerNormCache | norms.GroupNormCache | norms.BatchRenormCache
STATS = ("running", "corrected", "population", "batch")
# Noise after BN for one hidden layer: a scale s and a shift d per unit, shape lead + (n,),
# so that z_tilde becomes s * z_tilde + d (the same s_j, d_j for every example of the batch).
Noise = tuple[Array, Array]


def activate(name: str, z_tilde: Array) -> Array:
    if name == "relu":
        return np.maximum(z_tilde, 0)
    if name == "tanh":
        return np.tanh(z_tilde)
    if name == "sigmoid":
        # 1 / (1 + exp(-x)) as written: NumPy's exp is 1.6-2.5x faster than its tanh in
        # float64, and accurate where 0.5 (1 + tanh(x / 2)) cancels (x << 0: at x = -30 that
        # form is off by 2e-4 relative). exp(-x) overflows to inf for x < -709, where 1 / inf
        # = 0 is the right value, so that warning is silenced.
        out = np.negative(z_tilde)
        with np.errstate(over="ignore"):
            np.exp(out, out=out)
        out += 1
        np.reciprocal(out, out=out)
        return out
    if name == "linear":
        return z_tilde
    raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")


def activate_backward(name: str, da: Array, z_tilde: Array, a: Array) -> Array:
    """dL/dz_tilde from dL/da, using the forward input and output."""
    if name == "relu":
        return da * (z_tilde > 0)
    if name == "tanh":
        return da * (1 - a * a)
    if name == "sigmoid":
        return da * (a * (1 - a))
    return da


@dataclass
class Tap:
    """What one hidden layer computed in a forward pass (the app's histograms)."""

    a_prev: Array
    z: Array
    z_tilde: Array  # the normalization's output: gamma * z_norm + beta (then s * . + d with noise)
    a: Array  # the layer's output: g(z_tilde), or z_tilde itself with the normalization after g
    # training mode only, for the backward pass: bn.Cache for "batch" (and for "renorm"
    # without running estimates), else the norm's own (norms.LayerNormCache, ...); its mu
    # and var are per unit for "batch"/"renorm", per example (and group) for "layer"/"group"
    cache: Cache | None = None
    noise: Noise | None = None  # the (s, d) applied after BN in this pass, if any
    pre: Array | None = None  # with the normalization after g: A[l-1] W + b, and z = g(pre)
    infer_z_norm: Array | None = None  # inference mode: the z_norm bn.infer computed

    @property
    def z_norm(self) -> Array | None:
        """z_norm as the normalization computed it, None without normalization: in training
        mode the cache's (Batch Renorm's is computed when read, so the training loop, which
        reads none, makes no pass for it), in inference mode ``infer_z_norm``."""
        return self.infer_z_norm if self.cache is None else self.cache.z_norm


@dataclass
class MLP:
    """Hidden layers ``Linear -> [norm] -> activation``, then ``Linear -> softmax``."""

    sizes: tuple[int, ...]  # (n_in, hidden..., n_out)
    activation: str
    use_bn: bool  # the normalization on or off
    eps: float | Array
    theta: Array
    grad: Array
    norm: str = "batch"  # which normalization, with use_bn on (NORMS)
    position: str = "before"  # the normalization before or after the activation (POSITIONS)
    groups: int = 1  # GroupNorm's number of groups
    r_max: float | Array = 3.0  # Batch Renorm's clip limits (floats, or (K, 1) like eps)
    d_max: float | Array = 5.0
    W: list[Array] = field(default_factory=list)
    b: list[Array] = field(default_factory=list)
    gamma: list[Array] = field(default_factory=list)
    beta: list[Array] = field(default_factory=list)
    dW: list[Array] = field(default_factory=list)
    db: list[Array] = field(default_factory=list)
    dgamma: list[Array] = field(default_factory=list)
    dbeta: list[Array] = field(default_factory=list)
    slices: dict[str, list[slice]] = field(default_factory=dict)

    @property
    def depth(self) -> int:
        """Number of hidden layers."""
        return len(self.sizes) - 2

    @property
    def lead(self) -> tuple[int, ...]:
        """Leading model-stack shape: () for one network, (K,) for K stacked."""
        return self.theta.shape[:-1]

    @property
    def after(self) -> bool:
        """The normalization is on and sits after the activation."""
        return self.use_bn and self.position == "after"

    @property
    def batch_stats(self) -> bool:
        """Normalized with batch statistics ("batch", "renorm"): running estimates and
        population statistics exist. False without normalization and for "layer", "group"."""
        return self.use_bn and self.norm in ("batch", "renorm")


def like(
    net: MLP,
    eps: float | Array | None = None,
    lead: tuple[int, ...] | None = None,
    dtype: DTypeLike | None = None,
    r_max: float | Array | None = None,
    d_max: float | Array | None = None,
) -> MLP:
    """A zero network of ``net``'s architecture and normalization; the per-model values
    (eps, r_max, d_max), the stack shape and the dtype are ``net``'s unless given."""
    return create(
        net.sizes,
        net.activation,
        net.use_bn,
        net.eps if eps is None else eps,
        lead=net.lead if lead is None else lead,
        dtype=net.theta.dtype if dtype is None else dtype,
        norm=net.norm,
        position=net.position,
        groups=net.groups,
        r_max=net.r_max if r_max is None else r_max,
        d_max=net.d_max if d_max is None else d_max,
    )


def create(
    sizes: tuple[int, ...],
    activation: str = "relu",
    use_bn: bool = True,
    eps: float | Array = 1e-5,
    lead: tuple[int, ...] = (),
    dtype: DTypeLike = np.float64,
    norm: str = "batch",
    groups: int = 1,
    r_max: float | Array = 3.0,
    d_max: float | Array = 5.0,
    position: str = "before",
) -> MLP:
    """Allocate a zero network; fill it with :func:`init`.

    ``use_bn`` switches the normalization on or off; ``norm`` chooses it (``NORMS``),
    ``groups`` is GroupNorm's (it must divide every hidden width), ``r_max`` and ``d_max``
    Batch Renorm's clip limits, ``position`` where it sits (``POSITIONS``)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if position not in POSITIONS:
        raise ValueError(f"position must be one of {POSITIONS}, got {position!r}")
    if use_bn and norm == "group" and (groups < 1 or any(n % groups for n in sizes[1:-1])):
        raise ValueError(f"groups: {groups} does not divide the width of every hidden layer {sizes[1:-1]}")
    shapes: list[tuple[str, tuple[int, ...]]] = []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
        shapes += [("W", (n_in, n_out)), ("b", (n_out,))]
        if use_bn:
            shapes += [("gamma", (n_out,)), ("beta", (n_out,))]
    shapes += [("W", (sizes[-2], sizes[-1])), ("b", (sizes[-1],))]
    total = sum(int(np.prod(s)) for _, s in shapes)
    theta: Array = np.zeros(lead + (total,), dtype=dtype)
    grad = np.zeros_like(theta)
    net = MLP(tuple(sizes), activation, use_bn, eps, theta, grad, norm, position, groups, r_max, d_max)
    net.slices = {"W": [], "b": [], "gamma": [], "beta": []}
    off = 0
    for name, shape in shapes:
        size = int(np.prod(shape))
        sl = slice(off, off + size)
        getattr(net, name).append(theta[..., sl].reshape(lead + shape))
        getattr(net, "d" + name).append(grad[..., sl].reshape(lead + shape))
        net.slices[name].append(sl)
        off += size
    return net


def init(net: MLP, rng: np.random.Generator, gamma_init: float = 1.0, beta_init: float = 0.0) -> MLP:
    """He init for ReLU, Glorot for the others; b = 0; gamma, beta as given."""
    for W in net.W:
        n_in, n_out = W.shape[-2:]
        if net.activation == "relu":
            std = np.sqrt(2.0 / n_in)
        else:
            std = np.sqrt(2.0 / (n_in + n_out))
        W[...] = rng.standard_normal(W.shape) * std
    for b in net.b:
        b[...] = 0
    for g in net.gamma:
        g[...] = gamma_init
    for be in net.beta:
        be[...] = beta_init
    return net


def forward(
    net: MLP,
    X: Array,
    stats: list[tuple[Array, Array]] | None = None,
    noise: list[Noise] | None = None,
    running: list[tuple[Array, Array]] | None = None,
) -> tuple[Array, list[Tap]]:
    """Logits and one :class:`Tap` per hidden layer.

    ``stats=None`` is training mode: each BN layer uses this batch's mu and var.
    Otherwise ``stats[l] = (mu, var)`` is used for hidden layer ``l``
    (running, bias-corrected running, population ... -- the caller chooses).
    LayerNorm and GroupNorm have no such statistics: they ignore ``stats`` and normalize
    each example by itself in both modes. ``running[l] = (mu, var)`` are the estimates
    Batch Renorm's training mode corrects towards; without them ("renorm", ``running=None``)
    the training forward is BN's (r = 1, d = 0), as for the population statistics.
    ``noise[l] = (s, d)`` (training mode with normalization only; inference ignores it)
    replaces layer l's z_tilde by ``s * z_tilde + d`` (before the activation, or as the
    layer's output with the normalization after g): Santurkar et al. 2018's noisy BN, a
    shift of the next layer's input distribution after BN.
    """
    taps: list[Tap] = []
    a = X
    for l in range(net.depth):
        z: Array = a @ net.W[l]
        z += net.b[l][..., None, :]
        tap = Tap(a_prev=a, z=z, z_tilde=z, a=z)
        if net.after:  # Z' -> g -> Z: the normalization's input is the activation's output
            tap.pre = z
            tap.z = tap.z_tilde = z = activate(net.activation, z)
        if net.use_bn:
            if stats is None or not net.batch_stats:
                tap.z_tilde, tap.cache = _normalize(net, l, z, None if running is None else running[l])
                if noise is not None and stats is None:
                    tap.noise = scale, shift = noise[l]
                    tap.z_tilde *= scale[..., None, :]
                    tap.z_tilde += shift[..., None, :]
            else:
                mu, var = stats[l]
                tap.z_tilde, tap.infer_z_norm = bn.infer(z, net.gamma[l], net.beta[l], net.eps, mu, var)
        tap.a = tap.z_tilde if net.after else activate(net.activation, tap.z_tilde)
        taps.append(tap)
        a = tap.a
    logits = a @ net.W[-1]
    logits += net.b[-1][..., None, :]
    return logits, taps


def _normalize(net: MLP, l: int, z: Array, running: tuple[Array, Array] | None) -> tuple[Array, Cache]:
    """Training-mode normalization of hidden layer l: ``(z_tilde, cache)``."""
    gamma, beta = net.gamma[l], net.beta[l]
    if net.norm == "layer":
        return norms.layer_norm_forward(z, gamma, beta, net.eps)
    if net.norm == "group":
        return norms.group_norm_forward(z, gamma, beta, net.eps, net.groups)
    if net.norm == "renorm" and running is not None:
        mu, var = running
        return norms.batch_renorm_forward(z, gamma, beta, net.eps, mu, var, net.r_max, net.d_max)
    return bn.forward(z, gamma, beta, net.eps)


def _normalize_backward(dz_tilde: Array, cache: Cache) -> tuple[Array, Array, Array]:
    """(dz, dgamma, dbeta) of the normalization that left ``cache``."""
    if isinstance(cache, bn.Cache):
        return bn.backward(dz_tilde, cache)
    if isinstance(cache, norms.LayerNormCache):
        return norms.layer_norm_backward(dz_tilde, cache)
    if isinstance(cache, norms.GroupNormCache):
        return norms.group_norm_backward(dz_tilde, cache)
    return norms.batch_renorm_backward(dz_tilde, cache)


def _class_max(x: Array) -> Array:
    """Max over the last (class) axis, one class at a time.

    NumPy reduces a short innermost axis slowly: for 100 stacked models, (100, 32, 2)
    logits took 320 us with ``x.max(axis=-1)`` and 8 us this way.
    """
    out = x[..., 0].copy()
    for c in range(1, x.shape[-1]):
        np.maximum(out, x[..., c], out=out)
    return out


def softmax_cross_entropy(logits: Array, Y: Array) -> tuple[Array, Array]:
    """Mean cross-entropy over the examples (per model) and dL/dlogits.

    ``Y`` is one-hot, shape like ``logits``.
    """
    m = logits.shape[-2]
    shifted = logits - _class_max(logits)[..., None]
    e = np.exp(shifted)
    s = (e @ ones(e.shape[-1], e.dtype))[..., None]  # sum over classes
    log_p = shifted - np.log(s)
    loss = np.einsum("...ij,...ij->...", Y, log_p) / -m  # one operation on the (K,) losses
    dlogits = e / s
    dlogits -= Y
    dlogits /= m
    return loss, dlogits


def _t(a: Array) -> Array:
    return np.swapaxes(a, -1, -2)


def backward(net: MLP, logits: Array, taps: list[Tap], Y: Array) -> Array:
    """Fill ``net.grad`` with dL/dtheta for a training-mode forward; return the loss."""
    loss, dout = softmax_cross_entropy(logits, Y)
    a_last = taps[-1].a if taps else None
    if a_last is None:
        raise ValueError("the network needs at least one hidden layer")
    np.matmul(_t(a_last), dout, out=net.dW[-1])
    net.db[-1][...] = column_sum(dout)
    da = dout @ _t(net.W[-1])
    for l in range(net.depth - 1, -1, -1):
        tap = taps[l]
        dz = da if net.after else activate_backward(net.activation, da, tap.z_tilde, tap.a)
        if net.use_bn:
            assert tap.cache is not None, "backward needs a training-mode forward"
            if tap.noise is not None:  # z_tilde' = s * z_tilde + d: dz_tilde = s * dz_tilde'
                dz *= tap.noise[0][..., None, :]
            dz, dgamma, dbeta = _normalize_backward(dz, tap.cache)
            net.dgamma[l][...] = dgamma
            net.dbeta[l][...] = dbeta
        if net.after:
            assert tap.pre is not None
            dz = activate_backward(net.activation, dz, tap.pre, tap.z)
        np.matmul(_t(tap.a_prev), dz, out=net.dW[l])
        net.db[l][...] = column_sum(dz)
        if l > 0:
            da = dz @ _t(net.W[l])
    return loss


def predict(net: MLP, X: Array, stats: list[tuple[Array, Array]] | None) -> Array:
    """Class index per example; ``stats=None`` normalizes with X's own statistics."""
    logits, _ = forward(net, X, stats)
    return logits.argmax(axis=-1)

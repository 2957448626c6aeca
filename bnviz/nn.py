"""A small MLP with the note's layer: A[l-1] --W--> Z --BN(gamma, beta)--> Z~ --g--> A[l].

All parameters live in one flat array ``theta`` (and all gradients in ``grad``);
``W``, ``b``, ``gamma``, ``beta`` are views into it. That makes an optimizer step
one vectorized operation, and lets :mod:`bnviz.sweep` stack K models along a
leading axis: ``theta`` of shape ``(K, P)``, ``W[l]`` of shape ``(K, n_in, n_out)``,
inputs of shape ``(K, m, n_in)``. Every function below works for both.

With BN on, each hidden layer keeps its bias ``b``: the mean subtraction cancels
it, so its gradient is zero (to rounding) -- the app shows exactly that. With BN
off, ``b`` does its usual job and ``gamma``/``beta`` do not exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import DTypeLike, NDArray

from . import bn
from .bn import column_sum, ones

Array = NDArray[np.floating]
ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")
STATS = ("running", "corrected", "population", "batch")


def activate(name: str, z_tilde: Array) -> Array:
    if name == "relu":
        return np.maximum(z_tilde, 0)
    if name == "tanh":
        return np.tanh(z_tilde)
    if name == "sigmoid":
        # 1 / (1 + exp(-x)) written via tanh: no overflow warnings for large |x|
        out = np.tanh(z_tilde * 0.5)
        out += 1
        out *= 0.5
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
    z_tilde: Array
    a: Array
    z_norm: Array | None = None  # None without BN
    cache: bn.Cache | None = None  # training mode only: for the backward pass


@dataclass
class MLP:
    """Hidden layers ``Linear -> [BN] -> activation``, then ``Linear -> softmax``."""

    sizes: tuple[int, ...]  # (n_in, hidden..., n_out)
    activation: str
    use_bn: bool
    eps: float | Array
    theta: Array
    grad: Array
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


def create(
    sizes: tuple[int, ...],
    activation: str = "relu",
    use_bn: bool = True,
    eps: float | Array = 1e-5,
    lead: tuple[int, ...] = (),
    dtype: DTypeLike = np.float64,
) -> MLP:
    """Allocate a zero network; fill it with :func:`init`."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    shapes: list[tuple[str, tuple[int, ...]]] = []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
        shapes += [("W", (n_in, n_out)), ("b", (n_out,))]
        if use_bn:
            shapes += [("gamma", (n_out,)), ("beta", (n_out,))]
    shapes += [("W", (sizes[-2], sizes[-1])), ("b", (sizes[-1],))]
    total = sum(int(np.prod(s)) for _, s in shapes)
    theta: Array = np.zeros(lead + (total,), dtype=dtype)
    grad = np.zeros_like(theta)
    net = MLP(tuple(sizes), activation, use_bn, eps, theta, grad)
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


def forward(net: MLP, X: Array, stats: list[tuple[Array, Array]] | None = None) -> tuple[Array, list[Tap]]:
    """Logits and one :class:`Tap` per hidden layer.

    ``stats=None`` is training mode: each BN layer uses this batch's mu and var.
    Otherwise ``stats[l] = (mu, var)`` is used for hidden layer ``l``
    (running, bias-corrected running, population ... -- the caller chooses).
    """
    taps: list[Tap] = []
    a = X
    for l in range(net.depth):
        z = a @ net.W[l]
        z += net.b[l][..., None, :]
        tap = Tap(a_prev=a, z=z, z_tilde=z, a=z)
        if net.use_bn:
            if stats is None:
                tap.z_tilde, tap.cache = bn.forward(z, net.gamma[l], net.beta[l], net.eps)
                tap.z_norm = tap.cache.z_norm
            else:
                mu, var = stats[l]
                tap.z_tilde, tap.z_norm = bn.infer(z, net.gamma[l], net.beta[l], net.eps, mu, var)
        tap.a = activate(net.activation, tap.z_tilde)
        taps.append(tap)
        a = tap.a
    logits = a @ net.W[-1]
    logits += net.b[-1][..., None, :]
    return logits, taps


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
        dz = activate_backward(net.activation, da, tap.z_tilde, tap.a)
        if net.use_bn:
            assert tap.cache is not None, "backward needs a training-mode forward"
            dz, dgamma, dbeta = bn.backward(dz, tap.cache)
            net.dgamma[l][...] = dgamma
            net.dbeta[l][...] = dbeta
        np.matmul(_t(tap.a_prev), dz, out=net.dW[l])
        net.db[l][...] = column_sum(dz)
        if l > 0:
            da = dz @ _t(net.W[l])
    return loss


def predict(net: MLP, X: Array, stats: list[tuple[Array, Array]] | None) -> Array:
    """Class index per example; ``stats=None`` normalizes with X's own statistics."""
    logits, _ = forward(net, X, stats)
    return logits.argmax(axis=-1)

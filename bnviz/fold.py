"""BN folded into the weights: the plain network a trained BN network is at inference.

With fixed statistics (mu, var) -- running, bias-corrected or population -- a BN layer is
an affine map per unit, so it merges into the Linear layer before it. For hidden layer l::

    z_tilde = gamma * (a @ W + b - mu) / sqrt(var + eps) + beta
            = a @ W' + b'
    W' = W * gamma / sqrt(var + eps)                  (column j scaled by unit j's factor)
    b' = gamma * (b - mu) / sqrt(var + eps) + beta

The BN network keeps its bias b (its gradient is zero, since the mean subtraction cancels
it; see :mod:`bnviz.nn`), so b' includes it. The folded network has no gamma, beta or
statistics: a deployed BN network costs one matrix product and one bias per layer, like a
network trained without BN. ``1 / sqrt(var + eps)`` is :func:`bnviz.bn.inv_sqrt`, so a
unit with ``var + eps = 0`` folds to ``W' = 0``, ``b' = beta``, exactly as BN infers it.
Stacked networks (a leading model axis) fold model by model in one pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from . import nn
from .bn import Array, inv_sqrt

Stats = Sequence[tuple[NDArray, NDArray]]  # (mu, var) per hidden layer


def fold(net: nn.MLP, stats: Stats) -> nn.MLP:
    """The plain network (``use_bn=False``) whose logits equal ``nn.forward(net, X, stats)``'s.

    ``stats[l] = (mu, var)`` are the statistics hidden layer l infers with. The output layer
    is copied unchanged; ``net`` is not modified.
    """
    if not net.use_bn:
        raise ValueError("fold needs a network with BN: a network without BN has nothing to fold")
    if len(stats) != net.depth:
        raise ValueError(f"fold needs one (mu, var) per hidden layer: {net.depth}, got {len(stats)}")
    dtype = net.theta.dtype
    eps = np.asarray(net.eps, dtype=dtype)
    plain = nn.create(net.sizes, net.activation, use_bn=False, eps=net.eps, lead=net.lead, dtype=dtype.type)
    for l, (mu, var) in enumerate(stats):
        scale = net.gamma[l] * inv_sqrt(np.asarray(var, dtype=dtype), eps)  # (..., n): per unit
        plain.W[l][...] = net.W[l] * scale[..., None, :]
        plain.b[l][...] = scale * (net.b[l] - np.asarray(mu, dtype=dtype)) + net.beta[l]
    plain.W[-1][...] = net.W[-1]
    plain.b[-1][...] = net.b[-1]
    return plain


def max_logit_difference(net: nn.MLP, stats: Stats, folded: nn.MLP, X: Array) -> float:
    """max |logits of ``net`` inferring with ``stats`` - logits of ``folded``| over the inputs X."""
    logits, _ = nn.forward(net, X, list(stats))
    logits_folded, _ = nn.forward(folded, X)
    return float(np.max(np.abs(logits - logits_folded)))

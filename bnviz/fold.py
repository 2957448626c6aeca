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
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from . import nn
from .bn import Array, inv_sqrt

Stats = Sequence[tuple[NDArray, NDArray]]  # (mu, var) per hidden layer

# The columns of :func:`summary`, in order.
SUMMARY_COLUMNS = ("unit", "γ", "β", "v_μ", "v_σ²", "γ/√(v_σ² + ε)", "‖W column‖", "‖W′ column‖", "b", "b′")


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


def summary(net: nn.MLP, stats: Stats, folded: nn.MLP, layer: int, units: int) -> dict[str, NDArray]:
    """What folding did to the first ``units`` units of hidden layer ``layer`` (0-based).

    One entry per :data:`SUMMARY_COLUMNS` name, each an array over those units: the unit
    (1-based), its gamma and beta, the statistics folded in (``stats[layer]``), the factor
    gamma / sqrt(var + eps) that scales its column of W, the Euclidean norm of that column
    (the unit's incoming weights) in ``net`` and in ``folded``, and its bias in both. For
    one network (no model axis); a ``pandas.DataFrame`` takes the dict as it is.
    """
    if net.lead:
        raise ValueError(f"summary needs one network, got a stack of shape {net.lead}")
    if not 0 <= layer < net.depth:
        raise ValueError(f"layer must be in 0..{net.depth - 1}, got {layer}")
    n = min(units, net.sizes[layer + 1])
    dtype = net.theta.dtype
    mu = np.asarray(stats[layer][0], dtype=dtype)[:n]
    var = np.asarray(stats[layer][1], dtype=dtype)[:n]
    gamma = net.gamma[layer][:n]
    values = (
        np.arange(1, n + 1),
        gamma,
        net.beta[layer][:n],
        mu,
        var,
        gamma * inv_sqrt(var, np.asarray(net.eps, dtype=dtype)),
        np.linalg.norm(net.W[layer][:, :n], axis=0),
        np.linalg.norm(folded.W[layer][:, :n], axis=0),
        net.b[layer][:n],
        folded.b[layer][:n],
    )
    return {name: np.array(v) for name, v in zip(SUMMARY_COLUMNS, values)}


@dataclass(frozen=True)
class Comparison:
    """The BN network inferring with fixed statistics beside its folded plain network, on X, y."""

    max_difference: float  # max |logit difference| over every example and class
    bn_accuracy: float  # share of examples the BN network classifies right
    folded_accuracy: float  # the same for the folded network
    disagreements: int  # examples the two classify differently
    examples: int


def compare(net: nn.MLP, stats: Stats, folded: nn.MLP, X: Array, y: NDArray) -> Comparison:
    """:func:`max_logit_difference` and the accuracy of both networks on the labelled set X, y."""
    X = np.asarray(X, dtype=net.theta.dtype)
    bn_pred = nn.predict(net, X, list(stats))
    folded_pred = nn.predict(folded, X, None)
    return Comparison(
        max_difference=max_logit_difference(net, stats, folded, X),
        bn_accuracy=float(np.mean(bn_pred == y)),
        folded_accuracy=float(np.mean(folded_pred == y)),
        disagreements=int(np.sum(bn_pred != folded_pred)),
        examples=len(y),
    )


def inference_numbers(net: nn.MLP) -> int:
    """How many numbers one network keeps to infer: its weights W and biases b, and with BN
    also gamma, beta and the fixed mu and var of every hidden unit."""
    hidden = sum(net.sizes[1:-1])
    return int(net.theta.shape[-1]) + (2 * hidden if net.use_bn else 0)

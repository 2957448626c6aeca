"""SGD, SGD with momentum, and Adam, acting on one flat parameter array in place.

``lr`` may be a scalar or, for a stack of models, an array that broadcasts
against ``theta`` (shape ``(K, 1)`` for ``theta`` of shape ``(K, P)``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

OPTIMIZERS = ("sgd", "momentum", "adam")


class Optimizer:
    def __init__(
        self,
        kind: str,
        lr: float | NDArray,
        theta: NDArray,
        momentum: float = 0.9,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
    ) -> None:
        if kind not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {kind!r}")
        self.kind = kind
        self.lr = np.asarray(lr, dtype=theta.dtype)
        self.momentum, self.beta1, self.beta2, self.eps = momentum, beta1, beta2, eps
        self.t = 0
        self._buf = np.empty_like(theta)
        self._v = np.zeros_like(theta) if kind in ("momentum", "adam") else None
        self._s = np.zeros_like(theta) if kind == "adam" else None

    def step(self, theta: NDArray, grad: NDArray) -> None:
        """theta <- theta - update(grad), in place."""
        self.t += 1
        buf = self._buf
        if self.kind == "sgd":
            np.multiply(grad, self.lr, out=buf)
        elif self.kind == "momentum":  # v <- mu v + g;  theta <- theta - lr v  (PyTorch form)
            v = self._v
            assert v is not None
            v *= self.momentum
            v += grad
            np.multiply(v, self.lr, out=buf)
        else:  # Adam with bias-corrected first and second moments
            m, s = self._v, self._s
            assert m is not None and s is not None
            b1, b2 = self.beta1, self.beta2
            m *= b1
            np.multiply(grad, 1 - b1, out=buf)
            m += buf
            s *= b2
            np.multiply(grad, grad, out=buf)
            buf *= 1 - b2
            s += buf
            np.sqrt(s, out=buf)
            buf *= 1 / np.sqrt(1 - b2**self.t)
            buf += self.eps
            np.divide(m, buf, out=buf)
            buf *= self.lr / (1 - b1**self.t)
        theta -= buf

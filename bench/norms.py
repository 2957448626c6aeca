"""Speed of the other normalizations against BN: forward+backward per step, same shapes.

    .venv/bin/python bench/norms.py

Prints microseconds per forward+backward call of bn.forward/backward and of LayerNorm,
GroupNorm (4 groups) and Batch Renorm from bnviz.norms, and each one's ratio to BN, on
four shapes: bench/core.py's (256, 512) float32 batch, a layer of batch 32 and width 16
(float64), the default network's layer as the engine passes it (a stack of one model,
(1, 32, 12), with eps, r_max and d_max as (1, 1) columns), and a sweep's stack of 100
models (100, 32, 16), with such columns.
Timings interleave the contenders in rounds and keep each one's best round, so a busy
machine slows all of them alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from numpy.typing import DTypeLike, NDArray

from bnviz import bn, norms

try:  # one BLAS thread, as the app runs it
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
except ImportError:
    pass

GROUPS = 4
SHAPES: list[tuple[tuple[int, ...], DTypeLike]] = [
    ((256, 512), np.float32),
    ((32, 16), np.float64),
    ((1, 32, 12), np.float64),
    ((100, 32, 16), np.float64),
]


def best_of(contenders: dict[str, Callable[[], None]], inner: int, rounds: int = 7) -> dict[str, float]:
    """Seconds per call of each contender: the best of `rounds` rounds of `inner` calls."""
    results: dict[str, list[float]] = {name: [] for name in contenders}
    for f in contenders.values():
        f()  # warm up (allocations, caches)
    for _ in range(rounds):
        for name, f in contenders.items():
            t = time.perf_counter()
            for _ in range(inner):
                f()
            results[name].append((time.perf_counter() - t) / inner)
    return {name: min(r) for name, r in results.items()}


def contenders(shape: tuple[int, ...], dtype: DTypeLike) -> dict[str, Callable[[], None]]:
    """One forward+backward of each normalization on a z of ``shape`` (..., m, n)."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal(shape).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    unit = shape[:-2] + shape[-1:]
    gamma, beta = np.ones(unit, dtype), np.zeros(unit, dtype)
    running_mu = (0.1 * rng.standard_normal(unit)).astype(dtype)
    running_var = rng.uniform(0.5, 2.0, unit).astype(dtype)
    eps: float | NDArray = 1e-5
    r_max: float | NDArray = 3.0
    d_max: float | NDArray = 5.0
    if len(shape) == 3:  # a stack: one column value per model, as the engine passes them
        eps, r_max, d_max = (np.full(shape[:1] + (1,), 1e-5, dtype), np.full(shape[:1] + (1,), 3.0, dtype),
                             np.full(shape[:1] + (1,), 5.0, dtype))  # fmt: skip

    def batch_norm() -> None:
        _, cache = bn.forward(z, gamma, beta, eps)
        bn.backward(dout, cache)

    def layer_norm() -> None:
        _, cache = norms.layer_norm_forward(z, gamma, beta, eps)
        norms.layer_norm_backward(dout, cache)

    def group_norm() -> None:
        _, cache = norms.group_norm_forward(z, gamma, beta, eps, GROUPS)
        norms.group_norm_backward(dout, cache)

    def batch_renorm() -> None:
        _, cache = norms.batch_renorm_forward(z, gamma, beta, eps, running_mu, running_var, r_max, d_max)
        norms.batch_renorm_backward(dout, cache)

    return {
        "BN": batch_norm,
        "LayerNorm": layer_norm,
        f"GroupNorm ({GROUPS} groups)": group_norm,
        "Batch Renorm": batch_renorm,
    }


def main() -> None:
    print(f"NumPy {np.__version__}; forward+backward per call, best of 7 rounds")
    for shape, dtype in SHAPES:
        size = int(np.prod(shape))
        t = best_of(contenders(shape, dtype), inner=max(20, 2_000_000 // size // 10))
        print(f"z {shape} {np.dtype(dtype).name}:")
        for name, sec in t.items():
            print(f"  {name:<22} {sec * 1e6:8.1f} us   {sec / t['BN']:5.2f}x BN")


if __name__ == "__main__":
    main()

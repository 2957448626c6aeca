"""Speed of a sweep: K configurations stacked in one computation vs one at a time.

    .venv/bin/python bench/sweep.py            # 100 configurations x 500 steps (about a minute)
    .venv/bin/python bench/sweep.py --quick    # 20 configurations, to check it runs

The configurations are the default network (moons, 2 x 16 ReLU units, BN, momentum,
batch 32, 500 steps) with 10 learning rates x 10 EWA decays: one stackable group.
Timed, in one process and one BLAS thread:

- vectorized:   ``train_many(configs)``, all K models in one batched computation;
- loop:         ``train_many([c])`` for each c: the same work (same steps, same metrics),
                one model at a time;
- loop train(): ``bnviz.train.train(c)`` for each c, what K explorer runs cost
                (more work: histograms, decision boundaries).

Prints whole numbers: milliseconds, the ratio loop / vectorized, and the peak memory of
the vectorized sweep (tracemalloc, in a separate untimed pass) and of the process.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
import pandas as pd

from bnviz import Settings
from bnviz.sweep import train_many
from bnviz.train import train

try:  # one BLAS thread, as bench/core.py: the comparison is about Python overhead, not threads
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
except ImportError:
    pass


def configs(n_lr: int, n_decay: int) -> list[Settings]:
    return [
        Settings(lr=float(lr), decay=float(d))
        for lr in np.geomspace(0.01, 1.0, n_lr)
        for d in np.linspace(0.5, 0.99, n_decay)
    ]


def timed(f):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = f()
    return time.perf_counter() - t, out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="20 configurations instead of 100")
    args = p.parse_args()
    cs = configs(4, 5) if args.quick else configs(10, 10)
    k, steps = len(cs), cs[0].steps
    print(f"{k} configurations x {steps} steps of the default network (one stackable group)")

    t_vec, stacked = timed(lambda: train_many(cs))
    print(f"vectorized       {t_vec * 1000:7.0f} ms")
    t_loop, rows = timed(lambda: [train_many([c]) for c in cs])
    print(f"loop             {t_loop * 1000:7.0f} ms   ratio {t_loop / t_vec:.0f}x   (same work, one by one)")
    pd.testing.assert_frame_equal(stacked, pd.concat(rows, ignore_index=True))  # same numbers, too
    t_train, _ = timed(lambda: [train(c) for c in cs])
    print(f"loop of train()  {t_train * 1000:7.0f} ms   ratio {t_train / t_vec:.0f}x   (K explorer runs)")

    tracemalloc.start()
    train_many(cs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # kB on Linux
    print(
        f"peak memory      {peak / 2**20:6.0f} MB traced during the vectorized sweep, {rss} MB process peak"
    )


if __name__ == "__main__":
    main()

"""Speed of the NumPy core, side by side with PyTorch (CPU, one thread) when it is importable.

    .venv/bin/python bench/core.py            # or: make bench

Prints whole numbers: microseconds per BN forward+backward on a (256, 512) float32
batch, and training steps per second of the default network, for bnviz and for the
same computation in torch, and their ratio; then the engine's steps per second of the
default network with each other normalization (``Settings.normalization``) and with noise
after BN, and each one's ratio to BN (the issue's target: no dearer than BN per step;
bench/norms.py times the layers alone). Timings interleave the contenders in
rounds and keep each one's best round, so a busy machine slows both alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from bnviz import Settings, bn, data, engine
from bnviz.train import train

try:  # one BLAS thread for NumPy too, so both sides run single-threaded
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
except ImportError:
    pass

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # torch is optional: only the reference column needs it
    torch = None  # type: ignore[assignment]  # mypy types an installed torch as a module


def best_of(contenders: dict[str, Callable[[], None]], inner: int, rounds: int = 7) -> dict[str, float]:
    """Seconds per call of each contender: the best of `rounds` rounds of `inner` calls."""
    results: dict[str, list[float]] = {name: [] for name in contenders}
    for f in contenders.values():
        f()  # warm up (allocations, caches, lazy init)
    for _ in range(rounds):
        for name, f in contenders.items():
            t = time.perf_counter()
            for _ in range(inner):
                f()
            results[name].append((time.perf_counter() - t) / inner)
    return {name: min(r) for name, r in results.items()}


def bench_bn() -> None:
    rng = np.random.default_rng(0)
    m, n = 256, 512
    z = rng.standard_normal((m, n)).astype(np.float32)
    dout = rng.standard_normal((m, n)).astype(np.float32)
    gamma, beta = np.ones(n, np.float32), np.zeros(n, np.float32)

    def ours() -> None:
        _, cache = bn.forward(z, gamma, beta, 1e-5)
        bn.backward(dout, cache)

    contenders = {"bnviz": ours}
    if torch is not None:
        layer = torch.nn.BatchNorm1d(n, eps=1e-5)
        tz = torch.tensor(z, requires_grad=True)
        tdout = torch.tensor(dout)

        def theirs() -> None:
            layer(tz).backward(tdout)

        contenders["torch"] = theirs
    t = best_of(contenders, inner=200)
    print(f"BN forward+backward, ({m}, {n}) float32, per call:")
    for name, sec in t.items():
        print(f"  {name:<8} {sec * 1e6:8.0f} us")
    if "torch" in t:
        print(f"  ratio bnviz/torch: {t['bnviz'] / t['torch']:.2f} (target <= 1.2)")


def bench_training() -> None:
    s = Settings()
    ds = data.load(s.dataset, s.noise, s.seed)
    X = ds.X_train
    rng = np.random.default_rng(0)
    steps = s.steps
    batches = [rng.choice(len(X), s.batch_size, replace=False) for _ in range(steps)]
    sizes = (ds.n_features,) + (s.width,) * s.depth + (ds.n_classes,)

    def ours() -> None:  # the engine alone: its own batches and checkpoints, nothing recorded
        engine.train(engine.Stack.create([s]), engine.Recorder())

    def full() -> None:
        train(s)

    contenders = {"bnviz": ours, "bnviz train() with recording": full}
    if torch is not None:
        tX = torch.tensor(X)
        ty = torch.tensor(ds.y_train)
        tbatches = [torch.tensor(idx) for idx in batches]

        def theirs() -> None:
            layers: list[torch.nn.Module] = []
            for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
                layers += [
                    torch.nn.Linear(n_in, n_out, dtype=torch.float64),
                    torch.nn.BatchNorm1d(n_out, eps=s.eps, momentum=1 - s.decay, dtype=torch.float64),
                    torch.nn.ReLU(),
                ]
            model = torch.nn.Sequential(*layers, torch.nn.Linear(sizes[-2], sizes[-1], dtype=torch.float64))
            opt = torch.optim.SGD(model.parameters(), lr=s.lr, momentum=0.9)
            loss_fn = torch.nn.CrossEntropyLoss()
            for idx in tbatches:
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(tX[idx]), ty[idx])
                loss.backward()
                opt.step()

        contenders["torch"] = theirs
    t = best_of(contenders, inner=1, rounds=7)
    print(f"Training the default network ({sizes}, batch {s.batch_size}, {steps} steps, float64):")
    for name, sec in t.items():
        print(f"  {name:<30} {steps / sec:8.0f} steps/s")
    if "torch" in t:
        print(f"  ratio bnviz/torch steps/s: {t['torch'] / t['bnviz']:.2f} (target >= 2)")


def bench_alternatives() -> None:
    """The engine on the default network with each normalization, and with noise after BN."""
    base = Settings()
    variants = {
        "batch (BN)": base,
        "layer": base.replace(normalization="layer"),
        "group (groups=4)": base.replace(normalization="group", groups=4),
        "renorm": base.replace(normalization="renorm"),
        "BN + noise after BN 0.5": base.replace(bn_noise=0.5),
        "no normalization": base.replace(use_bn=False),
    }

    def engine_of(s: Settings) -> Callable[[], None]:
        def run() -> None:
            engine.train(engine.Stack.create([s]), engine.Recorder())

        return run

    t = best_of({name: engine_of(s) for name, s in variants.items()}, inner=1, rounds=7)
    print(f"The engine on the default network, {base.steps} steps, by normalization:")
    bn_sec = t["batch (BN)"]
    for name, sec in t.items():
        print(f"  {name:<30} {base.steps / sec:8.0f} steps/s   time/BN {sec / bn_sec:.2f}")


def main() -> None:
    if torch is None:
        print("(torch not importable: bnviz figures only; `pip install torch==2.13.0` adds the reference)")
    else:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} thread; NumPy {np.__version__}")
    bench_bn()
    bench_training()
    bench_alternatives()


if __name__ == "__main__":
    main()

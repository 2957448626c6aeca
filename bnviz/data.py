"""Datasets, generated or shipped with the package -- never downloaded.

Two-dimensional binary sets in the spirit of TensorFlow Playground (moons, circles,
spirals, xor, blobs) and the real 8x8 handwritten digits (10 classes). Every split
is deterministic in ``seed``; inputs are standardized with the training set's
mean and standard deviation only.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
from numpy.typing import NDArray

DATASETS = ("moons", "circles", "spirals", "xor", "blobs", "digits")
N_2D = 600  # examples generated for a 2-D set
TEST_FRACTION = 1 / 3


@dataclass(frozen=True)
class Dataset:
    name: str
    X_train: NDArray[np.float64]
    y_train: NDArray[np.int64]
    X_test: NDArray[np.float64]
    y_test: NDArray[np.int64]
    n_classes: int
    mean: NDArray[np.float64]  # training-set statistics used to standardize
    std: NDArray[np.float64]

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]


def _moons(n: int, noise: float, rng: np.random.Generator) -> tuple[NDArray, NDArray]:
    n0 = n // 2
    t0 = rng.uniform(0, np.pi, n0)
    t1 = rng.uniform(0, np.pi, n - n0)
    X = np.concatenate([np.c_[np.cos(t0), np.sin(t0)], np.c_[1 - np.cos(t1), 0.5 - np.sin(t1)]])
    y = np.r_[np.zeros(n0), np.ones(n - n0)]
    return X + noise * rng.standard_normal(X.shape), y


def _circles(n: int, noise: float, rng: np.random.Generator) -> tuple[NDArray, NDArray]:
    n0 = n // 2
    t = rng.uniform(0, 2 * np.pi, n)
    r = np.r_[np.full(n0, 1.0), np.full(n - n0, 0.45)]
    X = np.c_[r * np.cos(t), r * np.sin(t)]
    y = np.r_[np.zeros(n0), np.ones(n - n0)]
    return X + 0.5 * noise * rng.standard_normal(X.shape), y


def _spirals(n: int, noise: float, rng: np.random.Generator) -> tuple[NDArray, NDArray]:
    n0 = n // 2
    y = np.r_[np.zeros(n0), np.ones(n - n0)]
    r = rng.uniform(0.05, 1.0, n)
    t = 1.75 * 2 * np.pi * r + np.pi * y
    X = np.c_[r * np.sin(t), r * np.cos(t)]
    return X + 0.3 * noise * rng.standard_normal(X.shape), y


def _xor(n: int, noise: float, rng: np.random.Generator) -> tuple[NDArray, NDArray]:
    X = rng.uniform(-1, 1, (n, 2))
    X += np.sign(X) * 0.05  # a small margin around the axes
    y = (X[:, 0] * X[:, 1] < 0).astype(float)
    return X + 0.5 * noise * rng.standard_normal(X.shape), y


def _blobs(n: int, noise: float, rng: np.random.Generator) -> tuple[NDArray, NDArray]:
    n0 = n // 2
    y = np.r_[np.zeros(n0), np.ones(n - n0)]
    centres = np.where(y[:, None] == 0, [-1.0, -1.0], [1.0, 1.0])
    return centres + (0.3 + 1.5 * noise) * rng.standard_normal((n, 2)), y


_GENERATORS = {
    "moons": _moons,
    "circles": _circles,
    "spirals": _spirals,
    "xor": _xor,
    "blobs": _blobs,
}
# (examples, features, classes) of every dataset, known without loading it; the digits'
# are those of the shipped file (a test checks it).
_SHAPES = {name: (N_2D, 2, 2) for name in _GENERATORS} | {"digits": (1797, 64, 10)}


@lru_cache(maxsize=1)
def _digits_raw() -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    with resources.files("bnviz.datasets").joinpath("digits.csv.gz").open("rb") as f:
        table = np.loadtxt(gzip.open(f), delimiter=",")
    return table[:, :-1], table[:, -1].astype(np.int64)


def _shape(name: str) -> tuple[int, int, int]:
    if name not in _SHAPES:
        raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")
    return _SHAPES[name]


def n_total(name: str) -> int:
    """Examples in the named dataset before the split."""
    return _shape(name)[0]


def n_train(name: str) -> int:
    """Training examples after the split (the largest possible batch)."""
    n = n_total(name)
    return n - round(n * TEST_FRACTION)


def n_features(name: str) -> int:
    """Inputs per example of the named dataset (the network's first layer width)."""
    return _shape(name)[1]


def n_classes(name: str) -> int:
    """Classes of the named dataset (the network's output width)."""
    return _shape(name)[2]


def load(name: str = "moons", noise: float = 0.2, seed: int = 0) -> Dataset:
    """The named dataset, split into train/test and standardized, deterministic in seed.

    ``noise`` applies to the generated 2-D sets (0 = clean, 1 = very noisy);
    it is ignored for ``digits``.
    """
    rng = np.random.default_rng([seed, 12345])
    if name == "digits":
        X, y = _digits_raw()
    elif name in _GENERATORS:
        X, yf = _GENERATORS[name](n_total(name), float(noise), rng)
        y = yf.astype(np.int64)
    else:
        raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")
    order = rng.permutation(len(y))
    n_test = len(y) - n_train(name)
    test, train = order[:n_test], order[n_test:]
    mean = X[train].mean(axis=0)
    std = X[train].std(axis=0)
    std = np.where(std > 0, std, 1.0)  # constant pixels (digits' borders) stay 0
    return Dataset(
        name=name,
        X_train=(X[train] - mean) / std,
        y_train=y[train],
        X_test=(X[test] - mean) / std,
        y_test=y[test],
        n_classes=n_classes(name),
        mean=mean,
        std=std,
    )

"""Datasets: generated or shipped, deterministic, standardized with training statistics only."""

import numpy as np
import pytest

from bnviz import data


@pytest.mark.parametrize("name", data.DATASETS)
def test_every_dataset_splits_deterministically_and_standardizes_on_train(name):
    a, b = data.load(name, 0.2, seed=3), data.load(name, 0.2, seed=3)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert len(a.X_train) == data.n_train(name)
    assert len(a.X_train) + len(a.X_test) == data.n_total(name)
    assert a.n_features == data.n_features(name) and a.n_classes == data.n_classes(name)
    moving = a.std != 1.0  # columns that were scaled (digits has constant border pixels)
    np.testing.assert_allclose(a.X_train.mean(axis=0)[moving], 0, atol=1e-12)
    np.testing.assert_allclose(a.X_train.std(axis=0)[moving], 1, rtol=1e-12)
    assert abs(a.X_test.mean()) < 0.3  # test set is only roughly centred: not used for the statistics
    assert set(np.unique(a.y_train)) == set(range(a.n_classes))


def test_seed_changes_the_data():
    assert not np.array_equal(data.load("moons", 0.2, 0).X_train, data.load("moons", 0.2, 1).X_train)


def test_two_d_sets_are_balanced_binary():
    for name in data.DATASETS[:-1]:
        ds = data.load(name, 0.1, 0)
        assert ds.n_features == 2 and ds.n_classes == 2
        assert 0.4 < ds.y_train.mean() < 0.6


def test_shipped_digits_are_scikit_learns_digits():
    from sklearn.datasets import load_digits

    ref = load_digits()
    X, y = data._digits_raw()
    np.testing.assert_array_equal(X, ref.data)
    np.testing.assert_array_equal(y, ref.target)


def test_the_digits_shape_is_the_shipped_files():
    X, y = data._digits_raw()
    assert (data.n_total("digits"), data.n_features("digits"), data.n_classes("digits")) == (
        len(X), X.shape[1], len(np.unique(y)))  # fmt: skip
    assert data.n_train("digits") == 1198  # the largest batch the Explorer offers


def test_unknown_dataset_is_refused_by_name():
    with pytest.raises(ValueError, match="dataset must be one of"):
        data.load("mnist")
    for shape in (data.n_total, data.n_train, data.n_features, data.n_classes):
        with pytest.raises(ValueError, match="dataset must be one of"):
            shape("mnist")

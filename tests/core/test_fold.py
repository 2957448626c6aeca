"""fold.py: the folded plain network infers exactly what the BN network infers."""

import numpy as np
import pytest

from bnviz import fold, nn
from bnviz.train import Run, Settings, train

TOL = 1e-10  # float64


@pytest.fixture(scope="module")
def moons_run() -> Run:
    return train(Settings(depth=3, width=8, steps=150, batch_size=16))


@pytest.fixture(scope="module")
def digits_run() -> Run:
    return train(Settings(dataset="digits", depth=2, width=16, steps=60, activation="tanh"))


def _inputs(run: Run) -> np.ndarray:
    return np.concatenate([run.dataset.X_train, run.dataset.X_test])


@pytest.mark.parametrize("which", ["running", "corrected", "population"])
@pytest.mark.parametrize("name", ["moons_run", "digits_run"])
def test_the_folded_network_infers_what_the_bn_network_infers(name, which, request):
    run = request.getfixturevalue(name)
    stats = run.inference_stats(which)
    assert stats is not None
    folded = fold.fold(run.net, stats)
    X = _inputs(run)
    assert fold.max_logit_difference(run.net, stats, folded, X) <= TOL
    np.testing.assert_array_equal(nn.predict(folded, X, None), nn.predict(run.net, X, stats))


def test_negative_gamma_and_a_nonzero_bias_fold_too(moons_run):
    net = nn.create(moons_run.net.sizes, moons_run.net.activation, True, moons_run.net.eps)
    net.theta[...] = moons_run.net.theta
    rng = np.random.default_rng(0)
    for l in range(net.depth):
        net.gamma[l][::2] *= -1.5  # every other unit flips its sign
        net.b[l][...] = rng.normal(0.0, 2.0, net.b[l].shape)  # b matters once mu is fixed
    assert all((g < 0).any() for g in net.gamma)
    stats = moons_run.inference_stats("population")
    assert stats is not None
    folded = fold.fold(net, stats)
    X = _inputs(moons_run)
    assert fold.max_logit_difference(net, stats, folded, X) <= TOL
    # ... and the check can fail: folding with other statistics is a different network
    other = fold.fold(net, moons_run.running)
    assert fold.max_logit_difference(net, stats, other, X) > 1e-3


def test_the_folded_weights_by_hand():
    net = nn.create((2, 3, 2), "linear", use_bn=True, eps=0.5)
    net.W[0][...] = [[1.0, 2.0, -1.0], [0.5, 0.0, 3.0]]
    net.b[0][...] = [0.25, -1.0, 2.0]
    net.gamma[0][...] = [2.0, -1.0, 0.5]
    net.beta[0][...] = [0.0, 1.0, -2.0]
    net.W[1][...] = [[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]
    net.b[1][...] = [0.5, -0.5]
    mu, var = np.array([1.0, -2.0, 0.0]), np.array([1.5, 3.5, 0.0])
    folded = fold.fold(net, [(mu, var)])
    scale = net.gamma[0] / np.sqrt(var + 0.5)
    np.testing.assert_allclose(folded.W[0], net.W[0] * scale, rtol=1e-15)
    np.testing.assert_allclose(folded.b[0], net.gamma[0] * (net.b[0] - mu) / np.sqrt(var + 0.5) + net.beta[0])
    np.testing.assert_array_equal(folded.W[1], net.W[1])
    np.testing.assert_array_equal(folded.b[1], net.b[1])
    X = np.array([[1.0, 2.0], [-3.0, 0.5]])
    assert fold.max_logit_difference(net, [(mu, var)], folded, X) <= 1e-14


def test_the_folded_network_has_no_bn_parameters(moons_run):
    folded = fold.fold(moons_run.net, moons_run.running)
    assert not folded.use_bn
    assert folded.gamma == [] and folded.beta == [] and folded.dgamma == []
    assert folded.slices["gamma"] == [] and folded.slices["beta"] == []
    sizes = folded.sizes
    n_plain = sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    assert folded.theta.shape == (n_plain,)
    assert moons_run.net.theta.shape == (n_plain + 2 * sum(sizes[1:-1]),)  # gamma and beta per unit


def test_folding_leaves_the_bn_network_alone(moons_run):
    before = moons_run.net.theta.copy()
    fold.fold(moons_run.net, moons_run.running)
    np.testing.assert_array_equal(moons_run.net.theta, before)


def test_a_stack_folds_model_by_model():
    K, sizes = 3, (2, 5, 4, 3)
    eps = np.array([[1e-5], [1e-2], [1.0]])
    rng = np.random.default_rng(1)
    net = nn.create(sizes, "relu", True, eps, lead=(K,))
    net.theta[...] = rng.standard_normal(net.theta.shape)
    stats = [(rng.standard_normal((K, n)), rng.uniform(0.01, 4.0, (K, n))) for n in sizes[1:-1]]
    folded = fold.fold(net, stats)
    assert folded.lead == (K,)
    X = rng.standard_normal((K, 20, 2))
    assert fold.max_logit_difference(net, stats, folded, X) <= TOL
    for k in range(K):
        one = nn.create(sizes, "relu", True, float(eps[k, 0]))
        one.theta[...] = net.theta[k]
        folded_k = fold.fold(one, [(mu[k], var[k]) for mu, var in stats])
        np.testing.assert_allclose(folded_k.theta, folded.theta[k], rtol=1e-15)


def test_fold_needs_bn_and_one_statistic_per_layer(moons_run):
    plain = nn.create((2, 4, 2), use_bn=False)
    with pytest.raises(ValueError, match="nothing to fold"):
        fold.fold(plain, [(np.zeros(4), np.ones(4))])
    with pytest.raises(ValueError, match="one \\(mu, var\\) per hidden layer: 3, got 2"):
        fold.fold(moons_run.net, moons_run.running[:2])


def test_the_summary_is_the_folding_formula_unit_by_unit(moons_run):
    stats = moons_run.inference_stats("corrected")
    assert stats is not None
    net = moons_run.net
    folded = fold.fold(net, stats)
    layer, units = 1, 5
    table = fold.summary(net, stats, folded, layer, units)
    assert tuple(table) == fold.SUMMARY_COLUMNS
    assert all(len(v) == units for v in table.values())
    np.testing.assert_array_equal(table["unit"], [1, 2, 3, 4, 5])
    mu, var = stats[layer]
    np.testing.assert_array_equal(table["v_μ"], mu[:units])
    np.testing.assert_array_equal(table["v_σ²"], var[:units])
    scale = net.gamma[layer][:units] / np.sqrt(var[:units] + net.eps)
    np.testing.assert_allclose(table["γ/√(v_σ² + ε)"], scale, rtol=1e-14)
    # W' = scale * W column by column, so the column norms scale by |scale|
    np.testing.assert_allclose(table["‖W′ column‖"], np.abs(scale) * table["‖W column‖"], rtol=1e-12)
    for j in range(units):
        assert table["‖W column‖"][j] == pytest.approx(np.sqrt(np.sum(net.W[layer][:, j] ** 2)), rel=1e-14)
    np.testing.assert_allclose(
        table["b′"], scale * (net.b[layer][:units] - mu[:units]) + net.beta[layer][:units], rtol=1e-12
    )
    np.testing.assert_array_equal(table["b"], net.b[layer][:units])
    # a layer narrower than asked: all its units
    assert len(fold.summary(net, stats, folded, 0, 100)["unit"]) == net.sizes[1]
    with pytest.raises(ValueError, match=r"layer must be in 0\.\.2"):
        fold.summary(net, stats, folded, 3, units)


def test_the_comparison_counts_what_it_says(moons_run):
    ds = moons_run.dataset
    stats = moons_run.inference_stats("running")
    assert stats is not None
    folded = fold.fold(moons_run.net, stats)
    same = fold.compare(moons_run.net, stats, folded, ds.X_test, ds.y_test)
    assert same.max_difference <= TOL
    assert same.disagreements == 0 and same.examples == len(ds.y_test)
    assert same.bn_accuracy == same.folded_accuracy
    assert same.bn_accuracy == pytest.approx(float(moons_run.curves["test_acc_running"].iloc[-1]))
    # a folded network of other statistics disagrees, and compare says by how much
    other = fold.fold(moons_run.net, [(mu + 3.0, var) for mu, var in stats])
    differ = fold.compare(moons_run.net, stats, other, ds.X_test, ds.y_test)
    assert differ.max_difference > 1e-3
    bn_pred = nn.predict(moons_run.net, ds.X_test, list(stats))
    other_pred = nn.predict(other, ds.X_test, None)
    assert differ.disagreements == int((bn_pred != other_pred).sum())
    assert differ.folded_accuracy == pytest.approx(float((other_pred == ds.y_test).mean()))


def test_the_folded_network_keeps_fewer_numbers(moons_run):
    net = moons_run.net
    folded = fold.fold(net, moons_run.running)
    hidden = sum(net.sizes[1:-1])
    assert fold.inference_numbers(folded) == folded.theta.size
    assert fold.inference_numbers(net) == folded.theta.size + 4 * hidden  # gamma, beta, mu, var

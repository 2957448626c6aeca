"""The default settings show Batch Norm helping (issue: defaults that show BN).

Over seeds 0-4, ``Settings()`` trained with and without BN (``bnviz.train.train``, 10 runs,
a few seconds): BN's mean final test accuracy is at least 2 points above no-BN's, and the
mean BN curve reaches no-BN's final mean accuracy within half the steps.
``.venv/bin/python bench/defaults.py`` prints the same comparison seed by seed.
"""

from __future__ import annotations

import pytest

from bnviz import Settings, budget
from bnviz.scenarios import compare
from bnviz.settings import MAX_COST


@pytest.fixture(scope="module")
def comparison():
    return compare(Settings(), range(5))


def test_bn_ends_at_least_two_points_higher_on_average_over_seeds(comparison):
    c = comparison
    assert not any(c.diverged)
    assert c.gain >= 0.02, (c.final_bn, c.final_plain)


def test_bn_reaches_the_no_bn_final_accuracy_within_half_the_steps(comparison):
    c = comparison
    reached = c.steps_to_match
    assert reached is not None and reached <= Settings().steps / 2, (reached, c.bn.mean(axis=0))
    assert c.holds()


def test_the_defaults_are_a_2d_dataset_and_a_retrain_stays_cheap():
    s = Settings()
    assert s.dataset != "digits", "a 2-D dataset: the decision boundary is drawn"
    # the retrain budget of the page: at most twice moons, 2 x 16 ReLU, m = 32, 500 steps
    small = s.replace(dataset="moons", depth=2, width=16, activation="relu", batch_size=32, steps=500)
    assert s.cost() <= 2 * small.cost() < MAX_COST
    assert budget.run_problem(s) is None


def test_the_criterion_can_fail():
    """On moons with 2 x 16 ReLU units BN does not win by 2 points: the test measures something."""
    c = compare(Settings(depth=2, activation="relu", steps=200), range(2))
    assert not c.holds()

"""Values shared by every session (``bnviz.app.shared``): made once per key, the same object
for the same key, another value for another view, and at most ``entries`` kept."""

from __future__ import annotations

import pytest

from bnviz import Settings
from bnviz import explorer as numbers
from bnviz.app import shared
from bnviz.train import train


@pytest.fixture(scope="module")
def run():
    return train(Settings(steps=20))


@pytest.fixture(autouse=True)
def empty():
    shared.clear()
    yield
    shared.clear()


def test_the_same_key_gives_the_same_object_made_once_and_another_unit_another_value(run):
    made: list[int] = []
    k = len(run.ckpt_steps) - 1

    def summary(unit: int):
        def make() -> str:
            made.append(unit)
            return numbers.movie_summary(run, 0, unit, k)
        return shared.value(("summary", numbers.run_identity(run), 0, unit, k, "batch"), make)

    first = summary(0)
    assert first == numbers.movie_summary(run, 0, 0, k), "what the function itself gives"
    assert summary(0) is first and made == [0], "made once, then read"
    other = summary(1)
    assert made == [0, 1] and other != first and "unit 2" in other


def test_a_run_that_differs_gets_its_own_values():
    a, b = train(Settings(steps=20)), train(Settings(steps=20, seed=1))
    ka, kb = len(a.ckpt_steps) - 1, len(b.ckpt_steps) - 1
    na = shared.value(("unit", numbers.run_identity(a), 0, 0, ka), lambda: numbers.unit_numbers(a, 0, 0, ka))
    nb = shared.value(("unit", numbers.run_identity(b), 0, 0, kb), lambda: numbers.unit_numbers(b, 0, 0, kb))
    assert na != nb and nb == numbers.unit_numbers(b, 0, 0, kb)


def test_at_most_entries_are_kept_the_least_recently_used_dropped_first(monkeypatch):
    monkeypatch.setattr(shared.values, "entries", 3)
    made: list[int] = []

    def get(i: int) -> list[int]:
        def make() -> list[int]:
            made.append(i)
            return [i]
        return shared.value(i, make)

    kept = get(1)
    get(2)
    get(3)
    assert get(1) is kept, "read: now the most recent"
    get(4)  # over the limit: 2, the least recently used, goes
    assert made == [1, 2, 3, 4]
    get(3)
    get(1)
    assert made == [1, 2, 3, 4], "3 and 1 were kept"
    get(2)
    assert made == [1, 2, 3, 4, 2], "2 was dropped, so it is made again"

"""Test-wide setup: BLAS on one thread, as the app runs it (see app.py), and the order tests
run in."""

from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

threadpool_limits(1, user_api="blas")

BROWSER = Path(__file__).resolve().parent / "browser"
# The browser test files whose tests take longest (20-35 s each on two busy cores: a lesson's
# every step, the Explorer played and retrained, a Tab walk over every control), in this order
# ahead of the other browser tests.
LONGEST = ("test_lesson_browser.py", "test_explorer_browser.py", "test_keyboard_browser.py",
           "test_why_browser.py")


def _rank(item: pytest.Item) -> tuple[int, int]:
    if BROWSER not in item.path.parents:
        return (1, 0)
    name = item.path.name
    return (0, LONGEST.index(name) if name in LONGEST else len(LONGEST))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The browser tests first, the longest files of them first, then every other test in
    its usual order (the sort is stable).

    pytest runs with ``--dist worksteal`` under ``-n`` (pyproject.toml): each worker starts on
    its share of this list, and a worker with nothing left takes half of what another has
    left, from the end. The browser tests are the long ones (seconds to tens of seconds
    each); at the front they are shared out while the many short tests at the back keep the
    other worker busy, and what is left to take at the end is short, so the workers finish
    together."""
    items.sort(key=_rank)

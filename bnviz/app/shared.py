"""Values computed once per server for every session, by a key that names what they are
made of (a run's ``bnviz.explorer.run_identity`` and the view's choices), as
``bnviz.app.livechart``'s ``cache_key`` does for figures.

    table = shared.value(("accuracy", numbers.run_identity(run), k), lambda: make_table(run, k))

A display-only rerun of the Explorer's layer/unit view asks for the same few numbers and
tables as every other session looking at the same run; each is made once and then read.
The values are shared, so they must not be changed by whoever reads them (frozen dataclasses,
strings, tuples; a table is only handed to Streamlit). At most ``ENTRIES`` are kept, the least
recently used dropped first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

__all__ = ["ENTRIES", "clear", "value"]

T = TypeVar("T")
ENTRIES = 2048  # values kept; each is a few numbers, a line of text or a table of four rows

_lock = threading.Lock()
_values: OrderedDict[Hashable, object] = OrderedDict()


def value(key: Hashable, make: Callable[[], T]) -> T:
    """The value made for ``key`` (``make()`` the first time, or after it was dropped)."""
    with _lock:
        if key in _values:
            _values.move_to_end(key)
            return _values[key]  # type: ignore[return-value]
    made = make()  # outside the lock: another session may make the same value meanwhile
    with _lock:
        _values[key] = made
        _values.move_to_end(key)
        while len(_values) > ENTRIES:
            _values.popitem(last=False)
    return made


def clear() -> None:
    """Forget every value (for tests)."""
    with _lock:
        _values.clear()

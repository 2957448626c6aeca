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
from typing import Generic, TypeVar, overload

__all__ = ["ENTRIES", "LRU", "clear", "value", "values"]

T = TypeVar("T")
V = TypeVar("V")
D = TypeVar("D")
ENTRIES = 2048  # values kept; each is a few numbers, a line of text or a table of four rows


class LRU(Generic[V]):
    """A map of at most ``entries`` items shared by threads, the least recently used dropped
    first (this module's values; the live charts' figures by ``cache_key``)."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, V] = OrderedDict()

    @overload
    def get(self, key: Hashable) -> V | None: ...
    @overload
    def get(self, key: Hashable, default: D) -> V | D: ...

    def get(self, key: Hashable, default: object = None) -> object:
        """The item of ``key``, now the most recently used, or ``default``."""
        with self._lock:
            if key not in self._items:
                return default
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: Hashable, item: V) -> None:
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > self.entries:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


values: LRU[object] = LRU(ENTRIES)
_MISSING = object()  # a value may be None


def value(key: Hashable, make: Callable[[], T]) -> T:
    """The value made for ``key`` (``make()`` the first time, or after it was dropped)."""
    hit = values.get(key, _MISSING)
    if hit is not _MISSING:
        return hit  # type: ignore[return-value]
    made = make()  # outside the lock: another session may make the same value meanwhile
    values.put(key, made)
    return made


def clear() -> None:
    """Forget every value (for tests)."""
    values.clear()

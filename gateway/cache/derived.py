"""What requests derive from a cached Result, remembered per Result object.

Every hit on one entry gets the same decoded Result (`ResponseCache.get`), and what a request then derives
from it (a reseller's page of it, its bytes in the client's dialect) comes out the same every time. On a hit
that derivation was most of the gateway's work (bench/notes.md), so it is remembered here, keyed by the source
object's identity and whatever else the derivation depends on.

Safe because cached Results are never mutated once made (no step changes a Result in place; each makes a new
one). A remembered value keeps its source object alive, so an id can never be reused for another object while
its value is remembered.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from cachetools import LRUCache

from gateway.dialects.base import Rendered

T = TypeVar("T")
PAGES = 1024  # pages: lists of references to the entry's own rows, but each keeps its whole source alive
RENDERED_BYTES = 64 << 20  # rendered bodies, by size: a 10,000-row list renders to megabytes
_BIG = RENDERED_BYTES // 8  # a body this large is rendered each time rather than evict most of the others


def _size(slot: tuple[object, Any]) -> int:
    value = slot[1]
    return len(value.body) + 200 if isinstance(value, Rendered) else 200


class DerivedMemo:
    """Two bounded LRUs: reseller pages (by count) and rendered answers (by bytes)."""

    def __init__(self) -> None:
        self._pages: LRUCache[tuple[int, Hashable], tuple[object, Any]] = LRUCache(PAGES)
        self._rendered: LRUCache[tuple[int, Hashable], tuple[object, Any]] = LRUCache(RENDERED_BYTES, _size)

    def page(self, source: object, how: Hashable, make: Callable[[], T]) -> T:
        """`make()`, remembered for (`source`, `how`)."""
        return self._remember(self._pages, source, how, make)

    def rendered(self, source: object, how: Hashable, make: Callable[[], Rendered]) -> Rendered:
        """`make()`'s rendered answer, remembered for (`source`, `how`) unless it is very large."""
        return self._remember(self._rendered, source, how, make)

    @staticmethod
    def _remember(lru: LRUCache[tuple[int, Hashable], tuple[object, Any]], source: object, how: Hashable,
                  make: Callable[[], T]) -> T:  # fmt: skip
        slot = (id(source), how)
        seen = lru.get(slot)
        if seen is not None and seen[0] is source:
            value: T = seen[1]
            return value
        value = make()
        if not (isinstance(value, Rendered) and len(value.body) > _BIG):
            lru[slot] = (source, value)
        return value

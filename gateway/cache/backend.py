"""The backend interface and the in-process backend.

A backend stores opaque byte values under string keys with a time to live, and keeps generation counters:
one per (upstream, resource tag). A cached read's key includes the generations of its tags, so bumping a
counter makes every entry computed under the old value unreachable, without scanning for keys.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from cachetools import TLRUCache


class Backend(Protocol):
    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float) -> None: ...

    async def touch(self, key: str, ttl: float) -> bool: ...

    async def generations(self, names: Sequence[str]) -> list[int]: ...

    async def bump(self, names: Sequence[str]) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


def _expires(_key: str, value: tuple[float, bytes], _now: float) -> float:
    return value[0]


ENTRY_OVERHEAD = 200  # bytes an entry costs beyond its value (key, tuple, bookkeeping), roughly


class MemoryBackend:
    """Per-process entries in a bounded cache (least recently used go first), each with its own lifetime.

    Bounded both by count and by bytes: each entry is charged its size but at least `max_bytes / max_entries`,
    so neither `max_entries` small entries nor a few large ones (playlists of megabytes) exceed the budget.
    A value larger than the whole budget is not stored."""

    name = "memory"

    def __init__(self, max_entries: int, max_bytes: int = 256 << 20) -> None:
        floor = max(1, max_bytes // max_entries)

        def charge(value: tuple[float, bytes]) -> int:
            return max(floor, len(value[1]) + ENTRY_OVERHEAD)

        self._entries: TLRUCache[str, tuple[float, bytes]] = TLRUCache(
            maxsize=max_bytes, ttu=_expires, timer=time.monotonic, getsizeof=charge
        )
        # One counter per (upstream, tag): bounded by the config and the catalogue, never by client input.
        self._generations: dict[str, int] = {}

    async def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        return None if found is None else found[1]

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        try:
            self._entries[key] = (time.monotonic() + ttl, value)
        except ValueError:  # larger than the whole budget
            self._entries.pop(key, None)

    async def touch(self, key: str, ttl: float) -> bool:
        """Make `key` live at least `ttl` more seconds; False when it is not here (any more)."""
        found = self._entries.get(key)
        if found is None:
            return False
        expires = time.monotonic() + ttl
        if expires > found[0]:
            self._entries[key] = (expires, found[1])
        return True

    async def generations(self, names: Sequence[str]) -> list[int]:
        return self.generations_now(names)

    def generations_now(self, names: Sequence[str]) -> list[int]:
        return [self._generations.get(n, 0) for n in names]

    async def bump(self, names: Sequence[str]) -> None:
        for n in names:
            self._generations[n] = self._generations.get(n, 0) + 1

    async def ping(self) -> None:
        return None

    def clear(self) -> None:
        self._entries.clear()

    def value_bytes(self) -> int:
        """The bytes of the values held (what /readyz reports): one pass over at most `max_entries` entries."""
        return sum(len(value) for _, value in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    async def close(self) -> None:
        self._entries.clear()

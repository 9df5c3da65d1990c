"""The cache's pure parts without a network: keys, entries, the memory backend, single-flight (Redis: in
tests/integration and tests/reliability, against real servers)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

import pytest

from gateway.cache.backend import MemoryBackend
from gateway.cache.derived import RENDERED_BYTES, DerivedMemo
from gateway.cache.store import ResponseCache, decode_entry, encode_entry
from gateway.catalogue import catalogue
from gateway.config import CacheConfig
from gateway.dialects.base import Rendered
from gateway.metrics import Metrics
from gateway.model import Call, Ref, Result

LINE_LIST = catalogue().operations["line.list"]
LINE_GET = catalogue().operations["line.get"]


def memory_cache(**kw: object) -> ResponseCache:
    return ResponseCache(CacheConfig(backend="memory", **kw), Metrics())  # type: ignore[arg-type]


async def test_key_is_canonical_and_covers_every_part() -> None:
    cache = memory_cache()
    base = await cache.key_for("main", LINE_LIST, Call("line.list", {"start": 0, "limit": 5}), "admin")
    same = await cache.key_for("main", LINE_LIST, Call("line.list", {"limit": 5, "start": 0}, dialect="xc"), "admin")
    assert base == same  # argument order and client dialect do not matter
    others = [
        await cache.key_for("other", LINE_LIST, Call("line.list", {"start": 0, "limit": 5}), "admin"),
        await cache.key_for("main", LINE_LIST, Call("line.list", {"start": 0, "limit": 6}), "admin"),
        await cache.key_for("main", LINE_LIST, Call("line.list", {"start": 0, "limit": 5}), "88"),
        await cache.key_for("main", LINE_GET, Call("line.get", {"start": 0, "limit": 5}), "admin"),
    ]
    assert len({base, *others}) == 5
    by_id = [await cache.key_for("main", LINE_GET, Call("line.get", target=Ref(id=i)), "admin") for i in (1, 2)]
    creds = await cache.key_for("main", LINE_GET, Call("line.get", target=Ref(username="a", password="b")), "admin")
    assert len({*by_id, creds}) == 3


async def test_invalidation_changes_keys_of_its_tags_only() -> None:
    cache = memory_cache()
    call = Call("line.list")
    package = catalogue().operations["package.list"]
    line_key = await cache.key_for("main", LINE_LIST, call, "admin")
    package_key = await cache.key_for("main", package, Call("package.list"), "admin")
    await cache.invalidate("main", ("line",))
    assert await cache.key_for("main", LINE_LIST, call, "admin") != line_key
    assert await cache.key_for("main", package, Call("package.list"), "admin") == package_key
    await cache.invalidate("other", ("*",))
    assert await cache.key_for("main", package, Call("package.list"), "admin") == package_key
    await cache.invalidate("main", ("*",))
    assert await cache.key_for("main", package, Call("package.list"), "admin") != package_key


def test_entry_round_trip_and_garbage() -> None:
    result = Result(data=[{"id": 1, "username": "ü"}], total=10, filtered=1, extra={"draw": 1})
    entry = decode_entry(encode_entry(result, 123.5))
    assert entry is not None and entry.result == result and entry.fresh_until == 123.5
    assert decode_entry(b"not json") is None
    assert decode_entry(b'{"f": 1}') is None


async def test_memory_backend_is_bounded_by_bytes_too() -> None:
    """Cached playlists are megabytes: many of them must not outgrow the budget that max_entries alone allows."""
    memory = MemoryBackend(max_entries=1000, max_bytes=4 << 20)
    for i in range(10):
        await memory.set(f"playlist{i}", b"#" * (1 << 20), 60)
    assert 1 <= len(memory) <= 4
    assert await memory.get("playlist9") is not None and await memory.get("playlist0") is None
    await memory.set("huge", b"#" * (5 << 20), 60)  # more than the whole budget: not stored, nothing breaks
    assert await memory.get("huge") is None and await memory.get("playlist9") is not None
    small = MemoryBackend(max_entries=3, max_bytes=4 << 20)  # small values: the count still bounds
    for i in range(5):
        await small.set(f"k{i}", b"v", 60)
    assert len(small) == 3


async def test_memory_backend_is_bounded_and_expires() -> None:
    memory = MemoryBackend(max_entries=3)
    for i in range(5):
        await memory.set(f"k{i}", b"v", 60)
    assert len(memory) == 3
    assert await memory.get("k0") is None and await memory.get("k4") == b"v"
    await memory.set("short", b"v", 0.05)
    await asyncio.sleep(0.1)
    assert await memory.get("short") is None


@pytest.mark.parametrize("ending", ["answer", "exception", "cancellation"])
async def test_a_flight_releases_its_waiters_however_its_leader_ends(ending: str) -> None:
    cache = memory_cache()

    async def leader() -> None:
        async with cache.leading("k") as lead:
            await asyncio.sleep(0.05)
            if ending == "exception":
                raise RuntimeError("the panel call broke")
            lead.result = (Result(data=[1]), "MISS")

    task = asyncio.create_task(leader())
    await asyncio.sleep(0)
    flight = cache.flights["k"]
    if ending == "cancellation":
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    shared = await asyncio.wait_for(flight, 1)
    assert shared == ((Result(data=[1]), "MISS") if ending == "answer" else None)
    assert "k" not in cache.flights


def test_derived_memo_is_per_source_object_and_purpose() -> None:
    memo = DerivedMemo()
    made: list[str] = []

    def maker(text: str) -> Callable[[], Rendered]:
        def make() -> Rendered:
            made.append(text)
            return Rendered(200, text.encode())

        return make

    a, b = Result(data=[1]), Result(data=[1])  # equal, but distinct objects: never share a derivation
    assert memo.rendered(a, "xm", maker("a-xm")).body == b"a-xm"
    assert memo.rendered(a, "xm", maker("again")).body == b"a-xm"
    assert memo.rendered(a, "xc", maker("a-xc")).body == b"a-xc"
    assert memo.rendered(b, "xm", maker("b-xm")).body == b"b-xm"
    assert made == ["a-xm", "a-xc", "b-xm"]
    assert memo.page(a, ("88", 1), lambda: "p1") == "p1" and memo.page(a, ("88", 1), lambda: "other") == "p1"


def test_derived_memo_keeps_its_source_alive_and_skips_huge_bodies() -> None:
    memo = DerivedMemo()
    memo.rendered(Result(data=[]), "xm", lambda: Rendered(200, b"first"))
    gc.collect()
    # the remembered value holds its source, so no new object can take its id and be answered with its bytes
    for _ in range(1000):
        assert memo.rendered(Result(data=[]), "xm", lambda: Rendered(200, b"fresh")).body == b"fresh"
    big = Result(data=[])
    body = b"x" * (RENDERED_BYTES // 4)
    memo.rendered(big, "xm", lambda: Rendered(200, body))
    assert memo.rendered(big, "xm", lambda: Rendered(200, b"again")).body == b"again"

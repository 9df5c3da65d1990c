"""`_RecvSize`: the relay's cap on recv() sizes from the panel, lifted for a player that keeps up.

Fakes stand in for the aiohttp response and asyncio transport: only the attributes `_RecvSize` touches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from gateway.clientside.relay import FAST_AFTER, SLOW_RECV, _RecvSize


class SelectorLike:
    max_size = 256 * 1024  # as CPython's selector transport: a class attribute


class TlsLike:
    pass


class Content:
    def __init__(self) -> None:
        self.callbacks: list[Callable[[], None]] = []

    def on_eof(self, callback: Callable[[], None]) -> None:
        self.callbacks.append(callback)

    def feed_eof(self) -> None:
        for callback in self.callbacks:
            callback()


class Connection:
    def __init__(self, transport: object) -> None:
        self.transport = transport


class Upstream:
    def __init__(self, transport: object) -> None:
        self.connection = Connection(transport)
        self.content = Content()


def make(transport: object) -> tuple[_RecvSize, Upstream]:
    upstream = Upstream(transport)
    return _RecvSize(cast(Any, upstream)), upstream


def test_starts_capped_and_lifts_only_after_a_long_clear_streak() -> None:
    transport = SelectorLike()
    recv, _ = make(transport)
    assert transport.max_size == SLOW_RECV
    for _ in range(FAST_AFTER // SLOW_RECV - 1):
        recv.follow(False, SLOW_RECV)
    assert transport.max_size == SLOW_RECV
    recv.follow(True, SLOW_RECV)  # one backlog starts the streak again
    for _ in range(FAST_AFTER // SLOW_RECV - 1):
        recv.follow(False, SLOW_RECV)
    assert transport.max_size == SLOW_RECV
    recv.follow(False, SLOW_RECV)
    assert transport.max_size == SelectorLike.max_size


def test_a_backlog_puts_the_cap_back() -> None:
    transport = SelectorLike()
    recv, _ = make(transport)
    recv.follow(False, FAST_AFTER)
    assert transport.max_size == SelectorLike.max_size
    recv.follow(True, 1)
    assert transport.max_size == SLOW_RECV


def test_eof_hands_the_connection_back_untouched_for_good() -> None:
    transport = SelectorLike()
    recv, upstream = make(transport)
    upstream.content.feed_eof()  # aiohttp pools the connection here
    assert transport.max_size == SelectorLike.max_size
    recv.follow(True, 1)  # the relay still writes the last bytes: the pooled connection is not touched
    assert transport.max_size == SelectorLike.max_size
    recv.restore()
    assert "max_size" not in vars(transport) or transport.max_size == SelectorLike.max_size


def test_transports_without_max_size_are_left_alone() -> None:
    transport = TlsLike()
    recv, _ = make(transport)
    recv.follow(True, 1)
    recv.follow(False, FAST_AFTER)
    recv.restore()
    assert not hasattr(transport, "max_size")

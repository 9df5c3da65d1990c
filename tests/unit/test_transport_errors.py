"""The one table that says what an exception from an upstream exchange means."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from gateway.transport_errors import BROKEN, TIMEOUT, TRANSPORT_ERRORS, UNREACHABLE, classify


@pytest.mark.parametrize(
    ("exc", "meaning"),
    [
        (aiohttp.ConnectionTimeoutError(), UNREACHABLE),  # a TimeoutError too, but nothing was sent
        (TimeoutError(), TIMEOUT),
        (aiohttp.SocketTimeoutError(), TIMEOUT),  # connected, then silent
        (aiohttp.ServerDisconnectedError(), BROKEN),
        (aiohttp.ClientPayloadError("cut"), BROKEN),
        (asyncio.IncompleteReadError(b"", 10), BROKEN),
        (ConnectionResetError(), BROKEN),
    ],
    ids=lambda v: type(v).__name__,
)
def test_each_exception_means_one_thing(exc: BaseException, meaning: object) -> None:
    assert isinstance(exc, TRANSPORT_ERRORS)
    assert classify(exc) is meaning


def test_only_what_was_never_sent_may_be_sent_elsewhere() -> None:
    assert (UNREACHABLE.sent, TIMEOUT.sent, BROKEN.sent) == (False, True, True)
    assert UNREACHABLE.describe("main", OSError(), 5) == "cannot connect to upstream main"
    assert TIMEOUT.describe("main", TimeoutError(), 2.5) == "upstream main timed out after 2.5s"


def test_a_programming_error_is_not_a_transport_error() -> None:
    with pytest.raises(TypeError):
        classify(ValueError("bug"))

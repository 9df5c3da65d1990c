"""What a failed exchange with an upstream means, from the exception it raised: one table, for the admin API's
calls and the players' requests alike, so a refused connection, a silence and a connection cut in the middle are
told apart (and told whether the upstream may have received the request) the same way everywhere."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp

from gateway.panel_http import AnswerCut, ConnectFailed, NotHttp


@dataclass(frozen=True)
class TransportError:
    kind: str  # unreachable, timeout, broken: the label of metrics and logs
    sent: bool  # the upstream may have received the request (a write may have been applied)

    def describe(self, upstream: str, exc: BaseException, timeout: float) -> str:
        """A sentence for operators and clients, naming the upstream by its configured name only."""
        if self.kind == "unreachable":
            return f"cannot connect to upstream {upstream}"
        if self.kind == "timeout":
            return f"upstream {upstream} timed out after {timeout:g}s"
        return f"upstream {upstream} failed: {type(exc).__name__}"


UNREACHABLE = TransportError("unreachable", sent=False)  # refused, or no connection within the connect timeout
TIMEOUT = TransportError("timeout", sent=True)  # connected, then silent past the deadline
BROKEN = TransportError("broken", sent=True)  # reset, closed early, or answered what is not HTTP

# Most specific first: aiohttp's connection timeout is a TimeoutError too, but nothing was sent. aiohttp's client
# makes the players' requests; gateway.panel_http the admin API's.
TABLE: tuple[tuple[tuple[type[BaseException], ...], TransportError], ...] = (
    ((aiohttp.ClientConnectorError, aiohttp.ClientProxyConnectionError, aiohttp.ConnectionTimeoutError, ConnectFailed),
     UNREACHABLE),
    ((TimeoutError,), TIMEOUT),
    ((aiohttp.ClientError, asyncio.IncompleteReadError, ConnectionError, AnswerCut, NotHttp), BROKEN),
)
# Every exception the table covers: what `except` clauses around an upstream exchange catch.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = tuple(exc for kinds, _ in TABLE for exc in kinds)


def classify(exc: BaseException) -> TransportError:
    """The meaning of an exception an upstream exchange raised (one of TRANSPORT_ERRORS)."""
    for kinds, meaning in TABLE:
        if isinstance(exc, kinds):
            return meaning
    raise TypeError(f"{type(exc).__name__} is not a transport error") from exc

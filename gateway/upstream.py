"""HTTP transport to upstream panels for the admin API: one pooled session, bounded answers, clear failures."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlencode

import aiohttp

from gateway.config import Upstream
from gateway.dialects.base import UpstreamRequest
from gateway.health import Health, HealthSettings
from gateway.record_locks import RecordLocks

MAX_ANSWER_BYTES = 32 << 20  # a panel list page is kilobytes; anything past this is a broken upstream


class UpstreamUnavailable(Exception):
    """The request could not be completed; `sent` tells whether the panel may have received it."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


async def _read_answer(resp: aiohttp.ClientResponse) -> bytes:
    """The whole body, refused as soon as it passes MAX_ANSWER_BYTES (at once when Content-Length says so).

    `StreamReader.read(n)` returns whatever has arrived, up to n bytes: one call is one chunk, not the body.
    A connection that ends before the body does raises ClientPayloadError from the stream.
    """
    if resp.content_length is not None and resp.content_length > MAX_ANSWER_BYTES:
        raise UpstreamUnavailable("upstream answer is too large", sent=True)
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise UpstreamUnavailable("upstream answer is too large", sent=True)
        chunks.append(chunk)
    return b"".join(chunks)


class UpstreamClient:
    """Sends UpstreamRequests. The session is created lazily inside the running loop."""

    def __init__(self, *, health: Health | None = None, user_agent: str = "panelgate") -> None:
        self._session: aiohttp.ClientSession | None = None
        self._user_agent = user_agent
        self.health = health or Health(HealthSettings())
        self.locks = RecordLocks()  # one writer per panel record (gateway.record_locks)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256, limit_per_host=64, ttl_dns_cache=60),
                headers={"User-Agent": self._user_agent},
                auto_decompress=True,
                # Calls on behalf of different clients and tenants must not carry each other's state: a cookie a
                # panel sets (a PHP session) is not kept and sent with the next call, whoever makes it.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        await self.locks.close()

    async def send(self, upstream: Upstream, req: UpstreamRequest, *, request_id: str = "") -> Answer:
        """Send one request; a failure that left the panel unsure or unreachable counts against its breaker."""
        breaker = self.health.breaker(upstream.name)
        if not breaker.allow():
            raise UpstreamUnavailable(f"upstream {upstream.name} is marked down", sent=False)
        try:
            answer = await self._send(upstream, req, request_id)
        except UpstreamUnavailable as exc:
            breaker.failure(str(exc))
            raise
        if answer.status >= 500:
            breaker.failure(f"HTTP {answer.status}")
        else:
            breaker.success()
        return answer

    async def _send(self, upstream: Upstream, req: UpstreamRequest, request_id: str) -> Answer:
        session = self._get_session()
        timeout = aiohttp.ClientTimeout(total=upstream.timeout, connect=min(upstream.timeout, 5.0))
        headers = {"X-Request-Id": request_id} if request_id else {}
        url = upstream.url + req.path
        # Encoded here rather than by aiohttp's FormData, which refuses a control character in a field name
        # (a ValueError, i.e. an internal error) although PHP reads such a name like any other.
        body: bytes | None = None
        if req.method != "GET" or req.form:
            body = urlencode(req.form).encode("ascii")
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            async with session.request(
                req.method, url, data=body, timeout=timeout, headers=headers, allow_redirects=False
            ) as resp:
                return Answer(resp.status, await _read_answer(resp))
        except (aiohttp.ClientConnectorError, aiohttp.ClientProxyConnectionError,
                aiohttp.ConnectionTimeoutError) as exc:  # fmt: skip
            # Nothing was sent: connection refused, or no connection within the connect timeout.
            raise UpstreamUnavailable(f"cannot connect to upstream {upstream.name}", sent=False) from exc
        except TimeoutError as exc:
            message = f"upstream {upstream.name} timed out after {upstream.timeout:g}s"
            raise UpstreamUnavailable(message, sent=True) from exc
        except (aiohttp.ClientError, asyncio.IncompleteReadError) as exc:
            raise UpstreamUnavailable(f"upstream {upstream.name} failed: {type(exc).__name__}", sent=True) from exc

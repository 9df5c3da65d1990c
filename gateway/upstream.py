"""Calls to the panels' admin APIs: within each panel's budget and breaker, busy answers retried, clear failures."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from urllib.parse import urlencode

from gateway.bodyread import TooLarge
from gateway.budget import OutboundBudget, OverBudget
from gateway.dialects.base import UpstreamRequest
from gateway.health import Health, HealthSettings
from gateway.panel_http import PanelHttp, Saturated
from gateway.record_locks import RecordLocks
from gateway.transport_errors import TRANSPORT_ERRORS, classify
from gateway.upstream_settings import Upstream

MAX_ANSWER_BYTES = 32 << 20  # a panel list page is kilobytes; anything past this is a broken upstream


BUSY_RETRIES = 3  # tries of a read the panel answered 503 (its rate limit): after 0.25, 0.5 and 1 s
BUSY_BACKOFF = 0.25
MAX_BUSY_WAIT = 2.0  # seconds a read waits before one retry, at most; a longer Retry-After is answered at once
MAX_RETRY_AFTER = 30.0


class UpstreamUnavailable(Exception):
    """The request could not be completed; `sent` tells whether the panel may have received it."""

    def __init__(self, message: str, *, sent: bool, retry_after: float = 0.0, of_panel: bool = True) -> None:
        super().__init__(message)
        self.sent = sent
        self.retry_after = retry_after
        self.of_panel = of_panel  # it tells of the panel's health (False: the gateway's own limit), for the breaker


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    retry_after: float = 0.0  # the panel's Retry-After, in seconds (0: none)


def _retry_after(value: str | None) -> float:
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(value))) if value else 0.0
    except ValueError:
        return 0.0


class UpstreamClient:
    """Sends UpstreamRequests over pooled connections (gateway.panel_http)."""

    def __init__(self, *, health: Health | None = None, user_agent: str = "panelgate") -> None:
        self._http = PanelHttp(user_agent=user_agent)
        self.health = health or Health(HealthSettings())
        self.locks = RecordLocks()  # one writer per panel record (gateway.record_locks)
        self.budget = OutboundBudget()  # how fast each panel may be called (gateway.budget)

    async def close(self) -> None:
        await self._http.close()
        await self.locks.close()

    async def send(self, upstream: Upstream, req: UpstreamRequest, *, request_id: str = "",
                   read: bool = False) -> Answer:  # fmt: skip
        """Send one request within the upstream's budget; a failure that left the panel unsure or unreachable
        counts against its breaker. A 503 (the panel's rate limit, or overload) is tried again for a `read`,
        with back-off (unless the panel asks for a longer wait than MAX_BUSY_WAIT); for a write, which may
        have been applied, it is answered with the panel's Retry-After."""
        breaker = self.health.breaker(upstream.name)
        settled = probing = False  # the breaker told how the call went; if not, a probe slot taken is given back
        try:
            for attempt in range(BUSY_RETRIES + 1):
                if not breaker.allow():
                    raise UpstreamUnavailable(f"upstream {upstream.name} is marked down", sent=False)
                probing = breaker.state == "half_open"  # this call holds the half-open breaker's one probe
                try:
                    await self.budget.take(upstream)
                except OverBudget as exc:
                    raise UpstreamUnavailable(str(exc), sent=False, retry_after=exc.retry_after) from None
                try:
                    answer = await self._send(upstream, req, request_id, read)
                except UpstreamUnavailable as exc:
                    if exc.of_panel:
                        settled = True
                        breaker.failure(str(exc))
                    raise
                if answer.status != 503:
                    break
                # Busy is not broken: a rate limit must not open the breaker and shut the panel out for a cooldown;
                # nor, answered to a half-open breaker's probe, keep the probe slot (the next call probes again).
                if probing:
                    breaker.release()
                    probing = False
                wait = answer.retry_after or BUSY_BACKOFF * 2**attempt
                # a longer Retry-After (a panel in maintenance says minutes) is the client's to wait, not this call's
                retry = read and attempt < BUSY_RETRIES and wait <= MAX_BUSY_WAIT
                self._busy(upstream, "retried" if retry else "answered")
                if not retry:
                    raise UpstreamUnavailable(f"upstream {upstream.name} is busy (HTTP 503)", sent=not read,
                                              retry_after=answer.retry_after or 1.0)  # fmt: skip
                await asyncio.sleep(wait)
            settled = True
            if answer.status >= 500:
                breaker.failure(f"HTTP {answer.status}")
            else:
                breaker.success()
            return answer
        finally:
            if probing and not settled:  # over budget, saturated or cancelled: nothing learnt of the panel's health
                breaker.release()

    def _busy(self, upstream: Upstream, action: str) -> None:
        if self.budget.metrics is not None:
            self.budget.metrics.upstream_busy.labels(upstream.name, action).inc()

    async def _send(self, upstream: Upstream, req: UpstreamRequest, request_id: str, read: bool) -> Answer:
        headers: tuple[tuple[str, str], ...] = (("X-Request-Id", request_id),) if request_id else ()
        # Encoded here rather than by a form library that refuses a control character in a field name (PHP reads
        # such a name like any other).
        body: bytes | None = None
        if req.method != "GET" or req.form:
            body = form_body(req.form)
            headers += (("Content-Type", "application/x-www-form-urlencoded"),)
        try:
            reply = await self._http.exchange(upstream.origin, req.method, req.path, body=body, headers=headers,
                                              timeout=upstream.timeout, connect_timeout=min(upstream.timeout, 5.0),
                                              limit=MAX_ANSWER_BYTES, idempotent=read)  # fmt: skip
        except TooLarge:
            raise UpstreamUnavailable("upstream answer is too large", sent=True) from None
        except Saturated:
            raise UpstreamUnavailable(f"upstream {upstream.name} is at the gateway's connection limit; nothing was "
                                      "sent", sent=False, retry_after=1.0, of_panel=False) from None  # fmt: skip
        except TRANSPORT_ERRORS as exc:
            meaning = classify(exc)
            message = meaning.describe(upstream.name, exc, upstream.timeout)
            raise UpstreamUnavailable(message, sent=meaning.sent) from exc
        return Answer(reply.status, reply.body, _retry_after(reply.retry_after))


# What urlencode's quote_plus leaves as it is: a pair made only of these is written without its work.
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~\-]*").fullmatch


def form_body(pairs: list[tuple[str, str]]) -> bytes:
    """`urlencode(pairs)` as bytes, with plain names and values (most of a panel call's) written directly. Only a
    list of tuples takes the direct path: anything else is urlencode's to read (or refuse)."""
    if type(pairs) is not list or (pairs and type(pairs[0]) is not tuple):
        return urlencode(pairs).encode("ascii")
    return "&".join(f"{name}={value}" if type(name) is str and type(value) is str and _UNRESERVED(name)
                    and _UNRESERVED(value) else urlencode([(name, value)])
                    for name, value in pairs).encode("ascii")  # fmt: skip

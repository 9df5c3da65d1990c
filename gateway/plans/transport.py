"""Calls to a real panel: encoded by its dialect, sent through the upstream client, decoded, its secrets removed."""

from __future__ import annotations

import time

from gateway import panel_secrets
from gateway.catalogue import Kind, Operation
from gateway.dialects.registry import upstream_face
from gateway.metrics import Metrics
from gateway.model import Call, Code, Failure, Outcome, Result
from gateway.upstream import UpstreamClient, UpstreamUnavailable
from gateway.upstream_settings import Upstream


class UpstreamTransport:
    """Sends one plan's calls to `upstream`, with metrics, the request id passed on, and the breaker."""

    def __init__(self, upstream: Upstream, client: UpstreamClient, metrics: Metrics, *, request_id: str = "") -> None:
        self.upstream = upstream
        self.client = client
        self.metrics = metrics
        self.request_id = request_id
        self.face = upstream_face(upstream.dialect)
        self.labels = (upstream.name,)

    async def send(self, call: Call, op: Operation) -> Outcome:
        request = self.face.encode(call, op, self.upstream)
        started = time.perf_counter()
        try:
            answer = await self.client.send(self.upstream, request, request_id=self.request_id,
                                            read=op.kind is Kind.READ)  # fmt: skip
        except UpstreamUnavailable as exc:
            self.metrics.upstream_requests.labels(self.upstream.name, "unavailable").inc()
            # Not sent: the panel never saw the request, so another upstream may be tried, even for a write.
            return Failure(Code.UPSTREAM_UNAVAILABLE, str(exc), retryable=not exc.sent, retry_after=exc.retry_after)
        finally:
            self.metrics.deferred.observe(self.metrics.upstream_latency, self.labels, time.perf_counter() - started)
        # the panel's keys and password hashes go before anything else sees the answer (gateway.panel_secrets);
        # a read's answer that cannot hold one may stay as the panel wrote it, decoded only if read (gateway.verbatim)
        status, body = answer.status, answer.body
        if not (self.face.NAMES_AS_SENT and panel_secrets.cannot_hold(op, body)):
            outcome = panel_secrets.strip(op, self.face.decode(op, status, body))
        else:
            kept = self.face.verbatim(op, status, body) if op.kind is Kind.READ else None
            outcome = kept or self.face.decode(op, status, body)
        label = "ok" if isinstance(outcome, Result) else outcome.code.value.lower()
        self.metrics.deferred.inc(self.metrics.upstream_requests, (self.upstream.name, label))
        return outcome

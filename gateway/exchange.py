"""The state of one admin request as it moves through the pipeline, and the app-wide state it reads."""

from __future__ import annotations

import ipaddress
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from gateway.audit import AuditLog
from gateway.cache.store import ResponseCache, Ticket
from gateway.catalogue import Catalogue, Operation
from gateway.config import Config, KeyConfig, Upstream
from gateway.dialects.base import ClientFace, RawRequest
from gateway.metrics import Metrics
from gateway.model import Call, Outcome
from gateway.ratelimit import Limiter
from gateway.upstream import UpstreamClient

if TYPE_CHECKING:
    from gateway.tenancy import Page

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass
class GatewayState:
    """Everything request code reads, built once at start-up from the Config."""

    config: Config
    catalogue: Catalogue
    keys_by_digest: dict[str, KeyConfig]
    ip_only_keys: tuple[KeyConfig, ...]
    limiter: Limiter
    upstream_client: UpstreamClient
    metrics: Metrics
    audit: AuditLog
    cache: ResponseCache | None = None  # reads answered from cache (gateway.cache)
    loaded_at: int = field(default_factory=lambda: int(time.time()))


@dataclass
class Live:
    """The state in force. A reload replaces `state` whole; a request keeps the one it started with."""

    state: GatewayState


@dataclass
class Exchange:
    request: web.Request
    state: GatewayState
    face: ClientFace
    request_id: str
    started: float = field(default_factory=time.perf_counter)
    raw: RawRequest | None = None
    client_ip: IPAddress | None = None
    key: KeyConfig | None = None
    call: Call | None = None
    op: Operation | None = None
    upstream: Upstream | None = None
    candidates: tuple[Upstream, ...] = ()  # the upstreams that may serve this call, in the order to try
    outcome: Outcome | None = None
    page: Page | None = None  # a reseller's list page, applied after filtering (tenancy)
    response_headers: dict[str, str] = field(default_factory=dict)
    cache: Ticket | None = None  # a cacheable read that went upstream: its key, its waiters
    cache_status: str = ""  # HIT | MISS | STALE | BYPASS (also the X-Cache header)

    @staticmethod
    def request_id_of(request: web.Request) -> str:
        """Keep a caller's X-Request-Id when it is harmless, so logs join up across hops."""
        given = request.headers.get("X-Request-Id", "")
        return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


Step = Callable[[Exchange], Awaitable[None]]

"""How a player's request is refused: an HTTP status with an empty body (players read nothing else) and a
Reason from the same vocabulary as the admin API's refusals, for metrics and logs."""

from __future__ import annotations

import logging

from gateway.model import Reason
from gateway.transport_errors import classify

log = logging.getLogger("panelgate.clientside")


class Refusal(Exception):
    def __init__(self, status: int, reason: Reason, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason.value)
        self.status = status
        self.reason = reason
        self.headers = headers or {}  # e.g. Retry-After

    @classmethod
    def upstream_status(cls, status: int) -> Refusal:
        """The panel answered an error: its 4xx passes on (a player tells a bad line from a missing stream by it),
        its 5xx is the gateway's 502."""
        return cls(status if status < 500 else 502, Reason.UPSTREAM_STATUS)

    @classmethod
    def upstream_failed(cls, exc: BaseException, what: str) -> Refusal:
        """The panel could not be asked or broke off before answering (one of transport_errors' exceptions):
        logged with what it means (never the URL: a player's holds its line's credentials), answered 502."""
        log.warning("%s upstream %s: %s", what, classify(exc).kind, type(exc).__name__)
        return cls(502, Reason.UPSTREAM_ERROR)

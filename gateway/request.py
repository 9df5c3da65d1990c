"""A client's admin request as HTTP decoding leaves it and the dialects read it: the seam between the two, so
the transport layer never imports a dialect."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.phpform import Params


@dataclass(frozen=True)
class RawRequest:
    """A client request after transport decoding: PHP-style query and body params, path variables."""

    method: str
    path: str
    query: Params
    body: Params
    match: dict[str, str] = field(default_factory=dict)
    api_key_header: str | None = None
    timezone: str = "UTC"  # the time zone of the panel the call is for: dates without one are read in it
    idempotency_key: str | None = None  # taken out of the params before a dialect reads them (gateway.idempotency)

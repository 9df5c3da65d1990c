"""An upstream panel's settings: a leaf module (it imports nothing of the gateway), so the dialects that encode
calls for an upstream, and the config that builds it, depend on it rather than on each other."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit


@dataclass(frozen=True)
class Budget:
    """How fast the gateway calls one panel: `per_second` with bursts of `burst`; a call past it waits up to
    `max_wait` seconds (at most `queue` calls waiting), then fails with Retry-After."""

    per_second: float = 20.0  # XUI.one's nginx: limit_req 20 r/s per client address, then 503
    burst: int = 20
    max_wait: float = 5.0
    queue: int = 200


# The admin API's address on a panel, by flavour: the Xtream-Masters documentation's, and XUI.one's as it runs.
ADMIN_PATHS = {"xtream_masters": "/{code}/admin/index.php", "xui_one": "/{code}/"}


@dataclass(frozen=True)
class Origin:
    """Where an upstream's requests go, read from its url once: the address to connect to, the Host header, the
    url's own path (every request's path follows it) and credentials given in the url as user:password@."""

    tls: bool
    host: str  # as the resolver takes it: an IPv6 address without its brackets
    port: int
    authority: str  # the Host header: host, and port unless the scheme's own
    prefix: str = ""
    authorization: str = field(default="", repr=False)


def parse_origin(url: str) -> Origin:
    """The Origin of an http(s) url (ValueError for a port out of range, or a host name IDNA cannot spell)."""
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    host = parts.hostname or ""
    if not host.isascii():  # an international name goes on the wire (Host, DNS) in its xn-- form
        host = host.encode("idna").decode("ascii")
    port = parts.port or (443 if tls else 80)
    shown = f"[{host}]" if ":" in host else host
    authority = shown if port == (443 if tls else 80) else f"{shown}:{port}"
    authorization = ""
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode("ascii")
    return Origin(tls, host, port, authority, quote(parts.path.rstrip("/"), safe="/%:@!$&'()*+,;=-._~"), authorization)


@dataclass(frozen=True)
class Upstream:
    name: str
    dialect: str
    url: str
    access_code: str = ""
    api_key: str = field(default="", repr=False)  # Xtream-Masters admin key, or XC v2 api_pass
    timeout: float = 10.0
    flavour: str = "xtream_masters"  # xtream_masters upstreams: "xtream_masters" or "xui_one"
    admin_path: str = ADMIN_PATHS["xtream_masters"]  # with {code} for the access code
    timezone: str = "UTC"  # the panel's: it reads and writes dates in it
    budget: Budget | None = field(default_factory=Budget)
    origin: Origin = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "origin", parse_origin(self.url))

    def admin_url_path(self) -> str:
        return self.admin_path.replace("{code}", self.access_code)

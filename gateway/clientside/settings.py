"""The `client_side` section: where players' traffic goes, who is refused, stream caps and timeouts, the hosts to
hide, shared live channels and the provider lines they stream with."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.redis.settings import legacy_seen
from gateway.settings import ConfigError, IPNetwork, Reader, show
from gateway.upstream_settings import Upstream


@dataclass(frozen=True)
class ProviderLine:
    """A line of the provider's panel that the gateway streams live channels with (gateway.clientside.provider_lines):
    `name` labels it in metrics, logs and Redis keys; the credentials never leave the upstream request."""

    name: str
    username: str = field(repr=False)
    password: str = field(repr=False)
    max_connections: int = 1


@dataclass(frozen=True)
class ClientSide:
    """The client side (players): player_api.php, get.php, xmltv.php and the stream relay (gateway.clientside)."""

    upstream: str = ""  # the upstream players' traffic goes to ("" = the first upstream)
    blocked_ips: tuple[IPNetwork, ...] = ()  # refused before any upstream call
    blocked_user_agents: tuple[str, ...] = ()  # case-insensitive substrings of the User-Agent
    max_streams_per_line: int = 0  # concurrent streams per line at the gateway; 0 = no cap
    stream_read_timeout: float = 30.0  # seconds without a byte from the upstream before a stream is dropped
    # seconds a player may take nothing of a relayed stream before its connection is cut and the panel's closed
    # (XC_VM's nginx: `send_timeout 20m`): a player suspended with its socket open must not hold the line's slot
    player_send_timeout: float = 1200.0
    connect_timeout: float = 10.0
    api_timeout: float = 30.0  # for a player_api.php answer to start (a list then streams; the rest whole)
    # the key of `/_o/{id}` HLS ids (gateway.clientside.rewrite.Origins); b"" = per process (or per `serve`)
    origin_secret: bytes = field(default=b"", repr=False)
    # more of the panel's host names to hide in what players get (gateway.clientside.hosts), lower-cased
    upstream_hosts: tuple[str, ...] = ()
    # live channels: one upstream connection per channel for all its viewers (gateway.clientside.shared_live)
    shared_live: bool = True
    live_linger: float = 5.0  # seconds a channel's upstream connection outlives its last viewer
    viewer_buffer: int = 1 << 20  # bytes a viewer may fall behind live before it is skipped forward
    viewer_check_ttl: float = 60.0  # seconds a viewer's standing on the panel (login check) is remembered
    provider_lines: tuple[ProviderLine, ...] = ()
    # shared live HLS (gateway.clientside.hls_share): how long a viewer counts after its last request, and the
    # memory the segments of every channel may hold together
    hls_viewer_timeout: float = 30.0
    hls_cache_bytes: int = 256 << 20


def parse_client_side(data: Any, path: str, upstreams: Mapping[str, Upstream]) -> ClientSide:
    """`client_side: {upstream: main, blocked_ips: [...], blocked_user_agents: [...], max_streams_per_line: 2}`"""
    if data is None:
        return ClientSide()
    r = Reader(data, path)
    upstream = r.text("upstream", "")
    if upstream and upstream not in upstreams:
        raise ConfigError(r.at("upstream"), f"no upstream named {upstream!r}")
    agents = tuple(str(a) for a in r.items("blocked_user_agents"))
    if any(not a.strip() for a in agents):
        raise ConfigError(r.at("blocked_user_agents"), "an empty pattern would block every player")
    legacy_seen(r, "client_side")
    # Replicas read each other's `/_o/` ids only with a shared secret. Never derived from an upstream's API key:
    # an id and a guessed URL would let anyone test guesses of that key offline.
    given = r.text("origin_secret", "")
    if given and len(given) < 32:
        raise ConfigError(r.at("origin_secret"), "must be at least 32 characters (e.g. `openssl rand -hex 32`)")
    side = ClientSide(
        upstream=upstream,
        blocked_ips=r.networks("blocked_ips"),
        blocked_user_agents=agents,
        max_streams_per_line=r.integer("max_streams_per_line", 0, high=10_000),
        stream_read_timeout=r.number("stream_read_timeout", 30.0),
        player_send_timeout=r.number("player_send_timeout", 1200.0),
        connect_timeout=r.number("connect_timeout", 10.0),
        api_timeout=r.number("api_timeout", 30.0),
        origin_secret=_origin_secret(given),
        upstream_hosts=_hosts(r, "upstream_hosts"),
        shared_live=r.flag("shared_live", True),
        live_linger=r.seconds("live_linger", 5.0),
        viewer_buffer=r.integer("viewer_buffer_kib", 1024, low=64, high=1 << 20) * 1024,
        viewer_check_ttl=r.seconds("viewer_check_ttl", 60.0),
        provider_lines=_provider_lines(r, "provider_lines"),
        hls_viewer_timeout=r.number("hls_viewer_timeout", 30.0),
        hls_cache_bytes=r.integer("hls_cache_mib", 256, low=8, high=1 << 16) << 20,
    )
    r.done()
    return side


def _provider_lines(r: Reader, key: str) -> tuple[ProviderLine, ...]:
    """`provider_lines: [{name: p1, username: ${P1_USER}, password: ${P1_PASS}, max_connections: 2}]`"""
    lines: list[ProviderLine] = []
    for i, item in enumerate(r.items(key)):
        sub = Reader(item, f"{r.at(key)}[{i}]")
        name = sub.text("name", f"line{i + 1}")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", name) or name in {line.name for line in lines}:
            raise ConfigError(sub.at("name"), f"{show(name)} must be unique, 1-40 of A-Z a-z 0-9 _ . -")
        username, password = sub.text("username"), sub.text("password")
        if not username or not password or "/" in username + password:
            raise ConfigError(sub.at("username"), "username and password must be non-empty, without `/`")
        lines.append(ProviderLine(name, username, password, sub.integer("max_connections", 1, low=1, high=10_000)))
        sub.done()
    return tuple(lines)


_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?")


def host_name(value: object) -> str | None:
    """A bare host name or IP address, lower-cased as URLs compare it (IPv6 in brackets, as URLs write it);
    None for anything else: a URL, a port, a path, a wildcard."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    try:
        address = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return text.rstrip(".") if _HOST_NAME.fullmatch(text) else None
    return f"[{address}]" if address.version == 6 else str(address)


def _hosts(r: Reader, key: str) -> tuple[str, ...]:
    names: list[str] = []
    for i, item in enumerate(r.items(key)):
        name = host_name(item)
        if name is None:
            raise ConfigError(f"{r.at(key)}[{i}]", f"{show(item)} is not a host name or IP address (no scheme, "
                              "port or path)")  # fmt: skip
        names.append(name)
    return tuple(dict.fromkeys(names))


def _origin_secret(material: str) -> bytes:
    if not material:
        return b""
    return hmac.new(material.encode(), b"panelgate origin ids v1", hashlib.sha512).digest()

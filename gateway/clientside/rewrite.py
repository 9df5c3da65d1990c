"""Rewriting upstream URLs to the gateway's `public_url`: JSON payloads, M3U lines, XMLTV chunks, HLS playlists.

Pure functions and small objects, no I/O. Two kinds of rewrite:
- known hosts (the upstream's own host, hosts the panel reported in server_info, load balancers met in
  redirects): any `http(s)://HOST[:port]` anywhere in a text becomes `public_url`, the path kept;
- M3U stream lines and HLS URIs: whatever their host, they become gateway URLs (a playlist's URL lines are
  streams by definition). HLS URIs on another origin than the configured upstream go through `/_o/{id}/...`,
  where `id` is an opaque name the gateway keeps for that origin (see Origins).
"""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any
from urllib.parse import urljoin, urlsplit

ORIGIN_PREFIX = "/_o/"
_M3U_URL = re.compile(rb"^(\s*)https?://[^/\s]+", re.IGNORECASE)
_URI_ATTR = re.compile(r'URI="([^"]*)"')


def origin_of(url: str) -> str:
    """`scheme://host:port` with the port always written (so two spellings of one origin compare equal)."""
    parts = urlsplit(url)
    scheme = (parts.scheme or "http").lower()
    port = parts.port or (443 if scheme == "https" else 80)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def public_parts(public_url: str) -> tuple[str, str, str, str]:
    """(host, port, https_port, protocol) for player_api's server_info."""
    parts = urlsplit(public_url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    if scheme == "https":
        return parts.hostname or "", "80", str(port), "https"
    return parts.hostname or "", str(port), "443", "http"


class Origins:
    """Opaque ids for foreign origins (load balancers), bounded; the configured upstream needs none."""

    def __init__(self, limit: int = 1024) -> None:
        self._ids: OrderedDict[str, str] = OrderedDict()  # origin -> id
        self._origins: dict[str, str] = {}  # id -> origin
        self.limit = limit

    def id_for(self, origin: str) -> str:
        oid = self._ids.get(origin)
        if oid is None:
            oid = secrets.token_urlsafe(9)
            self._ids[origin] = oid
            self._origins[oid] = origin
            if len(self._ids) > self.limit:
                _, old_id = self._ids.popitem(last=False)
                self._origins.pop(old_id, None)
        else:
            self._ids.move_to_end(origin)
        return oid

    def origin(self, oid: str) -> str | None:
        return self._origins.get(oid)

    def known(self) -> list[str]:
        return list(self._ids)


class Rewriter:
    def __init__(self, public_url: str, upstream_url: str, hosts: Iterable[str]) -> None:
        self.public = public_url.rstrip("/")
        self.public_bytes = self.public.encode()
        self.upstream_origin = origin_of(upstream_url)
        names = {h.lower() for h in hosts if h} | {urlsplit(upstream_url).hostname or ""}
        names.discard("")
        alternatives = "|".join(re.escape(h) for h in sorted(names, key=len, reverse=True))
        # host followed by an optional port, then a character that cannot continue a host name
        pattern = rf"https?://(?:{alternatives})(?::\d+)?(?![\w.-])"
        self._text = re.compile(pattern, re.IGNORECASE)
        self._bytes = re.compile(pattern.encode(), re.IGNORECASE)

    def text(self, value: str) -> str:
        return self._text.sub(self.public, value)

    def chunk(self, value: bytes) -> bytes:
        return self._bytes.sub(self.public_bytes, value)

    def json(self, value: Any) -> Any:
        """Every string in a decoded JSON document, known hosts rewritten."""
        if isinstance(value, str):
            return self.text(value) if "://" in value else value
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items()}
        return value

    def m3u_line(self, line: bytes) -> bytes:
        """A playlist line: a URL line goes to the gateway whatever its host; a tag line has known hosts rewritten."""
        if line.lstrip().startswith(b"#"):
            return self.chunk(line)
        return _M3U_URL.sub(lambda m: m.group(1) + self.public_bytes, line, count=1)

    def gateway_url(self, absolute: str, origins: Origins) -> str:
        """An upstream URL as the gateway URL that relays it."""
        parts = urlsplit(absolute)
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        origin = origin_of(absolute)
        if origin == self.upstream_origin:
            return self.public + path
        return f"{self.public}{ORIGIN_PREFIX}{origins.id_for(origin)}{path}"

    def hls(self, playlist: str, base_url: str, origins: Origins) -> str:
        """An HLS playlist fetched from `base_url` (after redirects), every URI made a gateway URL."""
        out: list[str] = []
        for line in playlist.splitlines():
            stripped = line.strip()
            if not stripped:
                out.append(line)
            elif stripped.startswith("#"):
                out.append(_URI_ATTR.sub(
                    lambda m: f'URI="{self.gateway_url(urljoin(base_url, m.group(1)), origins)}"', line
                ))  # fmt: skip
            else:
                out.append(self.gateway_url(urljoin(base_url, stripped), origins))
        return "\n".join(out) + "\n"


def split_complete(buffer: bytes, limit: int, marks: tuple[bytes, ...] = (b"\n", b">")) -> tuple[bytes, bytes]:
    """(what can be rewritten now, what to keep for the next chunk): cut after the last mark (newline, `>`),
    which no URL can span. A buffer without one past `limit` bytes is let through as it is."""
    cut = max(buffer.rfind(mark) for mark in marks)
    if cut < 0:
        return (buffer, b"") if len(buffer) > limit else (b"", buffer)
    return buffer[: cut + 1], buffer[cut + 1 :]

"""Cached client-side answers: player_api.php lists and get.php playlists, per line, as sent (after rewriting).

They share the admin cache's backend (memory, or Redis with its memory fallback), TTL rules, generation counters
and `stale_if_error`; the names `player.<action>` and `playlist.<type>` are what `cache.ttl` globs match.

- The key hashes the upstream, `public_url` (it is in the rewritten body), the name, the parameters that shape
  the answer and a hash of username + password: a wrong password never meets another line's entry, and no
  password is part of a key. The stored body has the line's `/username/password/` URL segment replaced by a
  placeholder, put back on a hit (the key guarantees the same credentials); only that segment, so a password
  such as "1" that also occurs elsewhere in the list is never touched.
- Bodies are stored once per content: a line's key holds a small pointer (the body's SHA-256, its headers, when
  it stops being fresh), and the body with the placeholder lives under `cb:<digest>`. A thousand lines on five
  bouquet sets hold five bodies, not a thousand. Storing touches the body (its TTL made to reach at least as far
  as the new pointer's) and writes it only when it is not there; a pointer whose body is gone is a miss.
- Only successes are stored (a JSON list for player_api, a 200 for get.php): a refused line is never cached.
- Any admin write tagged with one of TAGS (line, bouquet, stream, movie, series, station, ...) bumps one of the
  generations every such key includes: the whole upstream's player entries become misses. Coarse (a new line
  empties every line's lists) but safe: the admin API names lines by id, these keys know them by username.
- No single-flight: keys are per line, so concurrent misses for one key are one player's, and rare.
- Not cached: the login payload (no action; it carries live state: active connections, expiry, status),
  get_short_epg / get_simple_data_table (time windows), get_series_info / get_vod_info (one item each, little
  reuse), xmltv.php (large, time-dependent), streams.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from gateway.cache import ResponseCache
from gateway.cache.settings import PLAYER_ACTIONS, PLAYLIST_TYPES
from gateway.config import Config

# every write that can change what a line is offered: its own record, and the content its bouquets hold
TAGS = ("line", "bouquet", "stream", "movie", "series", "episode", "channel", "station", "category", "epg", "system")
# Playlists larger than this are streamed through (as without a cache) and not stored: a body is held whole in
# memory while it is sent (and sent to Redis in one value). One body serves every line with the same content,
# so this is about one list: a 30k-channel m3u_plus is ~10 MB, player_api's own limit is 64 MiB.
MAX_CACHED_BODY = 64 << 20
_PLACEHOLDER = b"/\x00pg-line\x00/\x00pg-secret\x00/"  # NULs: never in JSON nor in a playlist's text
_MAGIC = b"PGC2"  # a pointer to a body (PGC1, the body inline, is no longer read: a miss)
BODY_PREFIX = "cb:"


@dataclass(frozen=True)
class Entry:
    body: bytes  # with the placeholder
    headers: dict[str, str]
    fresh_until: float  # wall clock: replicas share entries


@dataclass
class Lookup:
    """One request's part in the cache: its status (HIT, MISS, BYPASS), and what it needs to store or fall back on."""

    cache: ResponseCache
    name: str
    key: str
    ttl: float
    status: str
    secret: bytes  # the line's `/username/password/` segment
    entry: Entry | None = None  # fresh on a HIT; else possibly stale

    def body(self, entry: Entry) -> bytes:
        return entry.body.replace(_PLACEHOLDER, self.secret)

    def stale(self) -> Entry | None:
        """The entry when it may answer for a failed upstream (`stale_if_error` past its TTL)."""
        entry = self.entry
        if entry is None or time.time() >= entry.fresh_until + self.cache.config.stale_if_error:
            return None
        return entry

    def respond(self, entry: Entry, status: str) -> web.Response:
        self.mark(status)
        return web.Response(body=self.body(entry), headers={**entry.headers, "X-Cache": status})

    def mark(self, status: str) -> None:
        self.status = status
        self.cache.metrics.cache_lookups.labels(self.name, status.lower()).inc()

    async def store(self, body: bytes, headers: Mapping[str, str]) -> None:
        if self.status != "MISS" or len(body) > MAX_CACHED_BODY:
            return
        kept = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "x-cache")}
        ttl = self.cache.fresh_for(self.ttl)
        lives = ttl + self.cache.config.stale_if_error
        shared = body.replace(self.secret, _PLACEHOLDER)
        digest = hashlib.sha256(shared).hexdigest()
        # the body first: a pointer is never written to a body that is not there
        backend = self.cache.backend
        if not await backend.touch(BODY_PREFIX + digest, lives):
            await backend.set(BODY_PREFIX + digest, shared, lives)
        head = json.dumps({"f": time.time() + ttl, "h": kept, "d": digest}, separators=(",", ":")).encode()
        await backend.set(self.key, _MAGIC + head, lives)


def _pointer(raw: bytes) -> tuple[str, dict[str, str], float] | None:
    """(body digest, headers, fresh_until) from a line's key."""
    if not raw.startswith(_MAGIC):
        return None
    try:
        doc = json.loads(raw[len(_MAGIC) :])
        headers = {str(k): str(v) for k, v in doc["h"].items()}
        return str(doc["d"]), headers, float(doc["f"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


async def _entry(cache: ResponseCache, key: str) -> Entry | None:
    raw = await cache.backend.get(key)
    pointer = _pointer(raw) if raw is not None else None
    if pointer is None:
        return None
    digest, headers, fresh_until = pointer
    body = await cache.backend.get(BODY_PREFIX + digest)
    return None if body is None else Entry(body=body, headers=headers, fresh_until=fresh_until)


def name_for(script: str, params: Mapping[str, str]) -> str | None:
    """The cache name of a client-side request (`player.get_live_streams`, `playlist.m3u`), None when uncached."""
    if script == "player_api":
        action = params.get("action", "")
        return f"player.{action}" if action in PLAYER_ACTIONS else None
    kind = params.get("type") or "m3u"
    return f"playlist.{kind}" if script == "get" and kind in PLAYLIST_TYPES else None


async def lookup(cache: ResponseCache | None, config: Config, upstream: str, name: str | None,
                 params: Mapping[str, str]) -> Lookup | None:  # fmt: skip
    """None when nothing is cached for this request (no cache, an uncached name, no credentials)."""
    username, password = params.get("username", ""), params.get("password", "")
    if cache is None or not cache.enabled or name is None or not username or not password:
        return None
    ttl = cache.config.ttl_for(name)
    line = hashlib.sha256(f"{upstream}\x00{username}\x00{password}".encode()).hexdigest()
    secret = f"/{username}/{password}/".encode()
    if ttl <= 0:
        found = Lookup(cache, name, "", ttl, "", secret)
        found.mark("BYPASS")
        return found
    source, generations = await cache.backend.generations(cache.generation_names(upstream, TAGS))
    material = {
        "upstream": upstream,
        "public_url": config.public_url,
        "name": name,
        "line": line,
        "params": {k: v for k, v in sorted(params.items()) if k not in ("username", "password")},
        "generations": [source, *generations],
    }
    text = json.dumps(material, sort_keys=True, separators=(",", ":"))
    key = "c:" + hashlib.sha256(text.encode()).hexdigest()
    entry = await _entry(cache, key)
    found = Lookup(cache, name, key, ttl, "MISS", secret, entry)
    if entry is not None and time.time() < entry.fresh_until:
        found.status = "HIT"
    return found

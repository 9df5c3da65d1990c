"""A viewer's standing on the panel, asked before it joins a connection that its own credentials did not open.

A shared live connection is opened with a provider line's credentials, or with another viewer's (the same line's:
see gateway.clientside.shared_live). The panel then never sees this viewer's own credentials on a stream, so the
gateway asks it what it would have checked: the line's login through `player_api.php` (`user_info.auth`, `status`
"Active", `allowed_output_formats`) and its `max_connections`, which the gateway then enforces on its viewers.
One call per line per `viewer_check_ttl` (concurrent viewers of one line wait for the same call); a refusal is
remembered for a few seconds only, so a renewed line gets in quickly and a wrong password cannot be hammered
through to the panel. Entries are keyed by a digest of the credentials: no password is held.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from gateway.bodyread import TooLarge, read_body

REFUSED_TTL = 5.0
MAX_ENTRIES = 50_000
MAX_LOGIN_BYTES = 1 << 20


@dataclass(frozen=True)
class Standing:
    allowed: bool
    max_connections: int = 0  # 0: the panel sets no limit (or did not say)
    formats: frozenset[str] = frozenset()  # empty: the panel did not say


@dataclass
class ViewerChecks:
    _known: dict[str, tuple[float, Standing]] = field(default_factory=dict)
    _asking: dict[str, asyncio.Future[Standing]] = field(default_factory=dict)

    async def standing(self, session: aiohttp.ClientSession, upstream_url: str, creds: dict[str, str],
                       ttl: float, timeout: float) -> Standing:  # fmt: skip
        """`creds`: `username` and `password`, or `token`. Raises aiohttp/timeout errors when the panel fails."""
        key = hashlib.sha256(repr((upstream_url, sorted(creds.items()))).encode()).hexdigest()
        now = time.monotonic()
        known = self._known.get(key)
        if known is not None and known[0] > now:
            return known[1]
        asking = self._asking.get(key)
        if asking is not None:
            return await asyncio.shield(asking)
        future: asyncio.Future[Standing] = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved: never "never retrieved"
        self._asking[key] = future
        try:
            found = await _ask(session, upstream_url, creds, timeout)
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            self._asking.pop(key, None)
        future.set_result(found)
        if len(self._known) >= MAX_ENTRIES:
            self._sweep(now)
        self._known[key] = (now + (ttl if found.allowed else min(ttl, REFUSED_TTL)), found)
        return found

    def _sweep(self, now: float) -> None:
        for key in [k for k, (until, _) in self._known.items() if until <= now]:
            del self._known[key]
        while len(self._known) >= MAX_ENTRIES:  # all still fresh: the oldest inserted go first
            del self._known[next(iter(self._known))]


async def _ask(session: aiohttp.ClientSession, upstream_url: str, creds: dict[str, str],
               timeout: float) -> Standing:  # fmt: skip
    async with session.get(f"{upstream_url}/player_api.php", params=creds,
                           timeout=aiohttp.ClientTimeout(total=timeout)) as resp:  # fmt: skip
        if resp.status >= 500:
            raise aiohttp.ClientResponseError(resp.request_info, (), status=resp.status)
        try:
            body = await read_body(resp.content, MAX_LOGIN_BYTES, length=resp.content_length)
        except TooLarge:
            return Standing(False)
    doc: Any = None
    with contextlib.suppress(orjson.JSONDecodeError):
        doc = orjson.loads(body)
    info = doc.get("user_info") if isinstance(doc, dict) else None
    if not isinstance(info, dict) or str(info.get("auth")) != "1" or info.get("status") != "Active":
        return Standing(False)
    formats = info.get("allowed_output_formats")
    limit = str(info.get("max_connections") or "0")
    return Standing(
        True,
        max_connections=int(limit) if limit.isdigit() else 0,
        formats=frozenset(str(f) for f in formats) if isinstance(formats, list) else frozenset(),
    )

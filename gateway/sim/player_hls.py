"""Live HLS as XUI-derived panels serve it, for the simulated panel: a sliding window of segments, tokens per viewer.

What XC_VM does (`src/www/stream/live.php`, `CoreUtilities::generateHLS` in `src/includes/streaming.php`,
`src/www/stream/segment.php`), and so what this does:
- `/live/{u}/{p}/{id}.m3u8` answers a 302 to `/auth/{token}`, the token sealing the line, the stream and a fresh
  connection `uuid`: each such request is a new connection on the panel (a `lines_live` row). Players reload the
  URL they were sent to, so one player is one connection.
- `/auth/{token}` is the channel's current playlist: the last `window` segments, the media sequence advancing in
  real time. Every segment URI carries a token of its own sealing `username/password/ip/stream/segment/uuid`
  (`/hls/{token}`), or with `cdn` (XC_VM's `allow_cdn_access`) the segment in the path and the token in the query
  (`/hls/{stream}_{n}.ts?token=`), so a CDN can cache by path.
- `/hls/...` serves a segment only to the IP its token was made for (`restrict_same_ip`), of a connection still
  known, while the segment is on disk: the window and `keep` older ones (the panel deletes the rest). Else 404.
- With media (`player_media.Media`): the ffmpeg-made encrypted segments over and over, a discontinuity at each loop,
  the key behind `/key/{token}` as before. Without: deterministic bytes, `segment_bytes` a segment.

Counted for the tests and the benchmark: `segment_fetches[(stream, n)]`, `playlist_fetches[stream]`, `connections`
(the uuids handed out). Faults: `segment_fault` (`cut`: half the segment then a reset; `silent`: half, then
nothing with the connection open; `http500`), `playlist_fault` (`http500`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from typing import Any

from aiohttp import web

from gateway.sim import xui_tokens
from gateway.sim.player_media import Media

Row = dict[str, Any]
PACKET = 188


class LiveHls:
    def __init__(self, *, segment_seconds: float = 1.0, window: int = 4, keep: int = 3, cdn: bool = False,
                 segment_bytes: int = PACKET * 1000, media: Media | None = None) -> None:  # fmt: skip
        self.media = media
        # with media, its segments' own length (ffmpeg's `-hls_time 1`), else the one given
        self.seconds = sum(media.durations) / len(media.durations) if media is not None else segment_seconds
        self.window, self.keep, self.cdn = window, keep, cdn
        self.segment_bytes = segment_bytes // PACKET * PACKET
        self.started = time.monotonic()
        self.segment_fetches: Counter[tuple[int, int]] = Counter()
        self.playlist_fetches: Counter[int] = Counter()
        self.connections: dict[str, str] = {}  # uuid -> username
        self.segment_fault: str | None = None
        self.playlist_fault: str | None = None
        self.silent = 0  # segment answers hanging now (`segment_fault = "silent"`)
        self.unsilence = asyncio.Event()
        self._uuids = itertools.count(1)

    def newest(self) -> int:
        """The newest segment's number now (the window runs from `window` segments before it)."""
        return self.window - 1 + int((time.monotonic() - self.started) / self.seconds)

    def redirect(self, line: Row, sid: int) -> web.HTTPFound:
        uuid = f"c{next(self._uuids)}"
        self.connections[uuid] = str(line["username"])
        token = xui_tokens.encrypt(f"live/{line['username']}/{line['password']}/{sid}/m3u8/{uuid}")
        return web.HTTPFound(f"/auth/{token}")

    def playlist(self, request: web.Request, line: Row, sid: int, uuid: str) -> web.Response:
        if uuid not in self.connections:
            return web.Response(status=404, text="")
        self.playlist_fetches[sid] += 1
        if self.playlist_fault == "http500":
            return web.Response(status=500, text="")
        newest = self.newest()
        first = newest - self.window + 1
        loop = len(self.media.segments) if self.media is not None else 0
        target = max(1, round(max(self.media.durations) if self.media is not None else self.seconds))
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{target}", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
        if self.media is not None:
            lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{first // loop}")
            key_token = xui_tokens.encrypt(f"{request.remote}/{sid}")
            lines.append(f'#EXT-X-KEY:METHOD=AES-128,URI="/key/{key_token}",IV=0x{self.media.iv.hex()}')
        for n in range(first, newest + 1):
            if loop and n % loop == 0 and n != first:
                lines.append("#EXT-X-DISCONTINUITY")  # the clip starts over: its timestamps too
            seconds = self.media.durations[n % loop] if self.media is not None else self.seconds
            token = xui_tokens.encrypt(f"{line['username']}/{line['password']}/{request.remote}/{sid}/{sid}_{n}.ts/"
                                       f"{uuid}")  # fmt: skip
            lines += [f"#EXTINF:{seconds:.6f},", f"/hls/{sid}_{n}.ts?token={token}" if self.cdn else f"/hls/{token}"]
        return web.Response(text="\n".join(lines) + "\n", content_type="application/vnd.apple.mpegurl")

    async def segment(self, request: web.Request, find_line: Any) -> web.StreamResponse:
        """`/hls/{token}`, or `/hls/{stream}_{n}.ts?token=` with `cdn`. `find_line(username, password)`."""
        fields = (xui_tokens.decrypt(request.query.get("token") or request.match_info["token"]) or "").split("/")
        if len(fields) != 6 or find_line(fields[0], fields[1]) is None or fields[5] not in self.connections:
            return web.Response(status=404, text="")
        sid_text, _, n_text = fields[4].removesuffix(".ts").partition("_")
        if fields[2] != request.remote or not (sid_text.isdigit() and n_text.isdigit()):
            return web.Response(status=404, text="")  # restrict_same_ip: a token used from elsewhere
        sid, n = int(sid_text), int(n_text)
        newest = self.newest()
        if not newest - self.window - self.keep < n <= newest:
            return web.Response(status=404, text="")  # not made yet, or deleted
        self.segment_fetches[(sid, n)] += 1
        if self.segment_fault == "http500":
            return web.Response(status=500, text="")
        body = self.body(sid, n)
        resp = web.StreamResponse(headers={"Content-Type": "video/mp2t", "Content-Length": str(len(body))})
        await resp.prepare(request)
        if self.segment_fault in ("cut", "silent"):
            await resp.write(body[: len(body) // 2])
            if self.segment_fault == "cut" and request.transport is not None:
                request.transport.abort()
                return resp
            await self._hang()
        await resp.write(body)
        await resp.write_eof()
        return resp

    def body(self, sid: int, n: int) -> bytes:
        if self.media is not None:
            return self.media.segments[n % len(self.media.segments)]
        # a TS packet's sync byte every 188 bytes, the rest telling stream and segment apart
        stamp = f"{sid}:{n}:".encode()
        packet = b"\x47" + (stamp * (PACKET // len(stamp) + 1))[: PACKET - 1]
        return packet * (self.segment_bytes // PACKET)

    async def _hang(self) -> None:
        """Silent until `unsilence` is set (aiohttp does not cancel a handler whose client left)."""
        self.silent += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.unsilence.wait(), 60)
        finally:
            self.silent -= 1

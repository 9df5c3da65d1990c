"""The simulated panel's client side: player_api.php, get.php, xmltv.php, streams, HLS and a load balancer.

Mounted on a simulator's app (`PlayerSim(tables).add_routes(app)`), so one server answers both the admin API
and the players, as a real panel does. What the tests need to see from the outside is counted here:
- `open_streams`: byte-serving responses (live, movie, series, timeshift, HLS segments) still running, so a test
  can assert that the gateway released the upstream connection when its client went away;
- `received`: every client-side request path, so a test can assert that nothing reached the panel;
- `lb_hits`: requests served under the load balancer path after a 302.

Stream bytes are deterministic and seekable (`stream_bytes`): byte i of stream s is computed, never stored.
VOD and episodes have a fixed size and honour `Range` (206 + Content-Range); live `.ts` never ends.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from functools import lru_cache
from typing import Any

from aiohttp import web

from gateway.sim import player_data as data

PERIOD = 65521  # a prime: a misplaced offset shows up as different bytes
CHUNK = 64 * 1024
VOD_BASE_SIZE = 20 * 1024 * 1024
TIMESHIFT_SIZE = 4 * 1024 * 1024
SEGMENT_SIZE = 188 * 2000
_SHIFT = [bytes((x + k) & 0xFF for x in range(256)) for k in range(256)]


@lru_cache(maxsize=64)
def _base(sid: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < PERIOD:
        out += hashlib.sha256(f"stream-{sid}-{counter}".encode()).digest()
        counter += 1
    return bytes(out[:PERIOD])


def stream_bytes(sid: int, start: int, end: int) -> bytes:
    """Bytes [start, end) of stream `sid`."""
    base = _base(sid)
    out = bytearray()
    pos = start
    while pos < end:
        block, off = divmod(pos, PERIOD)
        take = min(PERIOD - off, end - pos)
        out += base[off : off + take].translate(_SHIFT[block & 0xFF])
        pos += take
    return bytes(out)


def vod_size(sid: int) -> int:
    return VOD_BASE_SIZE + sid * 1021


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """`bytes=a-b`, `bytes=a-` or `bytes=-n` -> [start, end); None when absent; ValueError when unsatisfiable."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        raise ValueError(header)
    first, _, last = spec.strip().partition("-")
    if first == "":
        start, end = max(0, size - int(last)), size
    else:
        start = int(first)
        end = min(size, int(last) + 1) if last else size
    if start >= size or start >= end:
        raise ValueError(header)
    return start, end


class PlayerSim:
    def __init__(self, tables: data.Tables, *, redirect: bool = False, lb_host: str | None = None,
                 xmltv_repeat: int = 1) -> None:  # fmt: skip
        self.tables = tables
        self.redirect = redirect  # answer stream requests with a 302 to the load balancer path
        self.lb_host = lb_host  # the host name the 302 points to (e.g. "localhost" for a second origin)
        self.xmltv_repeat = xmltv_repeat
        self.hls_segments = 3  # segments in a channel's .m3u8
        self.hls_endlist = False  # end it with #EXT-X-ENDLIST (a finished event, as for VOD)
        self.open_streams = 0
        self.peak_streams = 0
        self.open_by_line: Counter[str] = Counter()
        self.received: list[str] = []
        self.lb_hits = 0
        self.user_agents: list[str] = []

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("GET", "/player_api.php", self.player_api)
        app.router.add_route("POST", "/player_api.php", self.player_api)
        app.router.add_get("/get.php", self.get_php)
        app.router.add_get("/xmltv.php", self.xmltv)
        app.router.add_get("/images/{tail:.+}", self.image)
        app.router.add_get("/hls/{token}/{file}", self.segment)
        app.router.add_get("/lb/{server}/{tail:.+}", self.load_balancer)
        for kind in ("live", "movie", "series"):
            app.router.add_get(f"/{kind}/{{u}}/{{p}}/{{file}}", self.stream)
        app.router.add_get("/timeshift/{u}/{p}/{duration}/{start}/{file}", self.stream)
        app.router.add_get(r"/{u}/{p}/{file:\d+\.\w+}", self.stream)

    def app(self) -> web.Application:
        app = web.Application()
        self.add_routes(app)
        return app

    # --- player API and lists ---------------------------------------------------------------------------------

    def _note(self, request: web.Request) -> None:
        self.received.append(request.path)
        self.user_agents.append(request.headers.get("User-Agent", ""))

    @staticmethod
    def _origin(request: web.Request) -> tuple[str, str, int]:
        host = request.url.host or "127.0.0.1"
        port = request.url.port or 80
        return f"http://{host}:{port}", host, port

    async def player_api(self, request: web.Request) -> web.Response:
        self._note(request)
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST":
            params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        line = data.find_line(self.tables, params.get("username"), params.get("password"))
        if line is None:
            return web.json_response({"user_info": {"auth": 0}})
        origin, host, port = self._origin(request)
        action = params.get("action", "")
        category = params.get("category_id") or None
        answer: Any
        if action == "get_live_categories":
            answer = data.categories(self.tables, "live")
        elif action == "get_vod_categories":
            answer = data.categories(self.tables, "movie")
        elif action == "get_series_categories":
            answer = data.categories(self.tables, "series")
        elif action == "get_live_streams":
            answer = data.live_streams(self.tables, line, category)
        elif action == "get_vod_streams":
            answer = data.vod_streams(self.tables, line, category)
        elif action == "get_series":
            answer = data.series_list(self.tables, line, category)
        elif action == "get_series_info":
            answer = data.series_info(self.tables, origin, params.get("series_id"))
        elif action == "get_vod_info":
            answer = data.vod_info(self.tables, origin, params.get("vod_id"))
        elif action in ("get_short_epg", "get_simple_data_table"):
            limit = str(params.get("limit", ""))
            answer = data.epg(self.tables, params.get("stream_id"), int(limit) if limit.isdigit() else None,
                              full=action == "get_simple_data_table")  # fmt: skip
        else:
            answer = data.login_payload(line, host, port, self.open_by_line[line["username"]])
        body = json.dumps(answer).replace("/", "\\/")  # PHP's json_encode escapes slashes
        return web.Response(text=body, content_type="application/json", headers={"Server": "nginx"})

    async def get_php(self, request: web.Request) -> web.StreamResponse:
        self._note(request)
        line = data.find_line(self.tables, request.query.get("username"), request.query.get("password"))
        if line is None:
            return web.Response(status=401, text="")
        origin = self._origin(request)[0]
        plus = request.query.get("type", "m3u") == "m3u_plus"
        resp = web.StreamResponse(headers={"Content-Type": "audio/x-mpegurl",
                                           "Content-Disposition": 'attachment; filename="playlist.m3u"'})  # fmt: skip
        await resp.prepare(request)
        for text in data.m3u_lines(self.tables, line, origin, plus, request.query.get("output", "ts")):
            await resp.write(text.encode() + b"\n")
        await resp.write_eof()
        return resp

    async def xmltv(self, request: web.Request) -> web.StreamResponse:
        self._note(request)
        if data.find_line(self.tables, request.query.get("username"), request.query.get("password")) is None:
            return web.Response(status=401, text="")
        resp = web.StreamResponse(headers={"Content-Type": "application/xml; charset=utf-8"})
        await resp.prepare(request)
        for text in data.xmltv_chunks(self.tables, self._origin(request)[0], self.xmltv_repeat):
            await resp.write(text.encode())
        await resp.write_eof()
        return resp

    async def image(self, request: web.Request) -> web.Response:
        self._note(request)
        seed = int(hashlib.sha256(request.path.encode()).hexdigest()[:6], 16)
        return web.Response(body=b"\x89PNG\r\n\x1a\n" + stream_bytes(seed, 0, 256), content_type="image/png")

    # --- streams ----------------------------------------------------------------------------------------------

    async def load_balancer(self, request: web.Request) -> web.StreamResponse:
        self.lb_hits += 1
        return await self._serve(request, "/" + request.match_info["tail"])

    async def stream(self, request: web.Request) -> web.StreamResponse:
        if self.redirect:
            self._note(request)
            host = f"{self.lb_host}:{request.url.port}" if self.lb_host else request.host
            raise web.HTTPFound(f"http://{host}/lb/s2{request.path_qs}")
        return await self._serve(request, request.path)

    async def _serve(self, request: web.Request, path: str) -> web.StreamResponse:
        self._note(request)
        parts = path.strip("/").split("/")
        kind = parts[0] if parts[0] in ("live", "movie", "series", "timeshift") else "live"
        user, password = (parts[1], parts[2]) if kind != "live" or parts[0] == "live" else (parts[0], parts[1])
        line = data.find_line(self.tables, user, password)
        stem, _, ext = parts[-1].partition(".")
        if line is None or not stem.isdigit():
            return web.Response(status=403, text="")
        sid = int(stem)
        if ext == "m3u8":
            return self._playlist(request, line, sid)
        if kind in ("movie", "series"):
            return await self._ranged(request, sid, vod_size(sid), line["username"])
        if kind == "timeshift":
            return await self._ranged(request, sid + 100_000, TIMESHIFT_SIZE, line["username"])
        return await self._endless(request, sid, line["username"])

    def _playlist(self, request: web.Request, line: data.Row, sid: int) -> web.Response:
        token = hashlib.sha256(f"{line['username']}:{sid}".encode()).hexdigest()[:16]
        origin = f"http://{request.host}"
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:10", "#EXT-X-MEDIA-SEQUENCE:100"]
        for n in range(100, 100 + self.hls_segments):
            # absolute URLs on the panel's host and root-relative ones: players meet both
            uri = f"{origin}/hls/{token}/{sid}_{n}.ts" if n % 2 == 0 else f"/hls/{token}/{sid}_{n}.ts"
            lines += ["#EXTINF:10.0,", uri]
        if self.hls_endlist:
            lines.append("#EXT-X-ENDLIST")
        return web.Response(text="\n".join(lines) + "\n", content_type="application/vnd.apple.mpegurl")

    async def segment(self, request: web.Request) -> web.StreamResponse:
        self._note(request)
        stem = request.match_info["file"].partition(".")[0]
        sid_text, _, n_text = stem.partition("_")
        if not (sid_text.isdigit() and n_text.isdigit()):
            return web.Response(status=404, text="")
        return await self._ranged(request, int(sid_text) * 1000 + int(n_text), SEGMENT_SIZE, "hls", "video/mp2t")

    def _opened(self, who: str) -> None:
        self.open_streams += 1
        self.open_by_line[who] += 1
        self.peak_streams = max(self.peak_streams, self.open_streams)

    def _closed(self, who: str) -> None:
        self.open_streams -= 1
        self.open_by_line[who] -= 1

    async def _ranged(self, request: web.Request, sid: int, size: int, who: str,
                      content_type: str = "video/mp4") -> web.StreamResponse:  # fmt: skip
        try:
            wanted = parse_range(request.headers.get("Range"), size)
        except ValueError:
            return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
        start, end = wanted or (0, size)
        headers = {"Content-Type": content_type, "Accept-Ranges": "bytes", "Content-Length": str(end - start),
                   "Server": "nginx"}  # fmt: skip
        if wanted is not None:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        resp = web.StreamResponse(status=206 if wanted else 200, headers=headers)
        self._opened(who)
        try:
            await resp.prepare(request)
            for pos in range(start, end, CHUNK):
                await resp.write(stream_bytes(sid, pos, min(end, pos + CHUNK)))
            await resp.write_eof()
        finally:
            self._closed(who)
        return resp

    async def _endless(self, request: web.Request, sid: int, who: str) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "video/mp2t", "Server": "nginx"})
        self._opened(who)
        try:
            await resp.prepare(request)
            pos = 0
            while True:  # a live channel: ends when the viewer (the gateway) goes away
                await resp.write(stream_bytes(sid, pos, pos + CHUNK))
                pos += CHUNK
        finally:
            self._closed(who)

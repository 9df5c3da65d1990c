"""The simulated panel's client side: player_api.php, get.php, xmltv.php, streams, HLS and a load balancer.

Routes as XC_VM's nginx maps them (`src/bin/nginx/conf/nginx.conf`): username/password and token forms of
`/live|movie|series|timeshift|thumb/`, `/play/{token}`, `/key/{token}` (AES-128 HLS keys), extension-less live
URLs; the path aliases and `/streaming/*.php` are in `player_aliases`, the MAG portal in `stalker`.

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

import asyncio
import gzip
import hashlib
import json
from collections import Counter
from functools import lru_cache, partial
from typing import Any

from aiohttp import web

from gateway.sim import player_data as data
from gateway.sim import player_live, xui_tokens
from gateway.sim.player_aliases import add_alias_routes
from gateway.sim.player_hls import LiveHls
from gateway.sim.player_media import Media
from gateway.sim.stalker import StalkerPortal

PERIOD = 65521  # a prime: a misplaced offset shows up as different bytes
CHUNK = 64 * 1024
VOD_BASE_SIZE = 20 * 1024 * 1024
TIMESHIFT_SIZE = 4 * 1024 * 1024
SEGMENT_SIZE = 188 * 2000
KINDS = ("live", "movie", "series", "timeshift", "thumb", "subtitle")
# what XC_VM's generate404() (src/www/stream/init.php) answers a refused line with, status 404
NOT_FOUND_PAGE = ("<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1>"
                  "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
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
        self.live_hls: LiveHls | None = None  # live HLS as XC_VM serves it (player_hls): 302, sliding window, tokens
        self.open_streams = 0
        self.peak_streams = 0
        self.open_by_line: Counter[str] = Counter()
        self.received: list[str] = []
        self.lb_hits = 0
        self.user_agents: list[str] = []
        self.queries: list[dict[str, str]] = []  # beside `received`: each request's query
        self.media: Media | None = None  # real media (ffmpeg-made): live loops it, HLS is AES-128 encrypted
        self.live_rate: float | None = None  # bytes a second of a live channel (None: as fast as it is read)
        # refuse a line's stream past its `max_connections` open ones (403), as the panel's stream auth does
        self.enforce_max_connections = False
        self.refused_over_limit = 0
        self.live_sending: set[asyncio.BaseTransport] = set()  # live channels being sent (`kill_live` resets them)
        # XUI's setting: lists, EPG and server_info name the server's `domain_name`, not the host the client used
        self.use_mdomain_in_lists = False
        self.portal = StalkerPortal(self)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("GET", "/player_api.php", self.player_api)
        app.router.add_route("POST", "/player_api.php", self.player_api)
        app.router.add_get("/get.php", self.get_php)
        app.router.add_get("/xmltv.php", self.xmltv)
        app.router.add_get("/images/{tail:.+}", self.image)
        app.router.add_get("/hls/{token}/{file}", self.segment)
        app.router.add_get("/hls/{token}", self.live_segment)
        app.router.add_get("/key/{token}", self.key)
        app.router.add_get("/auth/{token}", self.streaming_server)
        app.router.add_get("/play/{token}", self.play)
        app.router.add_get("/play/{token}/{ext}", self.play)
        app.router.add_get("/lb/{server}/{tail:.+}", self.load_balancer)
        add_alias_routes(self, app)
        self.portal.add_routes(app)
        for kind in ("live", "movie", "series"):
            app.router.add_get(f"/{kind}/{{u}}/{{p}}/{{file}}", self.stream)
            app.router.add_get(f"/{kind}/{{token}}/{{file}}", self.stream)
        app.router.add_get("/timeshift/{u}/{p}/{duration}/{start}/{file}", self.stream)
        app.router.add_get("/timeshift/{token}/{duration}/{start}/{file}", self.stream)
        app.router.add_get("/thumb/{u}/{p}/{file}", self.stream)
        app.router.add_get("/thumb/{token}/{file}", self.stream)
        app.router.add_get("/subtitle/{u}/{p}/{sid}/{file}", self.stream)
        app.router.add_get("/subtitle/{u}/{p}/{file}", self.stream)
        app.router.add_get(r"/{u}/{p}/{file:\d+(?:\.\w+)?}", self.stream)

    def app(self) -> web.Application:
        app = web.Application()
        self.add_routes(app)
        return app

    # --- player API and lists ---------------------------------------------------------------------------------

    def note(self, request: web.Request) -> None:
        self.received.append(request.path)
        self.queries.append(dict(request.query))
        self.user_agents.append(request.headers.get("User-Agent", ""))

    def _origin(self, request: web.Request) -> tuple[str, str, int]:
        """The panel's own `http://host:port` as its lists write it (XUI's `getDomainName`): the host the client
        asked for, or with `use_mdomain_in_lists` the main server's first `domain_name`."""
        host = request.url.host or "127.0.0.1"
        port = request.url.port or 80
        if self.use_mdomain_in_lists:
            host = str(self.tables["servers"][1]["domain_name"]).split(",")[0].strip() or host
        return f"http://{host}:{port}", host, port

    def line_of(self, params: Any) -> data.Row | None:
        """username + password, else an access `token` (player_api.php, get.php, xmltv.php, stream/auth.php)."""
        if params.get("username") is not None or params.get("password") is not None:
            return data.find_line(self.tables, params.get("username"), params.get("password"))
        return data.find_line_by_token(self.tables, params.get("token"))

    async def player_api(self, request: web.Request, extra: dict[str, str] | None = None) -> web.Response:
        self.note(request)
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST":
            params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        params.update(extra or {})
        line = self.line_of(params)
        if line is None:  # XC_VM: generateError('INVALID_CREDENTIALS') -> generate404(), nginx's page, status 404
            return web.Response(status=404, text=NOT_FOUND_PAGE, content_type="text/html")
        origin, host, port = self._origin(request)
        action = data.ACTION_NUMBERS.get(params.get("action", ""), params.get("action", ""))
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
        elif action == "get_epg" and params.get("stream_id"):
            answer = data.epg_rows(self.tables, str(params["stream_id"]), "multi" in params)
        elif action in ("get_short_epg", "get_simple_data_table"):
            limit = str(params.get("limit", ""))
            answer = data.epg(self.tables, params.get("stream_id"), int(limit) if limit.isdigit() else None,
                              full=action == "get_simple_data_table")  # fmt: skip
        else:
            answer = data.login_payload(line, host, port, self.open_by_line[line["username"]])
        body = json.dumps(answer).replace("/", "\\/")  # PHP's json_encode escapes slashes
        return web.Response(text=body, content_type="application/json", headers={"Server": "nginx"})

    async def get_php(self, request: web.Request, extra: dict[str, str] | None = None) -> web.StreamResponse:
        self.note(request)
        params = {**request.query, **(extra or {})}
        line = self.line_of(params)
        if line is None:
            return web.Response(status=401, text="")
        origin = self._origin(request)[0]
        plus = params.get("type", "m3u") == "m3u_plus"
        # `key`: the stream types wanted (`live,movie`); `nocache`: regenerate (the simulator never caches)
        kinds = frozenset(params["key"].split(",")) if params.get("key") else None
        resp = web.StreamResponse(headers={"Content-Type": "audio/x-mpegurl",
                                           "Content-Disposition": 'attachment; filename="playlist.m3u"'})  # fmt: skip
        await resp.prepare(request)
        if params.get("type") in data.E2_DEVICES:
            lines = data.m3u_lines(self.tables, line, origin, False, params.get("output", "ts"), kinds)
            for text in data.e2_bouquet(lines, params["type"]):
                await resp.write(text.encode())
            await resp.write_eof()
            return resp
        for text in data.m3u_lines(self.tables, line, origin, plus, params.get("output", "ts"), kinds):
            # XC_VM ends tag lines with LF and URL lines with CRLF (measured): rewriting must keep both
            await resp.write(text.encode() + (b"\n" if text.startswith("#") else b"\r\n"))
        await resp.write_eof()
        return resp

    async def xmltv(self, request: web.Request, extra: dict[str, str] | None = None) -> web.StreamResponse:
        self.note(request)
        params = {**request.query, **(extra or {})}
        if self.line_of(params) is None:
            return web.Response(status=401, text="")
        chunks = data.xmltv_chunks(self.tables, self._origin(request)[0], self.xmltv_repeat)
        if params.get("gzip") == "1":  # epg.php serves its stored `epg.xml.gz` as a download
            body = gzip.compress("".join(chunks).encode())
            return web.Response(body=body, headers={"Content-Type": "application/octet-stream",
                                                    "Content-Disposition": 'attachment; filename="epg.xml.gz"'})
        resp = web.StreamResponse(headers={"Content-Type": "application/xml; charset=utf-8"})
        await resp.prepare(request)
        for text in chunks:
            await resp.write(text.encode())
        await resp.write_eof()
        return resp

    async def image(self, request: web.Request) -> web.Response:
        self.note(request)
        seed = int(hashlib.sha256(request.path.encode()).hexdigest()[:6], 16)
        return web.Response(body=b"\x89PNG\r\n\x1a\n" + stream_bytes(seed, 0, 256), content_type="image/png")

    # --- streams ----------------------------------------------------------------------------------------------

    async def load_balancer(self, request: web.Request) -> web.StreamResponse:
        self.lb_hits += 1
        return await self._serve(request, "/" + request.match_info["tail"])

    async def stream(self, request: web.Request) -> web.StreamResponse:
        if self.redirect:
            self.note(request)
            host = f"{self.lb_host}:{request.url.port}" if self.lb_host else request.host
            raise web.HTTPFound(f"http://{host}/lb/s2{request.path_qs}")
        return await self._serve(request, request.path)

    async def _serve(self, request: web.Request, path: str) -> web.StreamResponse:
        self.note(request)
        parts = path.strip("/").split("/")
        kind = parts[0] if parts[0] in KINDS else "live"
        rest = parts[1:] if parts[0] in KINDS else parts
        # the credentials: `u/p` or a 32-hex access token, before the file (and timeshift's duration/start,
        # subtitle's sid), as nginx's rewrites to stream/auth.php cut them
        creds = rest[:-3] if kind == "timeshift" else rest[:2] if kind == "subtitle" else rest[:-1]
        if len(creds) == 2:
            line = data.find_line(self.tables, creds[0], creds[1])
        else:
            line = data.find_line_by_token(self.tables, creds[0]) if len(creds) == 1 else None
        stem, _, ext = rest[-1].partition(".")
        if line is None or not stem.isdigit():
            return web.Response(status=403, text="")
        if "utc" in request.query:  # nginx hands the query on to stream/auth.php, where `utc` means catch-up
            kind = "timeshift"
        return await self.deliver(request, kind, line, int(stem), ext or "ts")

    async def deliver(self, request: web.Request, kind: str, line: data.Row, sid: int,
                      ext: str) -> web.StreamResponse:  # fmt: skip
        """What stream/auth.php ends up serving for a line that passed, by type and extension."""
        who = line["username"]
        if kind == "thumb":
            return web.Response(body=b"\xff\xd8\xff\xe0" + stream_bytes(sid, 0, 512), content_type="image/jpeg")
        if kind == "subtitle":
            return web.Response(text=f"WEBVTT\n\n00:00.000 --> 00:02.000\nSubtitle of {sid}\n",
                                content_type="text/vtt")  # fmt: skip
        if ext != "m3u8" and kind in ("live", "movie", "series", "timeshift") and self.over_limit(line):
            return web.Response(status=403, text="")
        if ext == "m3u8" and kind == "live" and self.live_hls is not None:
            raise self.live_hls.redirect(line, sid)
        if ext == "m3u8" and kind == "live" and self.media is not None:
            # auth.php sends HLS players to the streaming server's live.php, under a token of its own
            token = xui_tokens.encrypt(f"live/{line['username']}/{line['password']}/{sid}/m3u8")
            raise web.HTTPFound(f"/auth/{token}")
        if ext == "m3u8":
            return self._playlist(request, line, sid)
        if kind in ("movie", "series"):
            return await self._ranged(request, sid, vod_size(sid), who)
        if kind == "timeshift":
            clip = self.media.clip if self.media is not None else None
            size = len(clip) if clip is not None else TIMESHIFT_SIZE
            return await self._ranged(request, sid + 100_000, size, who, "video/mp2t", clip)
        return await self._endless(request, sid, who)

    async def play(self, request: web.Request) -> web.StreamResponse:
        self.note(request)
        return await self.play_token(request, request.match_info["token"], request.match_info.get("ext", "ts"))

    async def play_token(self, request: web.Request, token: str, ext: str) -> web.StreamResponse:
        """An encrypted token (`/play/{token}[/{ext}]`, `stream/auth.php?token=`): `type/username/password/stream
        [/ext[/mag-token]]`, `ministra::live/...` for MAG links, `timeshift/u/p/duration/start/stream[/mag-token]`."""
        text = xui_tokens.decrypt(token)
        fields = text.split("/") if text else [""]
        _, mag, kind = fields[0].rpartition("::")
        if len(fields) < 4 or kind not in KINDS:
            return web.Response(status=403, text="")
        line = data.find_line(self.tables, fields[1], fields[2])
        if kind == "timeshift":
            sid_text, ext, mag_token = fields[5] if len(fields) > 5 else "", "ts", fields[6:7]
        else:
            sid_text, ext, mag_token = fields[3], fields[4] if len(fields) > 4 else ext, fields[5:6]
        if line is None or not sid_text.isdigit():
            return web.Response(status=403, text="")
        if mag and (not mag_token or mag_token[0] != self.portal.device_token(line)):
            return web.Response(status=403, text="")  # a MAG link is bound to the device's current session
        return await self.deliver(request, kind, line, int(sid_text), ext)

    async def streaming_server(self, request: web.Request) -> web.StreamResponse:
        """`/auth/{token}` (live.php on a streaming server, here the same host): the stream auth.php sent to."""
        self.note(request)
        fields = (xui_tokens.decrypt(request.match_info["token"]) or "").split("/")
        line = data.find_line(self.tables, fields[1], fields[2]) if len(fields) >= 4 else None
        if line is None or fields[0] != "live" or not fields[3].isdigit():
            return web.Response(status=403, text="")
        if fields[4:5] == ["m3u8"] and self.live_hls is not None:
            return self.live_hls.playlist(request, line, int(fields[3]), fields[5] if len(fields) > 5 else "")
        if fields[4:5] == ["m3u8"]:
            return self._playlist(request, line, int(fields[3]))
        if self.over_limit(line):
            return web.Response(status=403, text="")
        return await self._endless(request, int(fields[3]), line["username"])

    def _playlist(self, request: web.Request, line: data.Row, sid: int) -> web.Response:
        if self.media is not None:
            return self._encrypted_playlist(request, line, sid, self.media)
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

    def _encrypted_playlist(self, request: web.Request, line: data.Row, sid: int, media: Media) -> web.Response:
        """As XC_VM's `generateHLS` with `encrypt_hls`: the key behind a relative `/key/{token}` URI, the token
        sealing the client's IP and the stream (key.php checks the IP), segments under relative `/hls/` URIs."""
        key_token = xui_tokens.encrypt(f"{request.remote}/{sid}")
        token = hashlib.sha256(f"{line['username']}:{sid}".encode()).hexdigest()[:16]
        target = max(1, round(max(media.durations, default=1)))
        lines = ["#EXTM3U", f'#EXT-X-KEY:METHOD=AES-128,URI="/key/{key_token}",IV=0x{media.iv.hex()}',
                 "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{target}", "#EXT-X-MEDIA-SEQUENCE:0"]  # fmt: skip
        for n, seconds in enumerate(media.durations):
            lines += [f"#EXTINF:{seconds:.6f},", f"/hls/{token}/{sid}_{n}.ts"]
        lines.append("#EXT-X-ENDLIST")  # a finished programme: players read it once, no reloads to wait for
        return web.Response(text="\n".join(lines) + "\n", content_type="application/vnd.apple.mpegurl")

    async def key(self, request: web.Request) -> web.Response:
        """key.php: the stream's 16-byte key when the token's IP is the caller's (`restrict_same_ip`)."""
        self.note(request)
        text = xui_tokens.decrypt(request.match_info["token"]) or ""
        ip, _, sid = text.partition("/")
        media = self.live_hls.media if self.live_hls is not None and self.live_hls.media else self.media
        if media is None or ip != request.remote or not sid.isdigit():
            return web.Response(status=404, text="")
        return web.Response(body=media.key, content_type="application/octet-stream")

    async def segment(self, request: web.Request) -> web.StreamResponse:
        self.note(request)
        stem = request.match_info["file"].partition(".")[0]
        sid_text, _, n_text = stem.partition("_")
        if not (sid_text.isdigit() and n_text.isdigit()):
            return web.Response(status=404, text="")
        if self.media is not None:
            chunk = self.media.segments[int(n_text) % len(self.media.segments)]
            return await self._ranged(request, 0, len(chunk), "hls", "video/mp2t", chunk)
        return await self._ranged(request, int(sid_text) * 1000 + int(n_text), SEGMENT_SIZE, "hls", "video/mp2t")

    async def live_segment(self, request: web.Request) -> web.StreamResponse:
        """`/hls/{token}` (segment.php): a live HLS segment, when `live_hls` is on."""
        self.note(request)
        if self.live_hls is None:
            return web.Response(status=404, text="")
        return await self.live_hls.segment(request, partial(data.find_line, self.tables))

    def over_limit(self, line: data.Row) -> bool:
        limit = int(line.get("max_connections") or 0)
        over = self.enforce_max_connections and limit > 0 and self.open_by_line[line["username"]] >= limit
        self.refused_over_limit += over
        return over

    def _opened(self, who: str) -> None:
        self.open_streams += 1
        self.open_by_line[who] += 1
        self.peak_streams = max(self.peak_streams, self.open_streams)

    def _closed(self, who: str) -> None:
        self.open_streams -= 1
        self.open_by_line[who] -= 1

    async def _ranged(self, request: web.Request, sid: int, size: int, who: str, content_type: str = "video/mp4",
                      body: bytes | None = None) -> web.StreamResponse:  # fmt: skip
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
                stop = min(end, pos + CHUNK)
                await resp.write(body[pos:stop] if body is not None else stream_bytes(sid, pos, stop))
            await resp.write_eof()
        finally:
            self._closed(who)
        return resp

    async def _endless(self, request: web.Request, sid: int, who: str) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "video/mp2t", "Server": "nginx"})
        # with media, the clip over and over: a player sees a real channel
        source = player_live.looped(self.media.clip) if self.media is not None else partial(stream_bytes, sid)
        transport = request.transport
        self._opened(who)
        try:
            if transport is not None:
                self.live_sending.add(transport)
            await resp.prepare(request)
            await player_live.send(resp, source, self.live_rate)  # ends when the viewer (the gateway) goes away
        finally:
            self.live_sending.discard(transport)
            self._closed(who)
        return resp

    def kill_live(self) -> None:
        """The panel's streaming processes die: every live connection is reset mid-stream."""
        for transport in list(self.live_sending):
            if isinstance(transport, asyncio.Transport):
                transport.abort()

"""`/player_api.php` (GET and POST): the line's own credentials passed to the panel, the answer rewritten.

Also as the panel's aliases: `/panel_api.php` and `/player_api/{username}/{password}[/{action}]`, sent to the
panel as `player_api.php` (XC_VM's nginx rewrites them to that script; every panel has it). A line may log in with
its access `token` instead of username and password, as XUI's player_api.php accepts.

Only the parameters the actions use are forwarded; an unknown or missing action is sent without one, so the panel
answers with the login payload (what players expect). Bad credentials, or a panel that refuses the line, give
`{"user_info":{"auth":0}}`. `server_info` is the gateway's (`public_url`), and every URL on a known upstream host
becomes a gateway URL.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import aiohttp
from aiohttp import web

from gateway import jsonio
from gateway.bodyread import TooLarge, read_body
from gateway.cache import ResponseCache
from gateway.clientside import cached
from gateway.clientside.playlist import DOCUMENT_CHUNK, Kept, next_piece
from gateway.clientside.refusal import Refusal
from gateway.clientside.relay import end_broken, forward_headers, stream_timeout
from gateway.clientside.rewrite import Rewriter, public_parts
from gateway.clientside.runtime import ClientSideRuntime, upstream_of
from gateway.config import Config
from gateway.model import Reason
from gateway.transport_errors import TRANSPORT_ERRORS

log = logging.getLogger("panelgate.clientside")

ACTIONS = frozenset({
    "get_live_categories", "get_vod_categories", "get_series_categories", "get_live_streams", "get_vod_streams",
    "get_series", "get_series_info", "get_vod_info", "get_short_epg", "get_simple_data_table", "get_epg",
    # XC_VM's player_api.php takes them by number too (`$rValidActions`: 200 get_vod_categories ... 209)
    *(str(n) for n in range(200, 210)),
})  # fmt: skip
PARAMS = ("category_id", "series_id", "vod_id", "stream_id", "limit", "from_now", "multi")  # get_epg: the last two
MAX_ANSWER_BYTES = 64 << 20  # a large panel's get_live_streams is tens of megabytes
AUTH_FAILED: dict[str, Any] = {"user_info": {"auth": 0}}
# marks an answer whose line the panel refused (gateway.clientside.routes charges the address)
REFUSED_BY_PANEL: web.ResponseKey[bool] = web.ResponseKey("login_refused", bool)
_LIST_END = re.compile(rb"[\s\[\]{},:0-9eE.+\-truefalsn]*")


async def params_of(request: web.Request) -> dict[str, str]:
    params = {k: v for k, v in request.query.items()}
    if request.method == "POST" and request.content_type in ("application/x-www-form-urlencoded",
                                                               "multipart/form-data"):  # fmt: skip
        try:
            form = await request.post()  # the whole body (aiohttp reads it to its end, up to client_max_size)
        except web.HTTPRequestEntityTooLarge:
            raise Refusal(413, Reason.TOO_LARGE) from None
        except (web.RequestPayloadError, ConnectionResetError, ValueError):  # cut short, or malformed
            raise Refusal(400, Reason.BAD_REQUEST) from None
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def upstream_params(params: dict[str, str]) -> dict[str, str] | None:
    """What is sent to the panel, or None when the request has no credentials at all."""
    username, password = params.get("username", ""), params.get("password", "")
    if username and password:
        out = {"username": username, "password": password}
    elif params.get("token") and "username" not in params and "password" not in params:
        out = {"token": params["token"]}
    else:
        return None
    action = params.get("action", "")
    if action in ACTIONS:
        out["action"] = action
        # `multi` counts when present, even empty (`&multi`): the panel asks isset()
        out.update({k: params[k] for k in PARAMS if params.get(k) or (k == "multi" and k in params)})
    return out


def refused_by_panel() -> web.Response:
    """The answer to a login the panel refused (a wrong password, or a line that may not watch), marked so that
    the client's address is charged a failed authentication."""
    response = web.json_response(AUTH_FAILED)
    response[REFUSED_BY_PANEL] = True
    return response


def rewrite_login(answer: dict[str, Any], config: Config, runtime: ClientSideRuntime) -> dict[str, Any]:
    info = answer.get("server_info")
    if isinstance(info, dict):
        reported = info.get("url")
        if isinstance(reported, str):
            runtime.learn_host(reported.split("://")[-1].split(":")[0].split("/")[0], config)
        host, port, https_port, protocol = public_parts(config.public_url)
        # rtmp is not relayed: its port names nothing of the gateway's, and the panel's must not leak
        answer["server_info"] = {**info, "url": host, "port": port, "https_port": https_port,
                                 "server_protocol": protocol, "rtmp_port": "0"}  # fmt: skip
    return answer


def decode(raw: bytes) -> Any:
    try:
        return jsonio.loads(raw)
    except ValueError:
        raise Refusal(502, Reason.UPSTREAM_ERROR) from None


async def _open(runtime: ClientSideRuntime, config: Config, request: web.Request,
                query: dict[str, str]) -> aiohttp.ClientResponse | None:  # fmt: skip
    """The panel's answer, its head read; None when it refused the line."""
    cs = config.client_side
    headers = forward_headers(request)
    headers.pop("Range", None)
    headers.pop("Accept-Encoding", None)  # JSON may come compressed; the session decompresses it
    upstream = await runtime.session().get(f"{upstream_of(config).url}/player_api.php", params=query,
                                           headers=headers, timeout=stream_timeout(cs))  # fmt: skip
    # XUI and XC_VM refuse a line (wrong password, expired, banned, disabled) with generate404(): a 404 and
    # nginx's page. Players read `{"user_info":{"auth":0}}` as "check your login"; a 502 as "server down".
    if upstream.status in (401, 403, 404):
        upstream.release()
        return None
    if upstream.status >= 400:
        upstream.release()
        raise Refusal(502, Reason.UPSTREAM_STATUS)
    return upstream


async def _start(upstream: aiohttp.ClientResponse) -> bytes:
    """The answer's first bytes: up to and including its first that is not white space (b"" for an empty one)."""
    head = b""
    while not head.strip():
        piece = await upstream.content.read(DOCUMENT_CHUNK)
        if not piece:
            return head
        head += piece
        if len(head) > MAX_ANSWER_BYTES:
            raise TooLarge(MAX_ANSWER_BYTES)
    return head


async def _stream_list(request: web.Request, upstream: aiohttp.ClientResponse, head: bytes, rewriter: Rewriter,
                       found: cached.Lookup | None) -> web.StreamResponse:  # fmt: skip
    """A list (get_live_streams: tens of megabytes), rewritten and sent in pieces as the panel sends it, never held
    whole (unless to store it). Each piece is cut right after a `"`, which no URL or escape spans
    (gateway.clientside.jsontext). A list is what it looks like from its first byte (`[`) and its last (`]`), with
    nothing but brackets, numbers and literals after its last `"`: one that does not end so (ended early, in a
    string or a URL), breaks off, or grows past MAX_ANSWER_BYTES ends the player's answer as it stands (Broken),
    its unfinished tail unsent, and nothing is stored."""
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if found is not None:
        headers["X-Cache"] = found.status
        if found.status == "MISS":
            found.mark("MISS")
    kept = Kept(found is not None and found.status == "MISS")
    resp = web.StreamResponse(headers=headers)
    await resp.prepare(request)
    waiting: list[bytes] = []  # the text since the last `"`, in its pieces (joined once a `"` comes)
    chunk, size, end = head, 0, b""
    try:
        while chunk:
            cut = chunk.rfind(b'"') + 1
            if cut:
                waiting.append(chunk[:cut])
                await resp.write(kept.add(rewriter.json_text(b"".join(waiting))))
                waiting = [chunk[cut:]]
            else:
                waiting.append(chunk)
            end = _last_byte(chunk) or end
            chunk = await next_piece(upstream, resp, "player_api.php")
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                log.warning("player_api upstream answer is larger than %d bytes", MAX_ANSWER_BYTES)
                raise await end_broken(resp, Reason.UPSTREAM_ERROR)
        tail = b"".join(waiting)
        # after a list's last `"` come only brackets, numbers, true/false/null: anything else (a string cut
        # short, a URL's first half) is a list that ended early, and is not sent at all
        if end != b"]" or not _LIST_END.fullmatch(tail):
            raise await end_broken(resp, Reason.UPSTREAM_ERROR)
        await resp.write(kept.add(tail))
        await resp.write_eof()
    except (ConnectionError, RuntimeError):
        return resp  # the player went away; nothing is stored
    if kept.on and found is not None:
        await found.store(b"".join(kept.parts), headers)
    return resp


def _last_byte(piece: bytes) -> bytes:
    """The last byte of `piece` that is not white space (b"" if none): its end alone is looked at, unless blank."""
    return piece[-64:].rstrip()[-1:] or piece.rstrip()[-1:]


async def answer(request: web.Request, runtime: ClientSideRuntime, config: Config,
                 cache: ResponseCache | None = None) -> web.StreamResponse:  # fmt: skip
    params = await params_of(request)
    info = request.match_info
    if "u" in info:  # `/player_api/{username}/{password}[/{action}]`: the path names the line
        params.update({"username": info["u"], "password": info["p"]})
        params.pop("token", None)
        if "action" in info:
            params["action"] = info["action"]
    query = upstream_params(params)
    if query is None:
        return web.json_response(AUTH_FAILED)
    found = await cached.lookup(cache, config, upstream_of(config).name, cached.name_for("player_api", query), query)
    if found is not None and found.status == "HIT" and found.entry is not None:
        return found.respond(found.entry, "HIT")
    listed: aiohttp.ClientResponse | None = None  # a list's answer, streamed once its start is known
    try:
        # the answer must start within api_timeout; a list then streams as get.php does (stream_read_timeout)
        async with asyncio.timeout(config.client_side.api_timeout):
            upstream = await _open(runtime, config, request, query)
            if upstream is None:
                return refused_by_panel()
            try:
                head = await _start(upstream)
                if head.lstrip()[:1] == b"[":
                    listed = upstream
                else:  # the login payload, an object: whole, decoded
                    data = decode(head + await read_body(upstream.content, MAX_ANSWER_BYTES - len(head)))
            finally:
                if listed is None:
                    upstream.release()
    except TooLarge:
        log.warning("player_api upstream answer is larger than %d bytes", MAX_ANSWER_BYTES)
        return _stale_or(found, Refusal(502, Reason.UPSTREAM_ERROR))
    except TRANSPORT_ERRORS as exc:
        return _stale_or(found, Refusal.upstream_failed(exc, "player_api"))
    except Refusal as refusal:
        return _stale_or(found, refusal)
    if listed is not None:
        try:
            return await _stream_list(request, listed, head, runtime.rewriter(config), found)
        finally:
            listed.release()
    if isinstance(data, dict) and isinstance(data.get("user_info"), dict):
        if str(data["user_info"].get("auth")) != "1":
            return refused_by_panel()
        data = rewrite_login(data, config, runtime)
    # after rewrite_login: a host the login reported is rewritten in this answer too
    body = jsonio.dumps(runtime.rewriter(config).json(data))
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if found is not None:
        headers["X-Cache"] = found.status
        if found.status == "MISS":
            found.mark("MISS")  # an object is never stored: lists are the answers worth it
    return web.Response(body=body, headers=headers)


def _stale_or(found: cached.Lookup | None, refusal: Refusal) -> web.Response:
    """The stale entry in place of a failed panel's answer (`stale_if_error`), else the refusal."""
    stale = found.stale() if found is not None and found.status == "MISS" else None
    if found is None or stale is None:
        raise refusal
    return found.respond(stale, "STALE")

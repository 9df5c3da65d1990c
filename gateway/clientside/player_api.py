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

import logging
from typing import Any

import aiohttp
from aiohttp import web

from gateway import jsonio
from gateway.bodyread import TooLarge, read_body
from gateway.cache import ResponseCache
from gateway.clientside import cached
from gateway.clientside.refusal import Refusal
from gateway.clientside.relay import forward_headers
from gateway.clientside.rewrite import Rewriter, public_parts
from gateway.clientside.runtime import ClientSideRuntime, upstream_of
from gateway.config import Config
from gateway.model import Reason
from gateway.transport_errors import TRANSPORT_ERRORS

log = logging.getLogger("panelgate.clientside")

ACTIONS = frozenset({
    "get_live_categories", "get_vod_categories", "get_series_categories", "get_live_streams", "get_vod_streams",
    "get_series", "get_series_info", "get_vod_info", "get_short_epg", "get_simple_data_table",
})  # fmt: skip
PARAMS = ("category_id", "series_id", "vod_id", "stream_id", "limit")
MAX_ANSWER_BYTES = 64 << 20  # a large panel's get_live_streams is tens of megabytes
AUTH_FAILED: dict[str, Any] = {"user_info": {"auth": 0}}


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
        out.update({k: params[k] for k in PARAMS if params.get(k)})
    return out


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


async def fetch_raw(runtime: ClientSideRuntime, config: Config, request: web.Request,
                    query: dict[str, str]) -> bytes | None:  # fmt: skip
    """The panel's answer as it sent it, None when it refused the line."""
    cs = config.client_side
    url = f"{upstream_of(config).url}/player_api.php"
    timeout = aiohttp.ClientTimeout(total=cs.api_timeout, sock_connect=cs.connect_timeout)
    headers = forward_headers(request)
    headers.pop("Range", None)
    headers.pop("Accept-Encoding", None)  # JSON may come compressed; the session decompresses it
    try:
        async with runtime.session().get(url, params=query, headers=headers, timeout=timeout) as upstream:
            if upstream.status in (401, 403):
                return None
            if upstream.status >= 400:
                raise Refusal(502, Reason.UPSTREAM_STATUS)
            return await read_body(upstream.content, MAX_ANSWER_BYTES, length=upstream.content_length)
    except TooLarge:
        log.warning("player_api upstream answer is larger than %d bytes", MAX_ANSWER_BYTES)
        raise Refusal(502, Reason.UPSTREAM_ERROR) from None
    except TRANSPORT_ERRORS as exc:
        raise Refusal.upstream_failed(exc, "player_api") from None


def decode(raw: bytes) -> Any:
    try:
        return jsonio.loads(raw)
    except ValueError:
        raise Refusal(502, Reason.UPSTREAM_ERROR) from None


def list_bytes(raw: bytes, rewriter: Rewriter) -> bytes | None:
    """A list answer (get_live_streams: tens of megabytes) rewritten as bytes without being decoded, or None when it
    is not a list or only decoding can rewrite it. A list is what it looks like from its first and last bytes:
    the panel's JSON is passed on, not re-encoded (PHP's `\\/` and `\\u` escapes kept)."""
    # its ends only: no stripped copy of tens of megabytes (more than 64 bytes of white space: decoded instead)
    if raw[:64].lstrip()[:1] != b"[" or raw[-64:].rstrip()[-1:] != b"]":
        return None
    return rewriter.json_bytes(raw)


async def answer(request: web.Request, runtime: ClientSideRuntime, config: Config,
                 cache: ResponseCache | None = None) -> web.Response:  # fmt: skip
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
    try:
        raw = await fetch_raw(runtime, config, request, query)
        body = None if raw is None else list_bytes(raw, runtime.rewriter(config))
        data = AUTH_FAILED if raw is None else [] if body is not None else decode(raw)
    except Refusal:
        stale = found.stale() if found is not None and found.status == "MISS" else None
        if found is None or stale is None:
            raise
        return found.respond(stale, "STALE")
    if isinstance(data, dict) and isinstance(data.get("user_info"), dict):
        if str(data["user_info"].get("auth")) != "1":
            return web.json_response(AUTH_FAILED)
        data = rewrite_login(data, config, runtime)
    if body is None:  # after rewrite_login: a host the login reported is rewritten in this answer too
        data = runtime.rewriter(config).json(data)
        body = jsonio.dumps(data)
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if found is not None:
        headers["X-Cache"] = found.status
        if found.status == "MISS":
            found.mark("MISS")
            if isinstance(data, list):  # the lists' success; a refused line answers an object (never stored)
                await found.store(body, headers)
    return web.Response(body=body, headers=headers)

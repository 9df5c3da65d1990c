"""The MAG (Stalker/Ministra) portal, relayed: `/portal.php`, `/c/portal.php`, `/server/load.php`,
`/stalker_portal/server/load.php`, and the portal's web app under `/c/` and `/stalker_portal/c/`.

A MAG box logs in by its MAC: `type=stb&action=handshake` answers `{"js":{"token":...}}`, which every later call
carries as `Authorization: Bearer`; `get_profile`, the channel lists and `create_link` answer `{"js": ...}` with
links to play in `cmd` fields (`ffmpeg http://panel:port/play/{token}`). So a portal call is passed on with what
identifies the box (its query or form, `Authorization`, the `mac`/`stb_lang`/`timezone` cookies, `X-User-Agent`),
the panel's redirects are followed (XUI answers `/server/load.php` with a 302 to `/c/portal.php`), and the answer
is rewritten before the box sees it:
- a `cmd` (also `download_cmd`, `cmd_1`..`cmd_3`) names a stream: its URL becomes a gateway URL whatever its host
  (portal.php writes the server's configured `site_url`, not the host the box asked for);
- any other string has the known upstream hosts rewritten (logos, `update_url`, ...);
- `http://localhost/ch/{id}_` stays: it is the panel's placeholder (with `mag_security` on) that the box hands back
  to `create_link`, never a URL anyone fetches, and portal.php finds the channel by that exact text.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from aiohttp import web

from gateway import jsonio
from gateway.bodyread import TooLarge, read_body
from gateway.clientside.refusal import Refusal
from gateway.clientside.relay import forward_headers
from gateway.clientside.rewrite import Rewriter, may_hold_a_url
from gateway.clientside.runtime import ClientSideRuntime, upstream_of
from gateway.config import Config
from gateway.model import Reason
from gateway.transport_errors import TRANSPORT_ERRORS

log = logging.getLogger("panelgate.clientside")

FORWARD = ("Authorization", "Cookie", "X-User-Agent", "Content-Type")
RETURN = ("Content-Type", "Cache-Control", "Pragma")
CMD_FIELDS = frozenset({"cmd", "download_cmd", "cmd_1", "cmd_2", "cmd_3"})
PLACEHOLDER = "http://localhost/ch/"
MAX_ANSWER_BYTES = 64 << 20  # get_all_channels of a large panel: every channel in one answer
MAX_FORM_BYTES = 64 << 10  # a box's POST is a handful of fields


def rewrite_answer(value: Any, rewriter: Rewriter, key: str = "") -> Any:
    """A decoded portal answer with every panel URL made the gateway's (see the module's notes)."""
    if isinstance(value, str):
        if PLACEHOLDER in value or not may_hold_a_url(value):
            return value
        return rewriter.text(rewriter.streams(value) if key in CMD_FIELDS else value)
    if isinstance(value, list):
        return [rewrite_answer(v, rewriter, key) for v in value]
    if isinstance(value, dict):
        return {k: rewrite_answer(v, rewriter, str(k)) for k, v in value.items()}
    return value


async def answer(request: web.Request, runtime: ClientSideRuntime, config: Config) -> web.Response:
    target = upstream_of(config).url + request.rel_url.raw_path
    if request.rel_url.raw_query_string:
        target += "?" + request.rel_url.raw_query_string
    headers = forward_headers(request)
    headers.pop("Range", None)
    headers.pop("Accept-Encoding", None)  # JSON may come compressed; the session decompresses it
    headers.update({name: request.headers[name] for name in FORWARD if name in request.headers})
    form: bytes | None = None
    if request.method == "POST":
        try:
            form = await read_body(request.content, MAX_FORM_BYTES, length=request.content_length)
        except TooLarge:
            raise Refusal(413, Reason.TOO_LARGE) from None
        except (web.RequestPayloadError, ConnectionResetError):  # cut short by the box
            raise Refusal(400, Reason.BAD_REQUEST) from None
    cs = config.client_side
    timeout = aiohttp.ClientTimeout(total=cs.api_timeout, sock_connect=cs.connect_timeout)
    try:
        async with runtime.session().request(request.method, target, headers=headers, data=form, timeout=timeout,
                                             allow_redirects=True, max_redirects=5) as upstream:  # fmt: skip
            if upstream.status >= 400:
                raise Refusal.upstream_status(upstream.status)
            body = await read_body(upstream.content, MAX_ANSWER_BYTES, length=upstream.content_length)
            out_headers = {name: upstream.headers[name] for name in RETURN if name in upstream.headers}
            status = upstream.status
    except TooLarge:
        log.warning("portal upstream answer is too large")
        raise Refusal(502, Reason.UPSTREAM_ERROR) from None
    except TRANSPORT_ERRORS as exc:
        raise Refusal.upstream_failed(exc, "portal") from None
    rewriter = runtime.rewriter(config)
    try:
        decoded = jsonio.loads(body) if body.strip() else None
    except (ValueError, RecursionError):
        decoded = None
    # an empty answer (portal.php's bare exit()), or not JSON: only the known hosts to rewrite
    body = rewriter.chunk(body) if decoded is None else jsonio.dumps(rewrite_answer(decoded, rewriter))
    return web.Response(status=status, body=body, headers=out_headers)

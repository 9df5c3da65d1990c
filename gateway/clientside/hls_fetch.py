"""The panel's side of a shared live HLS channel (gateway.clientside.hls_share): a playlist read with its
redirects, and a segment (or key) fetched into the Body its viewers read while it grows."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

from gateway.bodyread import TooLarge, read_body
from gateway.clientside.hls_body import Body
from gateway.clientside.refusal import Refusal
from gateway.model import Reason
from gateway.transport_errors import TRANSPORT_ERRORS

log = logging.getLogger("panelgate.clientside")

MAX_SEGMENT_BYTES = 64 << 20  # a segment of a few seconds is megabytes; past this the panel is not sending one
MAX_PLAYLIST_BYTES = 4 << 20
_HEADERS = {"Accept-Encoding": "identity"}  # bytes as the panel stores them: a segment's length is its length


def _get(http: aiohttp.ClientSession, url: str, timeout: aiohttp.ClientTimeout) -> Any:
    """A GET to the panel as a player's: its redirects followed (XC_VM sends a playlist to `/auth/{token}`)."""
    return http.get(url, headers=_HEADERS, timeout=timeout, allow_redirects=True, max_redirects=5)


async def read_playlist(http: aiohttp.ClientSession, url: str,
                        timeout: aiohttp.ClientTimeout) -> tuple[str, str, int]:  # fmt: skip
    """(text, URL after redirects, status) of a playlist; the text is empty unless the status is 200."""
    try:
        async with _get(http, url, timeout) as resp:
            if resp.status != 200:
                return "", str(resp.url), resp.status
            body = await read_body(resp.content, MAX_PLAYLIST_BYTES, length=resp.content_length)
            return body.decode("utf-8", errors="replace"), str(resp.url), 200
    except TooLarge:
        raise Refusal(502, Reason.UPSTREAM_ERROR) from None
    except TRANSPORT_ERRORS as exc:
        raise Refusal.upstream_failed(exc, "shared HLS playlist") from None


async def fetch_into(http: aiohttp.ClientSession, url: str, timeout: aiohttp.ClientTimeout, body: Body) -> None:
    """The resource at `url` into `body`, ended when the panel's answer is (with the refusal its failure or an
    error status makes, or one for a segment past MAX_SEGMENT_BYTES)."""
    try:
        async with _get(http, url, timeout) as resp:
            if resp.status != 200:
                body.end(Refusal.upstream_status(resp.status))
                return
            length = resp.content_length if "Content-Encoding" not in resp.headers else None
            body.begin(resp.headers.get("Content-Type", "video/mp2t"), length)
            while chunk := await resp.content.readany():
                body.add(chunk)
                if body.size > MAX_SEGMENT_BYTES:
                    log.warning("shared HLS segment larger than %d bytes: not cached", MAX_SEGMENT_BYTES)
                    body.end(Refusal(502, Reason.UPSTREAM_BROKEN))
                    return
            body.end()
    except TRANSPORT_ERRORS as exc:
        body.end(Refusal.upstream_failed(exc, "shared HLS segment"))

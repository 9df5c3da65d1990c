"""player_api lists streamed through real sockets: rewritten piece by piece as a panel sends them (in pieces, with
pauses), never stored unless whole, and ended as they stand when the panel breaks off, goes silent or sends
something that is not a list after all."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.app import build_app
from tests.conftest import AiohttpClient, AiohttpServer, make_config

PUBLIC = "http://gateway.test:8080"
LINE = {"username": "u1", "password": "p1", "action": "get_live_streams"}


class Panel:
    """A panel whose player_api.php answers `body` in `piece`-byte writes, pausing `pause` s after each; `silent`:
    stops answering after that many bytes (holds the connection), `cut`: closes it there."""

    def __init__(self, body: bytes, *, piece: int = 1000, pause: float = 0.0, silent_after: int | None = None,
                 cut_after: int | None = None, first_byte_after: float = 0.0) -> None:  # fmt: skip
        self.body, self.piece, self.pause = body, piece, pause
        self.silent_after, self.cut_after, self.first_byte_after = silent_after, cut_after, first_byte_after
        self.calls = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.calls += 1
        await asyncio.sleep(self.first_byte_after)
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for start in range(0, len(self.body), self.piece):
            if self.silent_after is not None and start >= self.silent_after:
                await asyncio.sleep(3600)
            if self.cut_after is not None and start >= self.cut_after:
                assert request.transport is not None
                request.transport.close()
                return resp
            await resp.write(self.body[start:start + self.piece])
            await asyncio.sleep(self.pause)
        await resp.write_eof()
        return resp


def listing(origin: str, rows: int) -> bytes:
    """A list as PHP writes it (escaped slashes, \\u escapes of non-ASCII), one row spelling its host with an
    escape only decoding (or the exact text path) sees through."""
    items = [{"num": n, "name": f"Caf\u00e9 {n}", "stream_icon": f"{origin}/images/{n}.png"} for n in range(rows)]
    text = json.dumps(items).replace("/", "\\/")
    host = origin.split("://")[1]
    escaped = host.replace("1", "\\u0031", 1)
    last = f'\\/{rows - 1}.png"'
    assert last in text
    return text.replace(last, f'\\/x.png","alt":"http:\\/\\/{escaped}\\/alt.png"').encode()


async def start(aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path,
                panel: Panel, **client_side: Any) -> tuple[Any, str]:  # fmt: skip
    app = web.Application()
    app.router.add_get("/player_api.php", panel.handle)
    server = await aiohttp_server(app)
    origin = str(server.make_url("")).rstrip("/")
    config = make_config(origin, policies_dir, tmp_path, cache={"backend": "memory", "ttl": {"default": 60}},
                         client_side={"stream_read_timeout": 0.5, "api_timeout": 0.5, **client_side})  # fmt: skip
    return await aiohttp_client(build_app(config)), origin


async def test_a_list_in_pieces_is_streamed_rewritten_and_stored(aiohttp_server: AiohttpServer,
                                                                aiohttp_client: AiohttpClient, policies_dir: Path,
                                                                tmp_path: Path) -> None:  # fmt: skip
    panel = Panel(b"", piece=777, pause=0.001)
    client, origin = await start(aiohttp_server, aiohttp_client, policies_dir, tmp_path, panel)
    panel.body = listing(origin, 2000)
    resp = await client.get("/player_api.php", params=LINE)
    assert resp.status == 200 and resp.headers.get("X-Cache") == "MISS"
    assert "Content-Length" not in resp.headers  # sent as it came, not held whole
    text = await resp.text()
    rows = json.loads(text)
    assert len(rows) == 2000 and all(r["stream_icon"].startswith(PUBLIC + "/images/") for r in rows[:-1])
    assert rows[-1]["alt"] == PUBLIC + "/alt.png"  # the host spelled with an escape
    assert origin.split("://")[1] not in text and rows[5]["name"] == "Caf\u00e9 5"
    again = await client.get("/player_api.php", params=LINE)
    assert again.headers.get("X-Cache") == "HIT" and await again.text() == text and panel.calls == 1


async def test_a_list_in_pieces_hides_the_panel_written_without_a_scheme(
        aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path) -> None:
    # logos typed `//host/...`, `http:///host/...` or `\\host/...`, in pieces that cut through them anywhere: a
    # browser or OkHttp reads each as the panel
    panel = Panel(b"", piece=97, pause=0.001)
    client, origin = await start(aiohttp_server, aiohttp_client, policies_dir, tmp_path, panel)
    host = origin.split("://")[1]
    spellings = (f"{origin}", f"//{host}", f"http:///{host}", f"\\\\{host}", "//cdn.example.org")
    items = [{"num": n, "stream_icon": f"{spellings[n % 5]}/images/{n}.png"} for n in range(500)]
    panel.body = json.dumps(items).replace("/", "\\/").encode()
    resp = await client.get("/player_api.php", params=LINE)
    text = await resp.text()
    assert resp.status == 200 and host not in text
    rows = json.loads(text)
    assert [r["stream_icon"] for r in rows] == [
        f"//cdn.example.org/images/{n}.png" if n % 5 == 4 else f"{PUBLIC}/images/{n}.png" for n in range(500)]


@pytest.mark.parametrize("fault", ["not a list", "cut", "silent"])
async def test_a_list_that_breaks_off_ends_as_it_stands_and_is_not_stored(fault: str, aiohttp_server: AiohttpServer,
                                                                          aiohttp_client: AiohttpClient,
                                                                          policies_dir: Path,
                                                                          tmp_path: Path) -> None:  # fmt: skip
    panel = Panel(b"", piece=1000)
    client, origin = await start(aiohttp_server, aiohttp_client, policies_dir, tmp_path, panel)
    body = listing(origin, 500)
    if fault == "not a list":
        panel.body = body[:-1] + b"}"  # starts like a list, ends like something else
    elif fault == "cut":
        panel.body, panel.cut_after = body, 10_000
    else:
        panel.body, panel.silent_after = body, 10_000
    for _ in range(2):  # the gateway closes a connection it ended early: a new one each time, as a player would
        resp = await client.get("/player_api.php", params=LINE, headers={"Connection": "close"})
        assert resp.status == 200 and resp.headers.get("X-Cache") == "MISS"  # never a HIT: nothing was stored
        try:
            text = await resp.text()
        except aiohttp.ClientPayloadError:
            continue  # the chunked answer ended without its last chunk: the player sees it cut
        with pytest.raises(ValueError):
            json.loads(text)  # or a document that is not JSON: never taken for a whole list
    assert panel.calls == 2


async def test_a_panel_silent_before_its_answer_starts_is_a_502(aiohttp_server: AiohttpServer,
                                                                aiohttp_client: AiohttpClient, policies_dir: Path,
                                                                tmp_path: Path) -> None:  # fmt: skip
    panel = Panel(b"[]", first_byte_after=5)
    client, _ = await start(aiohttp_server, aiohttp_client, policies_dir, tmp_path, panel, stream_read_timeout=30)
    started = asyncio.get_running_loop().time()
    resp = await client.get("/player_api.php", params=LINE)
    assert resp.status == 502 and asyncio.get_running_loop().time() - started < 3  # api_timeout: 0.5 s


async def test_a_list_followed_by_white_space_in_its_own_pieces_is_whole(aiohttp_server: AiohttpServer,
                                                                        aiohttp_client: AiohttpClient,
                                                                        policies_dir: Path,
                                                                        tmp_path: Path) -> None:  # fmt: skip
    panel = Panel(b"", piece=500)
    client, origin = await start(aiohttp_server, aiohttp_client, policies_dir, tmp_path, panel)
    panel.body = listing(origin, 50) + b"\n" + b" " * 3000 + b"\r\n"  # the last pieces are blank
    first = await client.get("/player_api.php", params=LINE)
    assert len(json.loads(await first.text())) == 50
    again = await client.get("/player_api.php", params=LINE)
    assert again.headers.get("X-Cache") == "HIT" and panel.calls == 1  # taken for a whole list, and stored


@pytest.mark.parametrize("body", [
    b'[{"num":1,"stream_icon":"http:\\/\\/cdn.panel.tv\\/1.png"},{"num":2,"stream_icon":"http:\\/\\/cdn.panel.t',
    b'[{"num":1,"name":"News"},{"num":2,"name":"Sport [HD]',  # ends in `]`, inside a string
])  # fmt: skip
async def test_a_list_that_ends_early_sends_no_half_url_and_is_not_stored(body: bytes, aiohttp_server: AiohttpServer,
                                                                          aiohttp_client: AiohttpClient,
                                                                          policies_dir: Path,
                                                                          tmp_path: Path) -> None:  # fmt: skip
    # found by a hostile review: the unfinished last piece went out unrewritten (a prefix of the panel's host)
    panel = Panel(body, piece=4096)
    client, _ = await start(aiohttp_server, aiohttp_client, policies_dir, tmp_path, panel,
                            upstream_hosts=["cdn.panel.tv"])  # fmt: skip
    for _ in range(2):
        resp = await client.get("/player_api.php", params=LINE, headers={"Connection": "close"})
        assert resp.headers.get("X-Cache") == "MISS"
        try:
            text = await resp.text()
        except aiohttp.ClientPayloadError:
            continue
        assert "cdn.panel" not in text and "Sport" not in text
    assert panel.calls == 2


async def test_a_list_without_strings_is_whole(aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient,
                                               policies_dir: Path, tmp_path: Path) -> None:  # fmt: skip
    panel = Panel(b"[" + b",".join(b"%d" % n for n in range(20_000)) + b", 1.5e-3, true, null]", piece=999)
    client, _ = await start(aiohttp_server, aiohttp_client, policies_dir, tmp_path, panel)
    assert len(json.loads(await (await client.get("/player_api.php", params=LINE)).text())) == 20_003
    assert (await client.get("/player_api.php", params=LINE)).headers.get("X-Cache") == "HIT"

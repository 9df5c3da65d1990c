"""Bodies that arrive in pieces are read to their end, from a client and from a panel; a body past its limit is
a clear error, whether its length was announced or it came chunked. On loopback a body lands in one read, so
each test here makes the pieces itself: a client's by hand on a socket, a panel's through a Network whose shape
the test sets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from gateway.app import build_app
from gateway.sim.network import Network, Shape
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config
from tests.reliability import rawhttp
from tests.reliability.conftest import KEYS, XM_PATH, Gateway, MakeGateway, failure_code

PUBLIC = "http://gateway.test:8080"
LIMIT = 4096


def _write(dialect: str, username: str, notes: str) -> tuple[str, bytes]:
    """A line-creating write in `dialect`'s own form: (request target, urlencoded body)."""
    if dialect == "xm":
        form = {"api_key": KEYS["xm"], "action": "create_line", "username": username, "password": "pw-pieces-1",
                "admin_notes": notes}  # fmt: skip
        return XM_PATH, urlencode(form).encode()
    if dialect == "xc":
        form = {"api_key": KEYS["xc"], "user_data[username]": username, "user_data[password]": "pw-pieces-1",
                "user_data[admin_notes]": notes}  # fmt: skip
        return "/api.php?action=user&sub=create", urlencode(form).encode()
    form = {"data[username]": username, "data[password]": "pw-pieces-1", "data[admin_notes]": notes,
            "api_key": KEYS["ms"]}  # fmt: skip
    return "/api/line/new", urlencode(form).encode()


def _head(target: str, **headers: str) -> bytes:
    return rawhttp.head("POST", target, {"Content-Type": "application/x-www-form-urlencoded", **headers})


async def _send(gw: Gateway, segments: list[bytes], pause: float = 0.05) -> rawhttp.RawReply:
    server = gw.client.server
    return await rawhttp.send(str(server.host), int(server.port or 0), segments, pause=pause)


def _xm_line(gw: Gateway, username: str) -> dict[str, Any]:
    return next(row for row in gw.panels.xm.tables["lines"].values() if row["username"] == username)


async def test_a_form_in_two_tcp_segments_is_read_whole(gateway: Gateway) -> None:
    """The second segment arrives 200 ms after the first: its fields reach the panel, uncut."""
    notes = "second-half-" * 200
    target, body = _write("xm", "two_segments", notes)
    cut = body.index(b"admin_notes=") + 40  # inside a value
    reply = await _send(gateway, [_head(target, **{"Content-Length": str(len(body))}) + body[:cut], body[cut:]], 0.2)
    assert reply.status == 200 and json.loads(reply.body)["status"] == "STATUS_SUCCESS", reply.body[:300]
    assert _xm_line(gateway, "two_segments")["admin_notes"] == notes


async def test_a_600kb_value_reaches_the_panel_whole(gateway: Gateway) -> None:
    notes = "0123456789abcdef" * (600_000 // 16)
    target, body = _write("xm", "big_value", notes)
    segments = rawhttp.split(body, 16 * 1024)
    segments[0] = _head(target, **{"Content-Length": str(len(body))}) + segments[0]
    reply = await _send(gateway, segments, pause=0.002)
    assert json.loads(reply.body)["status"] == "STATUS_SUCCESS", reply.body[:300]
    assert _xm_line(gateway, "big_value")["admin_notes"] == notes


async def test_a_chunked_form_in_pieces_is_read_whole(gateway: Gateway) -> None:
    notes = "chunked-" * 300
    target, body = _write("xm", "chunked_whole", notes)
    chunks = rawhttp.chunked(rawhttp.split(body, 700))
    reply = await _send(gateway, [_head(target, **{"Transfer-Encoding": "chunked"}) + chunks[0], *chunks[1:]], 0.02)
    assert json.loads(reply.body)["status"] == "STATUS_SUCCESS", reply.body[:300]
    assert _xm_line(gateway, "chunked_whole")["admin_notes"] == notes


@pytest.mark.parametrize("dialect", ["xm", "xc", "ms"])
async def test_a_chunked_body_past_the_limit_is_refused_and_never_sent(make_gateway: MakeGateway,
                                                                       dialect: str) -> None:  # fmt: skip
    """No Content-Length to refuse at once: the limit holds as the chunks arrive (the first ones fit)."""
    gw = await make_gateway(max_body_bytes=LIMIT)
    target, body = _write(dialect, "too_big", "x" * (2 * LIMIT))
    chunks = rawhttp.chunked(rawhttp.split(body, 1024))
    reply = await _send(gw, [_head(target, **{"Transfer-Encoding": "chunked"}) + chunks[0], *chunks[1:]], 0.02)
    assert reply.status == 200, reply
    assert failure_code(dialect, reply.body) == "PAYLOAD_TOO_LARGE"
    assert gw.panels.faults[dialect].total() == 0, "nothing reaches the panel"


# --- a panel's answers in pieces ----------------------------------------------------------------------------


async def _player_side(aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path,
                       tmp_path: Path, network: Network) -> tuple[XtreamMastersSim, Any, str]:  # fmt: skip
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    server = await aiohttp_server(network.install(sim.app()))
    origin = str(server.make_url("")).rstrip("/")
    client = await aiohttp_client(build_app(make_config(origin, policies_dir, tmp_path, public_url=PUBLIC)))
    return sim, client, origin


def _many_channels(sim: XtreamMastersSim, origin: str, count: int) -> None:
    """`count` more live channels in bouquet 1, each with a logo on the panel's own host (to be rewritten)."""
    streams = sim.tables["streams"]
    template = streams[1]
    first = max(streams) + 1
    for sid in range(first, first + count):
        streams[sid] = {**template, "id": str(sid), "stream_display_name": f"Channel {sid} " + "HD " * 20,
                        "stream_icon": f"{origin}/images/logos/{sid}.png"}  # fmt: skip
    bouquet = sim.tables["bouquets"][1]
    channels = json.loads(bouquet["bouquet_channels"]) + list(range(first, first + count))
    bouquet["bouquet_channels"] = json.dumps(channels)


async def test_a_20mb_live_streams_list_in_1kib_pieces_is_answered_whole_and_rewritten(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path, sim_seed: str
) -> None:
    network = Network(sim_seed, Shape(max_piece=1024, min_piece=1024, pause_chance=0.001, latency=0.0,
                                      chunked_chance=0.5))  # fmt: skip
    sim, client, origin = await _player_side(aiohttp_server, aiohttp_client, policies_dir, tmp_path, network)
    _many_channels(sim, origin, 55_000)
    line = sim.tables["lines"][3]
    resp = await client.get("/player_api.php", params={"username": line["username"], "password": line["password"],
                                                       "action": "get_live_streams"})  # fmt: skip
    assert resp.status == 200
    text = await resp.text()  # streamed: the panel's pieces are counted once the player has read it all
    assert network.body_bytes > 20_000_000 and network.pieces >= network.body_bytes // 1024
    channels = json.loads(text)
    assert len(channels) > 55_000
    assert "127.0.0.1" not in text and "localhost" not in text  # no stream_id may pass for the port
    icons = [c["stream_icon"] for c in channels if "/images/logos/" in c["stream_icon"]]
    assert len(icons) == 55_000 and all(icon.startswith(PUBLIC + "/") for icon in icons)


async def test_an_hls_playlist_in_pieces_is_relayed_whole(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path, sim_seed: str
) -> None:
    network = Network(sim_seed, Shape(max_piece=512, pause_chance=0.05, latency=0.0))
    sim, client, _ = await _player_side(aiohttp_server, aiohttp_client, policies_dir, tmp_path, network)
    sim.player.hls_segments, sim.player.hls_endlist = 300, True
    line = sim.tables["lines"][3]
    resp = await client.get(f"/live/{line['username']}/{line['password']}/5.m3u8")
    assert resp.status == 200
    text = await resp.text()
    segments = [row for row in text.splitlines() if row and not row.startswith("#")]
    assert len(segments) == 300 and all(uri.startswith(PUBLIC + "/") for uri in segments)
    assert text.rstrip().endswith("#EXT-X-ENDLIST")


@pytest.mark.parametrize("coding", ["gzip", "plain"])
async def test_a_multipart_part_past_the_limit_is_refused_as_it_arrives(make_gateway: MakeGateway,
                                                                       coding: str) -> None:  # fmt: skip
    """A multipart form's part is held to `max_body_bytes` as it is read and as it is inflated (a part may say
    `Content-Encoding: gzip`, which aiohttp inflates). A part sent chunked (no length to refuse at once) was read
    whole into memory before the limit was checked (the multipart reader, made by hand, had no size limit): an
    8 MB part held 8 MB for a request limited to 4 KB, and a client streaming one for the body timeout, more."""
    import gzip
    import tracemalloc

    gw = await make_gateway(max_body_bytes=LIMIT)
    value = b"0" * (40 << 20)
    payload = gzip.compress(value) if coding == "gzip" else value[: 8 << 20]
    encoding = b"Content-Encoding: gzip\r\n" if coding == "gzip" else b""
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"api_key\"\r\n\r\n" + KEYS["xm"].encode() +
            b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"action\"\r\n\r\ncreate_line\r\n"
            b"--XyZ\r\nContent-Disposition: form-data; name=\"admin_notes\"\r\n" + encoding + b"\r\n" + payload +
            b"\r\n--XyZ--\r\n")  # fmt: skip
    head = rawhttp.head("POST", XM_PATH, {"Content-Type": "multipart/form-data; boundary=XyZ",
                                          "Transfer-Encoding": "chunked"})  # fmt: skip
    segments = [head, *rawhttp.chunked(rawhttp.split(body, 64 << 10))]
    del value, payload, body
    tracemalloc.start()
    try:
        reply = await _send(gw, segments, pause=0.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert failure_code("xm", reply.body) == "PAYLOAD_TOO_LARGE", reply.body[:300]
    assert peak < 4 << 20, f"{peak >> 20} MiB held for a request limited to {LIMIT} bytes"
    assert gw.panels.faults["xm"].hits["create_line"] == 0

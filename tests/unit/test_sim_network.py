"""The simulated network (gateway.sim.network): answers in pieces, either framing, repeatable from a seed."""

from __future__ import annotations

import pytest
from aiohttp import web

from gateway import upstream
from gateway.sim import faults
from gateway.sim.network import NETWORK, Network, Shape
from tests import conftest
from tests.conftest import AiohttpServer
from tests.reliability import rawhttp

BODY = bytes(range(256)) * 400  # 100 KiB


def _app() -> web.Application:
    app = web.Application()

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=BODY, content_type="application/octet-stream")

    async def streamed(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(BODY)
        await resp.write_eof()
        return resp

    app.router.add_get("/answer", answer)
    app.router.add_get("/streamed", streamed)
    return app


async def _get(aiohttp_server: AiohttpServer, network: Network, path: str) -> list[rawhttp.RawReply]:
    server = await aiohttp_server(network.install(_app()))
    return [await rawhttp.send(str(server.host), int(server.port or 0), [rawhttp.head("GET", path, {})])
            for _ in range(12)]  # fmt: skip


@pytest.mark.parametrize("path", ["/answer", "/streamed"])
async def test_bodies_arrive_whole_in_many_pieces(aiohttp_server: AiohttpServer, path: str) -> None:
    network = Network("unit", Shape(max_piece=4096, latency=0.001))
    for reply in await _get(aiohttp_server, network, path):
        assert reply.status == 200 and reply.body == BODY and reply.complete and reply.trailing == b""
    assert network.pieces > 12 * len(BODY) // 4096  # log-uniform sizes: many more pieces than the maximum's
    assert network.body_bytes == 12 * len(BODY)


async def test_known_lengths_are_sent_either_way(aiohttp_server: AiohttpServer) -> None:
    replies = await _get(aiohttp_server, Network("unit", Shape(chunked_chance=0.5, latency=0)), "/answer")
    framings = {reply.headers.get("transfer-encoding", "length") for reply in replies}
    assert framings == {"chunked", "length"}


async def test_a_seed_repeats_the_same_network(aiohttp_server: AiohttpServer) -> None:
    runs = []
    for _ in range(2):
        network = Network("same seed", Shape(max_piece=2048, latency=0))
        replies = await _get(aiohttp_server, network, "/answer")
        runs.append((network.pieces, [reply.headers.get("transfer-encoding") for reply in replies]))
    assert runs[0] == runs[1]


def test_the_fixtures_put_panels_behind_it_unless_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "SIM_NETWORK", True)
    assert NETWORK in conftest.simulated_network(web.Application(), "a")
    monkeypatch.setattr(conftest, "SIM_NETWORK", False)
    assert NETWORK not in conftest.simulated_network(web.Application(), "b")


def test_the_simulators_copy_of_the_answer_limit_is_the_gateways() -> None:
    assert faults.GATEWAY_MAX_ANSWER_BYTES == upstream.MAX_ANSWER_BYTES

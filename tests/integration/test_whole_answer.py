"""Admin answers written whole (gateway.whole_answer) as aiohttp's own Response writes them, through real sockets:
the same bytes for every HTTP version and connection fate, pipelined requests answered in order, a client gone
before its answer, header values aiohttp would refuse, and a client that does not read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.http_writer import StreamWriter
from aiohttp.test_utils import TestServer, make_mocked_request

from gateway import whole_answer
from gateway.app import build_admin_app, build_app
from gateway.exchange import Live
from gateway.httpserver import hide_server_banner
from gateway.sim.xtream_masters import XtreamMastersSim
from gateway.state import build_state
from tests.conftest import ACCESS_CODE, KEYS, UPSTREAM_KEY, AiohttpServer, make_config

PATH = f"/{ACCESS_CODE}/admin/index.php"
BODY = b'{"status":"STATUS_SUCCESS","data":[1,2,3]}'
HEADERS = {"X-Request-Id": "test-request-0001", "X-Cache": "HIT", "RateLimit-Remaining": "4"}


async def _exchange(server: TestServer, raw: bytes, answers: int) -> list[tuple[bytes, bytes]]:
    """`raw` written at once on a new connection; `answers` answers read back as (head, body), then whether the
    server closed the connection (an empty read within 0.3 s) as a last pair (b"closed" or b"open", b"")."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(raw)
    out: list[tuple[bytes, bytes]] = []
    try:
        for _ in range(answers):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))  # fmt: skip
            out.append((head, await asyncio.wait_for(reader.readexactly(length), 5)))
        try:
            rest = await asyncio.wait_for(reader.read(1), 0.3)
            out.append((b"closed" if rest == b"" else b"more:" + rest, b""))
        except TimeoutError:
            out.append((b"open", b""))
    finally:
        writer.close()
    return out


Plain = Callable[[web.Application], Awaitable[TestServer]]


@pytest.fixture
async def plain() -> AsyncIterator[Plain]:
    """An app on a socket of its own, without the simulated network the `aiohttp_server` fixture puts panels
    behind: these tests read aiohttp's own framing."""
    servers: list[TestServer] = []

    async def start(app: web.Application) -> TestServer:
        server = TestServer(app)
        await server.start_server()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


def _without_date(head: bytes) -> bytes:
    return b"\r\n".join(line for line in head.split(b"\r\n") if not line.startswith(b"Date: "))


REQUESTS = {
    "1.1 keep-alive": b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
    "1.1 close": b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    "1.0": b"GET /x HTTP/1.0\r\nHost: a\r\n\r\n",
    "1.0 keep-alive": b"GET /x HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
    "POST 1.1": b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\na=1",
}


@pytest.mark.parametrize("status", [200, 429])
@pytest.mark.parametrize("request_bytes", list(REQUESTS.values()), ids=list(REQUESTS))
async def test_the_same_bytes_as_aiohttps_response(plain: Plain, request_bytes: bytes, status: int) -> None:
    async def whole(_: web.Request) -> web.StreamResponse:
        return whole_answer.WholeAnswer(status, BODY, "application/json", HEADERS)

    async def aiohttps(_: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=BODY, content_type="application/json", headers=HEADERS)

    hide_server_banner()  # as every application of the gateway's process does
    answers = []
    for handler in (whole, aiohttps):
        app = web.Application()
        app.router.add_route("*", "/x", handler)
        answers.append(await _exchange(await plain(app), request_bytes, 1))
    (ours, fate), (theirs, their_fate) = answers
    assert (_without_date(ours[0]), ours[1]) == (_without_date(theirs[0]), theirs[1])
    assert ours[0].startswith(b"HTTP/1.%s %d " % (request_bytes.split(b"HTTP/1.")[1][:1], status))
    assert b"\r\nDate: " in ours[0] and ours[1] == BODY
    assert fate == their_fate  # the connection closed, or left open, alike


async def _gateway(aiohttp_server: AiohttpServer, policies_dir: Path, tmp_path: Path) -> TestServer:
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    url = str((await aiohttp_server(sim.app())).make_url("")).rstrip("/")
    config = make_config(url, policies_dir, tmp_path, cache={"ttl": {"default": 60}})
    return await aiohttp_server(build_app(config))


def _get(query: str, extra: str = "", version: str = "1.1") -> bytes:
    return f"GET {PATH}?{query} HTTP/{version}\r\nHost: gw\r\n{extra}\r\n".encode()


async def test_pipelined_hits_misses_and_refusals_come_back_whole_and_in_order(
    aiohttp_server: AiohttpServer, policies_dir: Path, tmp_path: Path
) -> None:
    server = await _gateway(aiohttp_server, policies_dir, tmp_path)
    read = f"api_key={KEYS['admin']}&action=get_lines&limit=5"
    queries = [read, read, f"api_key={KEYS['admin']}&action=get_line&id=21", "api_key=wrong&action=get_lines",
               read, f"api_key={KEYS['readonly']}&action=mysql_query&query=x"]  # fmt: skip
    one_by_one = []
    for query in queries:
        (answer, _fate) = await _exchange(server, _get(query, "Connection: close\r\n"), 1)
        one_by_one.append(answer)
    pipelined = await _exchange(server, b"".join(_get(q) for q in queries), len(queries))
    assert pipelined[-1] == (b"open", b"")  # kept alive after the six
    for (head, body), (alone_head, alone_body) in zip(pipelined[:-1], one_by_one, strict=True):
        assert body == alone_body
        assert head.split(b"\r\n")[0] == alone_head.split(b"\r\n")[0]
    statuses = [head.split(b"\r\n")[0] for head, _ in pipelined[:-1]]
    assert statuses == [b"HTTP/1.1 200 OK"] * 6  # Xtream-Masters answers its failures with 200
    # the reads answered from the cache the requests one by one filled; a wrong key and a refusal never are
    assert [b"X-Cache: HIT" in head for head, _ in pipelined[:-1]] == [True, True, True, False, True, False]
    assert b'"STATUS_SUCCESS"' in pipelined[2][1] and b"STATUS_SUCCESS" not in pipelined[3][1]


async def test_http_1_0_clients_get_a_1_0_answer_and_their_connection_closed(
    aiohttp_server: AiohttpServer, policies_dir: Path, tmp_path: Path
) -> None:
    server = await _gateway(aiohttp_server, policies_dir, tmp_path)
    query = f"api_key={KEYS['admin']}&action=get_lines&limit=5"
    (head, body), fate = await _exchange(server, _get(query, version="1.0"), 1)
    assert head.startswith(b"HTTP/1.0 200 OK\r\n") and b"Connection" not in head and fate == (b"closed", b"")
    kept = await _exchange(server, _get(query, "Connection: keep-alive\r\n", "1.0") * 2, 2)
    assert [h.split(b"\r\n")[0] for h, _ in kept[:2]] == [b"HTTP/1.0 200 OK"] * 2
    assert all(b"\r\nConnection: keep-alive\r\n" in h for h, _ in kept[:2])
    assert kept[0][1] == kept[1][1] == body


async def test_a_client_gone_before_its_answer_costs_nothing_but_its_answer(
    aiohttp_server: AiohttpServer, policies_dir: Path, tmp_path: Path
) -> None:
    server = await _gateway(aiohttp_server, policies_dir, tmp_path)
    query = f"api_key={KEYS['admin']}&action=get_lines&limit=5"
    for _ in range(20):  # hits and misses alike, the client closing as soon as the request is out
        _reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(_get(query) * 3)
        writer.transport.abort()
    (head, body), _fate = await _exchange(server, _get(query, "Connection: close\r\n"), 1)
    assert head.startswith(b"HTTP/1.1 200 OK") and b"STATUS_SUCCESS" in body


async def test_a_large_answer_waits_for_a_client_that_does_not_read(plain: Plain) -> None:
    """aiohttp drains after each answer; so does a whole answer: pipelined requests for an answer far larger than
    the socket buffers are not all answered into memory while the client reads nothing."""
    answered: list[int] = []
    big = b"x" * (4 << 20)

    async def handler(request: web.Request) -> web.StreamResponse:
        answered.append(1)
        return whole_answer.WholeAnswer(200, big, "application/octet-stream", {"X-Request-Id": "r"})

    app = web.Application()
    app.router.add_get("/big", handler)
    server = await plain(app)
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n" * 10)
    await asyncio.sleep(0.5)
    held = len(answered)
    assert held < 10
    for _ in range(10):  # reading lets the rest through, each whole
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert b"Content-Length: 4194304\r\n" in head
        assert await asyncio.wait_for(reader.readexactly(len(big)), 5) == big
    assert len(answered) == 10
    writer.close()


@pytest.mark.parametrize(
    ("method", "status", "headers"),
    [
        ("HEAD", 200, {}),
        ("GET", 204, {}),
        ("GET", 304, {}),
        ("GET", 599, {}),
        ("GET", 200, {"X-Request-Id": "a\r\nSet-Cookie: x=1"}),
        ("GET", 200, {"X-Bad\n": "1"}),
        # a lone surrogate (an operator's YAML escape in a quota's name): str.encode refuses it, aiohttp drops it
        ("GET", 200, {"RateLimit-Policy": 'q;comment="line.[!\ud800]*"'}),
    ],
)
def test_what_is_left_to_aiohttps_response(method: str, status: int, headers: dict[str, str]) -> None:
    """No body by rule, an unknown status, or a control character that aiohttp refuses as header injection."""
    request = make_mocked_request(method, "/x")
    response = whole_answer.answer(request, status, b"" if status in (204, 304) else BODY, "application/json", headers)
    assert type(response) is web.Response
    assert type(whole_answer.answer(request, 200, BODY, "application/json", {"X-Request-Id": "ok"})) is (
        whole_answer.WholeAnswer if method == "GET" else web.Response
    )


class _Recording(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sends: list[bytes] = []

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default

    def is_closing(self) -> bool:
        return False

    def write(self, data: Any) -> None:
        self.sends.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        self.sends.append(b"".join(list_of_data))  # one send, as asyncio's writelines is


@pytest.mark.parametrize("size", [0, 100, 70_000, 3 << 20])
async def test_an_answer_of_any_size_is_one_write(size: int) -> None:
    """Headers and body in one send: two would be two packets (TCP_NODELAY), the headers alone in the first."""
    transport = _Recording()
    protocol = type("Protocol", (), {"transport": transport, "_paused": False})()
    writer = StreamWriter(protocol, asyncio.get_running_loop())  # type: ignore[arg-type]
    request = make_mocked_request("GET", "/x", transport=transport, writer=writer)
    body = b"y" * size
    response = whole_answer.WholeAnswer(200, body, "application/json", {"X-Request-Id": "r"})
    await response.prepare(request)
    await response.write_eof()
    assert len(transport.sends) == 1 and transport.sends[0].endswith(b"\r\n\r\n" + body)
    assert response.body_length == len(transport.sends[0])


def test_the_gateways_applications_prepare_no_answer_by_signal(policies_dir: Path, tmp_path: Path) -> None:
    """A whole answer runs no on_response_prepare signal: the gateway registers none (its Server header is set
    once, gateway.httpserver), and a new one would be skipped for admin answers."""
    config = make_config("http://127.0.0.1:9", policies_dir, tmp_path)
    live = Live(build_state(config))
    apps: list[Any] = [build_app(config, live), build_admin_app(live)]
    assert [len(app.on_response_prepare) for app in apps] == [0, 0]

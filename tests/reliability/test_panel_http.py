"""gateway.panel_http against scripted panels on real sockets: answers framed every way HTTP allows, arriving in
pieces with pauses, cut, reset, silent, oversized, compressed; connections kept, reused and given up."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import socket
import ssl
import struct
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway import panel_http
from gateway.app import build_app
from gateway.bodyread import TooLarge
from gateway.panel_http import AnswerCut, ConnectFailed, NotHttp, PanelHttp, Reply
from gateway.settings import ConfigError, http_url
from gateway.upstream_settings import Origin, parse_origin
from tests.conftest import KEYS, AiohttpClient, make_config
from tests.reliability import rawhttp
from tests.reliability.conftest import XM_PATH
from tests.reliability.rawhttp import split

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Panel"], Awaitable[None]]


@dataclass
class Panel:
    """A listener that reads each request whole and answers it as `script` says."""

    script: Script
    connections: int = 0
    closed: int = 0  # connections ended (by either side)
    requests: list[bytes] = field(default_factory=list)
    server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    def origin(self, path: str = "") -> Origin:
        return parse_origin(f"http://127.0.0.1:{self.port}{path}")

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)  # fmt: skip
                self.requests.append(head + await reader.readexactly(length))
                await self.script(reader, writer, self)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the gateway's side closed, the script cut the connection, or the test is over
        finally:
            self.closed += 1
            writer.close()


@pytest.fixture
async def start() -> AsyncIterator[Callable[[Script], Awaitable[Panel]]]:
    panels: list[Panel] = []

    async def start(script: Script) -> Panel:
        panel = Panel(script)
        panel.server = await asyncio.start_server(panel.serve, "127.0.0.1", 0)
        panels.append(panel)
        return panel

    yield start
    for panel in panels:
        assert panel.server is not None
        panel.server.close()


def answers(*pieces: bytes, pause: float = 0.0, then: str = "") -> Script:
    """Write `pieces` with `pause` between them; then "close", "reset", "hold" (silence) or nothing (keep)."""

    async def script(_: asyncio.StreamReader, writer: asyncio.StreamWriter, __: Panel) -> None:
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            if pause:
                await asyncio.sleep(pause)
        if then == "close":
            writer.close()
            raise ConnectionError("closed on purpose")
        if then == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            raise ConnectionError("reset on purpose")
        if then == "hold":
            await asyncio.sleep(3600)

    return script


def ok(body: bytes, *headers: str) -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def chunked(body: bytes, size: int = 7) -> bytes:
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"".join(rawhttp.chunked(split(body, size)))


BODY = b'{"status":"STATUS_SUCCESS","data":[' + b",".join(b'{"id":"%d"}' % i for i in range(300)) + b"]}"


async def call(http: PanelHttp, origin: Origin, *, target: str = "/c/admin/index.php", body: bytes | None = b"a=1",
               headers: tuple[tuple[str, str], ...] = (), timeout: float = 2.0, limit: int = 1 << 20) -> Reply:
    return await http.exchange(origin, "POST", target, body=body, headers=headers, timeout=timeout,
                               connect_timeout=1.0, limit=limit)  # fmt: skip


@pytest.mark.parametrize("framing", ["length", "chunked", "until-close", "identity"])
@pytest.mark.parametrize("piece", [1, 5, 777])
async def test_an_answer_in_pieces_with_pauses_is_read_whole(start: Callable[[Script], Awaitable[Panel]],
                                                             framing: str, piece: int) -> None:  # fmt: skip
    raw = {"length": ok(BODY), "chunked": chunked(BODY),
           "until-close": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + BODY,
           "identity": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n" + BODY}[framing]  # fmt: skip
    panel = await start(answers(*split(raw, piece), pause=0.001 if piece > 1 else 0.0,
                                then="close" if framing in ("until-close", "identity") else ""))  # fmt: skip
    http = PanelHttp()
    reply = await call(http, panel.origin(), timeout=20.0)
    assert (reply.status, reply.body) == (200, BODY)
    await http.close()


async def test_a_kept_alive_connection_is_reused_and_one_that_closes_is_not(
    start: Callable[[Script], Awaitable[Panel]],
) -> None:
    kept = await start(answers(ok(b"{}")))
    http = PanelHttp()
    for _ in range(3):
        assert (await call(http, kept.origin())).body == b"{}"
    assert kept.connections == 1
    closing = await start(answers(ok(b"{}", "Connection: close")))
    for _ in range(3):
        assert (await call(http, closing.origin())).body == b"{}"
    assert closing.connections == 3
    old = await start(answers(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}"))  # HTTP/1.0: not kept alive
    for _ in range(2):
        assert (await call(http, old.origin())).body == b"{}"
    assert old.connections == 2
    await http.close()


async def test_a_connection_the_panel_closed_while_idle_is_not_used(
    start: Callable[[Script], Awaitable[Panel]],
) -> None:
    panel = await start(answers(ok(b"{}"), then="close"))  # keep-alive promised, then closed after the answer
    http = PanelHttp()
    for _ in range(3):
        assert (await call(http, panel.origin())).body == b"{}"
        await asyncio.sleep(0.05)  # the close arrives
    assert panel.connections == 3
    await http.close()


async def test_an_idle_connection_is_closed_at_its_age(start: Callable[[Script], Awaitable[Panel]],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(panel_http, "IDLE_SECONDS", 0.05)
    panel = await start(answers(ok(b"{}")))
    http = PanelHttp()
    await call(http, panel.origin())
    await asyncio.sleep(0.02)
    await call(http, panel.origin())  # reused while young
    assert (panel.connections, panel.closed) == (1, 0)
    await asyncio.sleep(0.15)
    assert panel.closed == 1  # closed by the pool, with no call to notice it
    await call(http, panel.origin())
    assert panel.connections == 2
    await http.close()


async def test_a_call_in_flight_when_the_pool_closes_closes_its_connection(
    start: Callable[[Script], Awaitable[Panel]],
) -> None:
    panel = await start(answers(b"", ok(b"{}"), pause=0.1))
    http = PanelHttp()
    flight = asyncio.create_task(call(http, panel.origin()))
    await asyncio.sleep(0.05)
    await http.close()
    assert (await flight).body == b"{}"
    for _ in range(100):
        if panel.closed:
            break
        await asyncio.sleep(0.02)
    assert panel.closed == 1  # not kept in a pool nobody will close again


# (an answer that ends with its connection is whole when it closes: only a reset cuts it)
@pytest.mark.parametrize(("framing", "how"), [("length", "close"), ("length", "reset"), ("chunked", "close"),
                                              ("chunked", "reset"), ("until-close", "reset")])  # fmt: skip
async def test_an_answer_cut_short_is_an_error(start: Callable[[Script], Awaitable[Panel]], how: str,
                                               framing: str) -> None:  # fmt: skip
    raw = {"length": ok(BODY), "chunked": chunked(BODY), "until-close": b"HTTP/1.1 200 OK\r\n\r\n" + BODY}[framing]
    panel = await start(answers(raw[: len(raw) // 2], then=how))
    http = PanelHttp()
    with pytest.raises(AnswerCut):
        await call(http, panel.origin())
    await http.close()


async def test_a_panel_that_closes_without_a_byte_is_an_error(start: Callable[[Script], Awaitable[Panel]]) -> None:
    panel = await start(answers(then="close"))
    http = PanelHttp()
    with pytest.raises(AnswerCut):
        await call(http, panel.origin())
    assert len(panel.requests) == 1  # it had the request: a write may have been applied
    await http.close()


@pytest.mark.parametrize("after", [b"", b"HTTP/1.1 200 OK\r\nContent-Len"])
async def test_silence_is_a_timeout_and_the_connection_is_given_up(start: Callable[[Script], Awaitable[Panel]],
                                                                   after: bytes) -> None:  # fmt: skip
    panel = await start(answers(after, then="hold"))
    http = PanelHttp()
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(TimeoutError):
        await call(http, panel.origin(), timeout=0.3)
    assert 0.25 < loop.time() - began < 1.5
    panel.script = answers(ok(b"{}"))
    assert (await call(http, panel.origin())).body == b"{}"
    assert panel.connections == 2  # the silent one was closed, not reused
    await http.close()


@pytest.mark.parametrize("raw", [b"hello there\r\n\r\n", b"HTTP/1.1 abc OK\r\n\r\n", b"\x16\x03\x01\x02\x00\x01"])
async def test_what_is_not_http_is_an_error(start: Callable[[Script], Awaitable[Panel]], raw: bytes) -> None:
    panel = await start(answers(raw, then="hold"))
    http = PanelHttp()
    with pytest.raises(NotHttp):
        await call(http, panel.origin())
    await http.close()


async def test_a_declared_length_past_the_limit_is_refused_at_once(start: Callable[[Script], Awaitable[Panel]]) -> None:
    panel = await start(answers(b"HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n" + b"x" * 1000, then="hold"))
    http = PanelHttp()
    with pytest.raises(TooLarge):
        await call(http, panel.origin(), limit=100_000, timeout=5.0)  # refused before the rest (never sent)
    await http.close()


async def test_a_body_in_one_byte_chunks_is_read_whole_in_little_memory(
    start: Callable[[Script], Awaitable[Panel]],
) -> None:
    body = bytes(range(256)) * 512  # 128 KiB, each byte its own chunk
    panel = await start(answers(chunked(body, size=1)))
    http = PanelHttp()
    tracemalloc.start()
    try:
        reply = await call(http, panel.origin(), timeout=20.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert reply.body == body
    # one buffer (and asyncio's 256 KiB reads), not a bytes object per chunk: ~40x the body, 5 MB
    assert peak < 1 << 20, peak
    await http.close()


@pytest.mark.parametrize("trailer", [b"X-T: " + b"t" * 200_000, b"X-T: 1\r\n" * 20_000])
async def test_endless_trailers_are_refused(start: Callable[[Script], Awaitable[Panel]], trailer: bytes) -> None:
    panel = await start(answers(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n",
                                *split(trailer, 4096), then="hold"))  # fmt: skip
    http = PanelHttp()
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(TooLarge):
        await call(http, panel.origin(), timeout=10.0)
    assert loop.time() - began < 5.0  # refused as it comes, not at the timeout


async def test_trailers_neither_encode_nor_delay(start: Callable[[Script], Awaitable[Panel]]) -> None:
    raw = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n"
           b"Content-Encoding: gzip\r\nRetry-After: 3600\r\n\r\n")  # fmt: skip
    panel = await start(answers(raw))
    http = PanelHttp()
    assert await call(http, panel.origin()) == Reply(200, b"{}")
    await http.close()


async def test_a_chunked_answer_past_the_limit_is_refused(start: Callable[[Script], Awaitable[Panel]]) -> None:
    panel = await start(answers(chunked(b"y" * 300_000, size=4096)))
    http = PanelHttp()
    with pytest.raises(TooLarge):
        await call(http, panel.origin(), limit=100_000)
    await http.close()


async def test_an_endless_header_is_refused(start: Callable[[Script], Awaitable[Panel]]) -> None:
    panel = await start(answers(b"HTTP/1.1 200 OK\r\nX-Junk: ", *[b"j" * 4096] * 40, then="hold"))
    http = PanelHttp()
    with pytest.raises(TooLarge):
        await call(http, panel.origin())
    await http.close()


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw deflate"])
async def test_a_compressed_answer_is_inflated(start: Callable[[Script], Awaitable[Panel]], encoding: str) -> None:
    packed = {"gzip": gzip.compress(BODY), "deflate": zlib.compress(BODY),
              "raw deflate": zlib.compress(BODY, wbits=-15)}[encoding]  # fmt: skip
    name = encoding.split()[-1]
    panel = await start(answers(*split(ok(packed, f"Content-Encoding: {name}"), 100), pause=0.001))
    http = PanelHttp()
    reply = await call(http, panel.origin())
    assert reply.body == BODY
    assert b"Accept-Encoding: gzip, deflate" in panel.requests[0]
    await http.close()


async def test_a_compressed_answer_is_held_to_the_limit_inflated(
    start: Callable[[Script], Awaitable[Panel]],
) -> None:
    bomb = gzip.compress(b"\0" * 5_000_000)  # ~5 KB that inflate to 5 MB
    panel = await start(answers(ok(bomb, "Content-Encoding: gzip")))
    http = PanelHttp()
    with pytest.raises(TooLarge):
        await call(http, panel.origin(), limit=1_000_000)
    for bad in (b"not gzip at all", gzip.compress(BODY)[:-30]):  # not gzip; gzip cut short
        broken = await start(answers(ok(bad, "Content-Encoding: gzip")))
        with pytest.raises(NotHttp):
            await call(http, broken.origin())
    await http.close()


@pytest.mark.parametrize("raw", [b"HTTP/1.1 204 No Content\r\nContent-Encoding: gzip\r\n\r\n",
                                 b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n"])
async def test_an_empty_body_is_empty_in_any_coding(start: Callable[[Script], Awaitable[Panel]], raw: bytes) -> None:
    panel = await start(answers(raw))
    http = PanelHttp()
    assert (await call(http, panel.origin())).body == b""
    await http.close()


async def test_an_interim_answer_is_skipped(start: Callable[[Script], Awaitable[Panel]]) -> None:
    panel = await start(answers(b"HTTP/1.1 100 Continue\r\n\r\n", ok(b"{}", "Retry-After: 7")))
    http = PanelHttp()
    reply = await call(http, panel.origin())
    assert (reply.status, reply.body, reply.retry_after) == (200, b"{}", "7")
    await http.close()


async def test_an_answer_without_a_body_and_an_error_status(start: Callable[[Script], Awaitable[Panel]]) -> None:
    panel = await start(answers(b"HTTP/1.1 204 No Content\r\n\r\n"))
    http = PanelHttp()
    assert (await call(http, panel.origin())) == Reply(204, b"")
    panel.script = answers(b"HTTP/1.1 503 Busy\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n")
    assert (await call(http, panel.origin())) == Reply(503, b"", "2")
    assert panel.connections == 1
    await http.close()


async def test_a_second_answer_to_one_request_retires_the_connection(
    start: Callable[[Script], Awaitable[Panel]],
) -> None:
    panel = await start(answers(ok(b"{}") + ok(b"[]")))  # two answers for one request: out of step from here on
    http = PanelHttp()
    assert (await call(http, panel.origin())).body == b"{}"
    panel.script = answers(ok(b"[1]"))
    await asyncio.sleep(0.05)
    assert (await call(http, panel.origin())).body == b"[1]"  # never the stray [] on the old connection
    assert panel.connections == 2
    await http.close()


async def test_the_request_as_the_panel_reads_it(start: Callable[[Script], Awaitable[Panel]]) -> None:
    panel = await start(answers(ok(b"{}", "Set-Cookie: PHPSESSID=abc")))
    http = PanelHttp(user_agent="panelgate-test")
    origin = parse_origin(f"http://admin:s%40cret@127.0.0.1:{panel.port}/base/")
    await call(http, origin, target="/c/admin/index.php", body=b"api_key=k&action=get_lines",
               headers=(("X-Request-Id", "req-1"),))  # fmt: skip
    await call(http, origin, body=None)
    first, second = panel.requests
    head, _, body = first.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /base/c/admin/index.php HTTP/1.1"
    assert f"Host: 127.0.0.1:{panel.port}".encode() in lines
    assert b"User-Agent: panelgate-test" in lines
    assert b"X-Request-Id: req-1" in lines
    assert b"Authorization: Basic YWRtaW46c0BjcmV0" in lines  # admin:s@cret
    assert b"Content-Length: 26" in lines
    assert body == b"api_key=k&action=get_lines"
    assert b"Cookie" not in second  # what a panel sets is never sent back on anyone's call
    assert b"Content-Length" not in second
    with pytest.raises(ValueError, match="line break"):
        await call(http, origin, headers=(("X-Request-Id", "a\r\nX-Evil: 1"),))
    await http.close()


def test_origins_from_urls() -> None:
    assert parse_origin("https://panel.example.com") == Origin(True, "panel.example.com", 443, "panel.example.com")
    assert parse_origin("http://panel:80/") == Origin(False, "panel", 80, "panel")
    assert parse_origin("http://[::1]:8080/x y") == Origin(False, "::1", 8080, "[::1]:8080", "/x%20y")
    assert parse_origin("http://u:p@h:81").authorization == "Basic dTpw"
    assert "p@" not in repr(parse_origin("http://u:secret@h:81")) and "dTpz" not in repr(parse_origin("http://u:s@h"))
    assert parse_origin("http://bücher.example:81").authority == "xn--bcher-kva.example:81"  # as DNS and Host spell it
    with pytest.raises(ConfigError, match="not a host name"):
        http_url("http://" + "é" * 64 + ".example", "upstreams.main.url")


async def test_a_refused_connection_is_connect_failed() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: refused
    http = PanelHttp()
    with pytest.raises(ConnectFailed):
        await call(http, parse_origin(f"http://127.0.0.1:{port}"))
    await http.close()


async def test_calls_past_the_connections_of_one_panel_wait_for_one(
    start: Callable[[Script], Awaitable[Panel]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(panel_http, "PER_ORIGIN", 1)
    release = asyncio.Event()

    async def slow(_: asyncio.StreamReader, writer: asyncio.StreamWriter, __: Panel) -> None:
        await release.wait()
        writer.write(ok(b"{}"))
        await writer.drain()

    panel = await start(slow)
    http = PanelHttp()
    first = asyncio.create_task(call(http, panel.origin(), timeout=5.0))
    await asyncio.sleep(0.05)
    with pytest.raises(ConnectFailed, match="no free connection"):  # within its connect timeout (1 s)
        await call(http, panel.origin(), timeout=5.0)
    second = asyncio.create_task(call(http, panel.origin(), timeout=5.0))
    await asyncio.sleep(0.05)
    release.set()
    assert [r.body for r in await asyncio.gather(first, second)] == [b"{}", b"{}"]
    assert panel.connections == 1
    # a call cancelled while it waits for its answer gives its connection up, and its slot back
    release.clear()
    cancelled = asyncio.create_task(call(http, panel.origin(), timeout=5.0))
    await asyncio.sleep(0.05)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    release.set()
    assert (await call(http, panel.origin())).body == b"{}"
    assert panel.connections == 2
    await http.close()


def _certificate(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))  # fmt: skip
    cert_path, key_path = tmp / "panel.crt", tmp / "panel.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


async def test_https_panels_and_their_certificates(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    panel = Panel(answers(*split(chunked(BODY), 333), pause=0.001))
    panel.server = await asyncio.start_server(panel.serve, "127.0.0.1", 0, ssl=server_tls)
    origin = parse_origin(f"https://127.0.0.1:{panel.port}")
    with pytest.raises(ConnectFailed):  # a certificate no authority signed: refused, as aiohttp's client did
        await call(PanelHttp(), origin)
    trusting = PanelHttp(tls=ssl.create_default_context(cafile=str(cert)))
    for _ in range(2):
        assert (await call(trusting, origin)).body == BODY
    assert panel.connections == 1  # kept alive (the refused handshake never became a connection)
    await trusting.close()
    panel.server.close()


def closes_each_connections_second_request(answer: bytes) -> Script:
    """Answer the first request of each connection (kept alive), close the connection on reading the second
    unanswered: a panel's keep-alive timeout (Apache's default is 5 s) ending just as a request was sent on it."""

    seen: dict[asyncio.StreamWriter, int] = {}

    async def script(_: asyncio.StreamReader, writer: asyncio.StreamWriter, __: Panel) -> None:
        seen[writer] = seen.get(writer, 0) + 1
        if seen[writer] == 2:
            writer.close()
            raise ConnectionError("closed on purpose")
        writer.write(answer)
        await writer.drain()

    return script


async def test_a_read_on_a_connection_the_panel_closed_as_it_was_reused_is_sent_again_a_write_is_not(
    start: Callable[[Script], Awaitable[Panel]],
) -> None:
    panel = await start(closes_each_connections_second_request(ok(b"{}")))
    http = PanelHttp()

    async def read() -> Reply:
        return await http.exchange(panel.origin(), "GET", "/r", body=None, timeout=2.0, connect_timeout=1.0,
                                   limit=1 << 20, idempotent=True)  # fmt: skip

    assert (await read()).body == b"{}"
    assert (await read()).body == b"{}"  # the kept connection lost it: sent again on a new one
    assert (panel.connections, len(panel.requests)) == (2, 3)
    with pytest.raises(AnswerCut):  # a write: the panel may have applied it, so it is not sent again
        await call(http, panel.origin())
    assert (panel.connections, len(panel.requests)) == (2, 4)
    await http.close()


async def test_the_gateway_reads_through_a_panel_that_closes_kept_connections_as_they_are_reused(
    start: Callable[[Script], Awaitable[Panel]], aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    """End to end: every read succeeds (the breaker never hears of it); a write is reported, sent once."""
    panel = await start(closes_each_connections_second_request(ok(b'{"status":"STATUS_SUCCESS","data":[]}')))
    client = await aiohttp_client(build_app(make_config(f"http://127.0.0.1:{panel.port}", policies_dir, tmp_path)))
    for _ in range(4):
        reply = await client.get(XM_PATH, params={"api_key": KEYS["admin"], "action": "get_packages"})
        assert await reply.json() == []  # the panel's empty list, never STATUS_UPSTREAM_UNAVAILABLE
    before = len(panel.requests)
    reply = await client.post(XM_PATH, data={"api_key": KEYS["admin"], "action": "create_line",
                                             "username": "stale1", "password": "pw-stale-1"})  # fmt: skip
    assert (await reply.json())["status"] == "STATUS_UPSTREAM_UNAVAILABLE"
    assert sum(b"create_line" in r for r in panel.requests[before:]) == 1


async def test_a_panel_whose_name_does_not_resolve_does_not_hold_up_the_others(
    start: Callable[[Script], Awaitable[Panel]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A panel's DNS that hangs (a resolver that does not answer: glibc waits 5 s a try) while calls to it keep
    coming: each call gives up at its connect timeout, but the lookup it started went on in one of the event
    loop's few executor threads; 40 of them held every thread, and a healthy panel, addressed by name too, could
    not resolve within its own connect timeout."""
    import time as time_module

    real = socket.getaddrinfo

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if host == "dead-dns.test":
            time_module.sleep(1.5)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    panel = await start(answers(ok(b"{}")))
    http = PanelHttp()
    dead = parse_origin("http://dead-dns.test:8080")
    stuck = [asyncio.ensure_future(http.exchange(dead, "GET", "/", body=None, timeout=0.2, connect_timeout=0.2,
                                                 limit=1 << 20)) for _ in range(40)]  # fmt: skip
    await asyncio.sleep(0.05)
    reply = await http.exchange(parse_origin(f"http://localhost:{panel.port}"), "GET", "/", body=None, timeout=1.0,
                                connect_timeout=1.0, limit=1 << 20)  # fmt: skip
    assert reply.body == b"{}"
    for failed in await asyncio.gather(*stuck, return_exceptions=True):
        assert isinstance(failed, ConnectFailed)
    await http.close()

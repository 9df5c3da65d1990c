"""`panelgate serve` as operators run it: a real process, hot reload, workers, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import ClientSession, web

from gateway.accesslog import redact
from gateway.server import SHUTDOWN_GRACE
from gateway.sim.player_data import add_line
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, REPO, UPSTREAM_KEY, AiohttpServer
from tests.serving import (
    KEY_A,
    KEY_B,
    Server,
    free_port,
    free_port_pair,
    pid_listening_on,
    running,
    stop,
    wait_ready,
    write_config,
)


@pytest.fixture
async def sim_url(aiohttp_server: AiohttpServer) -> str:
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    server = await aiohttp_server(sim.app())
    return str(server.make_url("")).rstrip("/")


async def test_reload_valid_and_invalid_config_under_load(sim_url: str, tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    port, admin = free_port(), free_port()
    write_config(config, sim_url, port, admin, [KEY_A])
    async with running(config, tmp_path) as server, ClientSession() as session:
        answers: list[str] = []
        done = asyncio.Event()

        async def load() -> None:
            while not done.is_set():
                answers.append((await server.call(session, KEY_A))["status"])

        workers = [asyncio.create_task(load()) for _ in range(4)]
        try:
            assert (await server.call(session, KEY_B))["status"] == "STATUS_FAILURE"
            write_config(config, sim_url, port, admin, [KEY_A, KEY_B])
            assert await _reload(tmp_path, config) == 0
            await _eventually(lambda: server.call(session, KEY_B), "STATUS_SUCCESS")
            config.write_text("upstreams: {main: {dialect: nope}}\n")
            # `panelgate reload` refuses to signal with an invalid file; a raw SIGHUP must not hurt either.
            assert await _reload(tmp_path, config) == 2
            server.proc.send_signal(signal.SIGHUP)
            await asyncio.sleep(0.5)
            assert (await server.call(session, KEY_B))["status"] == "STATUS_SUCCESS"
        finally:
            done.set()
            await asyncio.gather(*workers)
        assert len(answers) > 20
        assert set(answers) == {"STATUS_SUCCESS"}, "a request failed during a reload"


async def _reload(tmp_path: Path, config: Path) -> int:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "reload", "-c", str(config), "--pid-file", str(tmp_path / "panelgate.pid"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    return await proc.wait()


async def _eventually(call: Any, status: str) -> None:
    for _ in range(50):
        if (await call())["status"] == status:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never reached {status}")


@contextlib.asynccontextmanager
async def _two_workers(sim_url: str, tmp_path: Path) -> AsyncIterator[tuple[Server, int]]:
    """`serve --workers 2`, both workers ready; with the first worker's operator port."""
    config = tmp_path / "gateway.yaml"
    port, admin = free_port(), free_port_pair()
    write_config(config, sim_url, port, admin, [KEY_A])
    async with running(config, tmp_path, "--workers", "2") as server:
        await wait_ready(admin + 1)
        yield server, admin


async def test_two_workers_share_the_port(sim_url: str, tmp_path: Path) -> None:
    async with _two_workers(sim_url, tmp_path) as (server, admin), ClientSession() as session:
        for _ in range(40):
            async with ClientSession() as fresh:  # new connections, so the kernel spreads them over workers
                assert (await server.call(fresh, KEY_A))["status"] == "STATUS_SUCCESS"
        served = []
        for worker_admin in (admin, admin + 1):
            async with session.get(f"http://127.0.0.1:{worker_admin}/metrics") as resp:
                text = await resp.text()
            served.append(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                              if line.startswith("panelgate_requests_total{")))
        assert sum(served) == 40
        assert all(n > 0 for n in served), f"one worker served nothing: {served}"
    # no redis.url in this config: start-up says what each worker keeps for itself (gateway.server)
    log = (tmp_path / "server.log").read_text()
    assert "--workers 2 without redis.url for idempotent writes" in log, log


async def _worker_pid(port: int, other_than: int = 0) -> int:
    for _ in range(200):
        with contextlib.suppress(AssertionError):
            pid = pid_listening_on(port)
            if pid != other_than:
                return pid
        await asyncio.sleep(0.05)
    raise AssertionError(f"no new worker on port {port}")


async def test_a_killed_worker_is_replaced_logged_and_counted(sim_url: str, tmp_path: Path) -> None:
    async with _two_workers(sim_url, tmp_path) as (server, admin), ClientSession() as session:
        pid = await _worker_pid(admin + 1)
        for replacement in (1, 2):
            os.kill(pid, signal.SIGKILL)
            pid = await _worker_pid(admin + 1, other_than=pid)
            await wait_ready(admin + 1)
            async with session.get(f"http://127.0.0.1:{admin + 1}/metrics") as resp:
                assert f'panelgate_worker_restarts_total{{worker="1"}} {replacement:.1f}' in await resp.text()
        assert (await server.call(session, KEY_A))["status"] == "STATUS_SUCCESS"
    log = (tmp_path / "server.log").read_text()
    assert "worker 1 (pid" in log and "died (signal SIGKILL); replacing it in 0.5s (replacement 1)" in log
    assert "replacing it in 1.0s (replacement 2)" in log  # the back-off grows while the slot dies young
    assert server.proc.returncode == 0  # SIGTERM afterwards still stops everything


async def test_a_worker_that_keeps_crashing_is_replaced_with_a_back_off(tmp_path: Path) -> None:
    """Without a back-off a worker that dies at start-up would be restarted in a tight loop."""
    script = ("import logging; logging.basicConfig(level=logging.INFO); from gateway.workers import Supervisor; "
              "from tests.serving import crash_at_once; Supervisor('unused.yaml', 1, False, crash_at_once).run()")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, cwd=REPO,
                                                stderr=asyncio.subprocess.PIPE)  # fmt: skip
    await asyncio.sleep(5)
    proc.terminate()
    _, err = await asyncio.wait_for(proc.communicate(), 10)
    replaced = err.decode().count("died (exit code 3)")
    assert 2 <= replaced <= 5, err.decode()[-2000:]  # 0.5 s, 1 s, 2 s, 4 s apart
    assert proc.returncode == 0


async def test_sigterm_lets_an_in_flight_call_finish(aiohttp_server: AiohttpServer, tmp_path: Path) -> None:
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    slow = web.Application()

    async def delayed(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1.5)
        async with ClientSession() as session, session.post(
            str(inner.make_url(request.path)), data=await request.post()
        ) as resp:
            return web.Response(body=await resp.read(), content_type="application/json")

    inner = await aiohttp_server(sim.app())
    slow.router.add_post("/{tail:.*}", delayed)
    outer = await aiohttp_server(slow)
    config = tmp_path / "gateway.yaml"
    write_config(config, str(outer.make_url("")).rstrip("/"), free_port(), free_port(), [KEY_A])
    async with running(config, tmp_path) as server, ClientSession() as session:
        call = asyncio.create_task(server.call(session, KEY_A, "get_lines"))
        await asyncio.sleep(0.5)
        server.proc.send_signal(signal.SIGTERM)
        body = await asyncio.wait_for(call, 15)
        assert body["status"] == "STATUS_SUCCESS"
        assert await asyncio.wait_for(server.proc.wait(), 15) == 0
        output = (tmp_path / "server.log").read_text()
        assert '"status":200' in output  # the JSON access log line of the call
        assert KEY_A not in output and UPSTREAM_KEY not in output


async def test_sigterm_is_not_held_past_the_grace_by_a_client_that_stops_reading(
    aiohttp_server: AiohttpServer, tmp_path: Path
) -> None:
    """Answers pipelined to a client that reads none of them: the gateway waits for its socket to drain, and
    aiohttp's shutdown waited its timeout twice (60 s with the 30 s default, measured). The whole is the grace."""
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    for n in range(3000):  # answers of ~1 MB: a few fill every buffer between the gateway and this client
        add_line(sim.tables, f"shutdown{n}", f"pw{n}", 1)
    inner = await aiohttp_server(sim.app())
    config = tmp_path / "gateway.yaml"
    grace = 4.0
    write_config(config, str(inner.make_url("")).rstrip("/"), free_port(), free_port(), [KEY_A],
                 client_timeouts={"shutdown": grace})  # fmt: skip
    async with running(config, tmp_path) as server:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, ("127.0.0.1", server.port))
        target = f"/{ACCESS_CODE}/admin/index.php?api_key={KEY_A}&action=get_lines&limit=5000"
        await loop.sock_sendall(sock, f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode() * 20)
        await asyncio.sleep(1.5)  # answered until the socket is full, then waiting on it
        signalled = loop.time()
        server.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(server.proc.wait(), 3 * grace) == 0
        assert grace / 2 - 0.5 < loop.time() - signalled < grace + 1.5
        sock.close()


async def test_sigterm_ends_a_live_stream_cleanly(aiohttp_server: AiohttpServer, tmp_path: Path) -> None:
    """An endless live stream never finishes by itself: SIGTERM must end it, not wait out the shutdown grace."""
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    inner = await aiohttp_server(sim.app())
    config = tmp_path / "gateway.yaml"
    write_config(config, str(inner.make_url("")).rstrip("/"), free_port(), free_port(), [KEY_A])
    line = sim.tables["lines"][3]
    async with running(config, tmp_path) as server, ClientSession() as session:
        url = f"http://127.0.0.1:{server.port}/live/{line['username']}/{line['password']}/5.ts"
        async with session.get(url) as resp:
            assert resp.status == 200
            got = 0
            while got < 1_000_000:
                got += len(await resp.content.read(65536))
            assert sim.player.open_streams == 1
            loop = asyncio.get_running_loop()
            signalled = loop.time()
            server.proc.send_signal(signal.SIGTERM)

            async def drain() -> None:
                with contextlib.suppress(aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError):
                    while await resp.content.read(65536):
                        pass

            # the player sees its stream end (a clean end of the body, or the connection closing), not a hang
            await asyncio.wait_for(drain(), SHUTDOWN_GRACE / 3)
        assert await asyncio.wait_for(server.proc.wait(), SHUTDOWN_GRACE / 3) == 0
        assert loop.time() - signalled < SHUTDOWN_GRACE / 3
        for _ in range(100):  # the panel's connection is released (its handler saw the gateway go)
            if sim.player.open_streams == 0:
                break
            await asyncio.sleep(0.05)
        assert sim.player.open_streams == 0
        output = (tmp_path / "server.log").read_text()
        assert "Traceback" not in output and line["password"] not in output


async def test_sigterm_ends_a_stream_whose_player_paused(aiohttp_server: AiohttpServer, tmp_path: Path) -> None:
    """Live TV on pause: the player stops reading, the gateway waits for its socket to drain. SIGTERM must not
    wait on that player (nor out the whole grace)."""
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    inner = await aiohttp_server(sim.app())
    config = tmp_path / "gateway.yaml"
    write_config(config, str(inner.make_url("")).rstrip("/"), free_port(), free_port(), [KEY_A])
    line = sim.tables["lines"][3]
    async with running(config, tmp_path) as server:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # a small window: the pause is felt at once
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, ("127.0.0.1", server.port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=16384)
        writer.write(f"GET /live/{line['username']}/{line['password']}/5.ts HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        got = 0
        while got < 200_000:
            got += len(await reader.read(16384))
        await asyncio.sleep(1.5)  # paused: the gateway's writes now wait on this socket
        assert sim.player.open_streams == 1
        signalled = loop.time()
        server.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(server.proc.wait(), SHUTDOWN_GRACE / 3) == 0
        assert loop.time() - signalled < SHUTDOWN_GRACE / 3
        writer.close()
        output = (tmp_path / "server.log").read_text()
        assert "Traceback" not in output and line["password"] not in output


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        ("/live/alice/s3cret/12.ts", "", "/live/alice/***/12.ts"),
        ("/alice/s3cret/12.ts", "", "/alice/***/12.ts"),
        ("/timeshift/alice/s3cret/60/2026-01-01:10-00/12.ts", "", "/timeshift/alice/***/60/2026-01-01:10-00/12.ts"),
        ("/get.php", "username=alice&password=s3cret&type=m3u", "/get.php?username=alice&password=***&type=m3u"),
        ("/k/pg_secret/api.php", "action=user", "/k/***/api.php?action=user"),
        ("/c/admin/index.php", "api_key=pg_secret&action=get_lines", "/c/admin/index.php?api_key=***&action=get_lines"),
        # names PHP reads as api_key: `.`, space and an unmatched `[` in a name become `_`
        ("/c/", "api.key=pg_secret&action=x", "/c/?api.key=***&action=x"),
        ("/c/", "api+key=pg_secret", "/c/?api+key=***"),
        ("/c/", "api%5Bkey=pg_secret", "/c/?api[key=***"),
        ("/c/", "api_key[]=pg_secret", "/c/?api_key[]=***"),
        # nested credentials
        ("/api.php", "user_data[password]=s3cret&user_data[username]=bob",
         "/api.php?user_data[password]=***&user_data[username]=bob"),
        ("/api/line/new", "data%5Bpassword%5D=s3cret", "/api/line/new?data[password]=***"),
        # keys in paths that route nowhere
        ("/k/pg_secret", "", "/k/***"),
        ("/api/resellers/list/pg_secret/more", "", "/api/resellers/list/***"),
    ],
)
def test_access_log_redacts_credentials(path: str, query: str, expected: str) -> None:
    assert redact(path, query) == expected


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_reload_signalled_while_the_server_starts_does_not_kill_it(sim_url: str, tmp_path: Path,
                                                                          workers: int) -> None:  # fmt: skip
    """`panelgate reload` (SIGHUP to the pid file's process) as soon as the pid file exists, while the server (or
    its workers) is still starting: logrotate's postrotate or a deploy script may signal at any time. SIGHUP's
    default action ended the process before its handler was installed (the whole server with one process)."""
    config = tmp_path / "gateway.yaml"
    port, admin = free_port(), free_port_pair()
    write_config(config, sim_url, port, admin, [KEY_A])
    pid_file = tmp_path / "panelgate.pid"
    with (tmp_path / "server.log").open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "serve", "-c", str(config), "--pid-file", str(pid_file),
            "--workers", str(workers), stdout=log_file, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    try:
        for _ in range(400):
            if pid_file.exists() and pid_file.read_text().strip():
                break
            await asyncio.sleep(0.005)
        for _ in range(3):  # during start-up (the workers' too: spawned, importing)
            proc.send_signal(signal.SIGHUP)
            await asyncio.sleep(0.1)
        for worker in range(workers):
            await wait_ready(admin + worker)
        assert proc.returncode is None, (tmp_path / "server.log").read_text()[-2000:]
        for _ in range(100):  # held back, not lost: each process reloads once its handler is in place
            log = (tmp_path / "server.log").read_text()
            if log.count("config reloaded from") >= workers:
                break
            await asyncio.sleep(0.05)
        assert log.count("config reloaded from") >= workers, log[-2000:]
        assert "died" not in log
    finally:
        await stop(proc)


async def test_a_reload_that_cannot_be_put_in_force_is_refused_and_said_so(sim_url: str, tmp_path: Path) -> None:
    """A config that validates (`panelgate reload` signals) but cannot be put in force: its audit log cannot be
    opened. The running config keeps serving, and the log says the reload was refused (it said nothing but an
    asyncio 'Task exception was never retrieved' traceback, after `panelgate reload` had reported success)."""
    config = tmp_path / "gateway.yaml"
    port, admin = free_port(), free_port()
    write_config(config, sim_url, port, admin, [KEY_A])
    (tmp_path / "not-a-dir").write_text("")
    async with running(config, tmp_path) as server, ClientSession() as session:
        write_config(config, sim_url, port, admin, [KEY_A, KEY_B], audit_log=str(tmp_path / "not-a-dir" / "a.jsonl"))
        assert await _reload(tmp_path, config) == 0  # it validates
        log = ""
        for _ in range(50):
            log = (tmp_path / "server.log").read_text()
            if "reload refused" in log:
                break
            await asyncio.sleep(0.05)
        assert "reload refused, keeping the running config" in log, log[-2000:]
        assert "never retrieved" not in log
        assert (await server.call(session, KEY_A))["status"] == "STATUS_SUCCESS"
        assert (await server.call(session, KEY_B))["status"] == "STATUS_FAILURE"  # the old keys: nothing applied


@pytest.mark.parametrize("json_lines", [False, True])
@pytest.mark.parametrize(("target", "secret"), [("/live/alice/pa%2Fss%3Fw0rd/12.ts", "w0rd"),
                                                ("/alice/s3%2Fcret/12.ts", "cret"),
                                                ("/movie/alice/a%2Fb%2Fhunter2/7.mkv", "hunter2")])  # fmt: skip
def test_access_log_redacts_a_password_holding_an_encoded_slash(caplog: pytest.LogCaptureFixture, target: str,
                                                                secret: str, json_lines: bool,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """A player percent-encodes a `/` or `?` in a line's password; the access line was redacted from the decoded
    path, where the password is several segments: `/alice/s3/cret/12.ts` was logged whole."""
    from aiohttp.test_utils import make_mocked_request

    from gateway import accesslog
    from gateway.accesslog import AccessLogger, JsonAccessLogger

    monkeypatch.setattr(accesslog, "_sink", None)  # through `logging`, to be captured
    logger = logging.getLogger("panelgate.access.test")
    with caplog.at_level(logging.INFO, logger=logger.name):
        (JsonAccessLogger if json_lines else AccessLogger)(logger, "").log(
            make_mocked_request("GET", target), web.Response(), 0.01)
    assert caplog.text and "***" in caplog.text
    assert secret not in caplog.text, caplog.text

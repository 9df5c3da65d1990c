"""`panelgate serve` as a real process for the tests: a config file, the process, its readiness, its end."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import yaml
from aiohttp import ClientSession

from gateway.keys import digest_of
from tests.conftest import ACCESS_CODE, REPO, UPSTREAM_KEY

KEY_A, KEY_B = "server-test-key-a-000000000000", "server-test-key-b-000000000000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_pair() -> int:
    """A port whose successor is free too: worker N listens on the operator port + N."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two consecutive free ports")


def write_config(path: Path, upstream_url: str, port: int, admin_port: int, keys: list[str],
                 **extra: Any) -> None:  # fmt: skip
    path.write_text(
        yaml.safe_dump(
            {
                "listen": {"host": "127.0.0.1", "port": port},
                "admin_listen": {"host": "127.0.0.1", "port": admin_port},
                "policies_dir": str(REPO / "policies"),
                "access_log": "json",
                "upstreams": {
                    "main": {"dialect": "xtream_masters", "url": upstream_url, "access_code": ACCESS_CODE,
                             "api_key": UPSTREAM_KEY}
                },
                "keys": [{"id": f"k{i}", "digest": digest_of(k), "policy": "admin"} for i, k in enumerate(keys)],
                **extra,
            }
        )
    )


class Server:
    def __init__(self, proc: asyncio.subprocess.Process, port: int, admin_port: int, pid_file: Path) -> None:
        self.proc, self.port, self.admin_port, self.pid_file = proc, port, admin_port, pid_file

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCESS_CODE}/admin/index.php"

    async def call(self, session: ClientSession, key: str, action: str = "user_info") -> Any:
        async with session.post(self.url, data={"api_key": key, "action": action}) as resp:
            return await resp.json(content_type=None)


async def wait_ready(port: int) -> None:
    async with ClientSession() as session:
        for _ in range(150):
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise AssertionError(f"the server did not come up on admin port {port}")


@contextlib.asynccontextmanager
async def running(config: Path, tmp_path: Path, *extra: str) -> AsyncIterator[Server]:
    data = yaml.safe_load(config.read_text())
    pid_file = tmp_path / "panelgate.pid"
    # A file, not a pipe: nobody drains a pipe during the test, and a full one would stall the server's logging.
    with (tmp_path / "server.log").open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "serve", "-c", str(config), "--pid-file", str(pid_file), *extra,
            stdout=log_file, stderr=asyncio.subprocess.STDOUT,
        )
    server = Server(proc, data["listen"]["port"], data["admin_listen"]["port"], pid_file)
    try:
        await wait_ready(server.admin_port)
        yield server
    finally:
        await stop(proc)


async def stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM (a graceful stop), then SIGKILL if it has not ended within 20 s."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def pid_listening_on(port: int) -> int:
    """The process with a listening TCP socket on 127.0.0.1:`port` (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for row in f.read().splitlines()[1:]:
                fields = row.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    inodes.add(f"socket:[{fields[9]}]")
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        with contextlib.suppress(OSError):
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in os.listdir(f"/proc/{pid}/fd")):
                return int(pid)
    raise AssertionError(f"nothing listens on port {port}")


def crash_at_once(path: str, index: int, watch: bool, restarts: int) -> None:
    """A worker that dies as it starts (gateway.workers' back-off test)."""
    raise SystemExit(3)

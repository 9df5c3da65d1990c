"""Load: wrk for request/response figures, curl for one big stream, asyncio sockets for many slow streams."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors plus non-2xx/3xx answers

    def __str__(self) -> str:
        return f"{self.rps:,.0f} req/s p50 {self.p50_ms:.2f} ms p99 {self.p99_ms:.2f} ms"


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if m is None:
        raise ValueError(f"unreadable wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> WrkResult:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(g) for g in sock.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    return WrkResult(rps, p50, p99, requests, errors)


def wrk(url: str, *, seconds: float, connections: int = 32, threads: int = 1, script: Path | None = None,
        timeout: float = 5.0) -> WrkResult:  # fmt: skip
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", f"--timeout={timeout:g}s", "--latency"]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(url)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    return parse_wrk(out)


def post_script(path: Path, body: str) -> Path:
    """A wrk Lua script sending `body` as a form POST on every request."""
    lua_body = body.replace("\\", "\\\\").replace('"', '\\"')
    path.write_text(
        'wrk.method = "POST"\n'
        f'wrk.body = "{lua_body}"\n'
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
    )
    return path


def pipeline_script(path: Path, *, depth: int) -> Path:
    """A wrk Lua script that writes `depth` requests at once on each connection (HTTP/1.1 pipelining, wrk's own
    example): wrk makes a write and a read per `depth` answers instead of one each, so it takes a smaller share
    of the machine's cores from the server it measures. Each answer still counts as one request."""
    path.write_text(
        "init = function(args)\n"
        "  local r = {}\n"
        f"  for i = 1, {depth} do r[i] = wrk.format() end\n"
        "  req = table.concat(r)\n"
        "end\n"
        "request = function() return req end\n"
    )
    return path


def paced_script(path: Path, *, rate: float, connections: int) -> Path:
    """A wrk Lua script that makes each connection wait before each request, so the `connections` together
    offer about `rate` requests/s: latency measured under load, not at saturation. The wait is uniform between 0
    and twice its mean: with a fixed one the connections, started together, would stay in step and send bursts of
    `connections` requests at once, measuring the queue of each burst rather than a steady load."""
    mean_ms = connections * 1000 / rate
    path.write_text(f"function delay()\n  return math.random() * {2 * mean_ms:.1f}\nend\n")
    return path


def curl_stream(url: str, limit_seconds: float = 120.0) -> tuple[int, float]:
    """Download `url` to nowhere with curl: (bytes, seconds)."""
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "--max-time", f"{limit_seconds:g}", "-w", "%{size_download} %{time_total}",
         url],
        capture_output=True, text=True, timeout=limit_seconds + 10, check=False,
    ).stdout.split()  # fmt: skip
    return int(float(out[0])), float(out[1])


async def open_stream(port: int, path: str, limit: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    """A GET of `path` on its own connection, past a `200` status line and the header; None when it cannot
    connect or is refused (the connection is closed then)."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=limit)
    except OSError:
        return None
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
        head = b""
    if head.startswith(b"HTTP/1.1 200"):
        return reader, writer
    writer.close()
    return None


@dataclass
class SlowClients:
    """`count` streams, each read at `rate` bytes/s in small reads: players on slow links."""

    port: int
    path_fmt: str
    count: int
    rate: int = 64 * 1024
    opened: int = 0
    failed: int = 0
    received: int = 0

    async def _one(self, n: int, stop: asyncio.Event) -> None:
        opened = await open_stream(self.port, self.path_fmt.format(n=n), 1 << 16)
        if opened is None:
            self.failed += 1
            return
        reader, writer = opened
        try:
            self.opened += 1
            step = 0.25
            while not stop.is_set():
                chunk = await reader.read(int(self.rate * step))
                if not chunk:
                    break
                self.received += len(chunk)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), step)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            self.failed += 1
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def run(self, hold: float, sample: Callable[[], int]) -> list[int]:
        """Open the streams (in batches), hold them `hold` seconds calling `sample()` each second, close them."""
        stop = asyncio.Event()
        tasks = []
        for n in range(self.count):
            tasks.append(asyncio.create_task(self._one(n, stop)))
            if n % 50 == 49:
                await asyncio.sleep(0.2)
        samples: list[int] = []
        loop = asyncio.get_running_loop()
        end = loop.time() + hold
        while loop.time() < end:
            await asyncio.sleep(1.0)
            samples.append(sample())
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        return samples

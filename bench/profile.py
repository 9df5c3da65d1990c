"""Where the gateway's time goes: py-spy sampling the running gateway process under wrk load.

py-spy (PyPI, installed into .venv by `make bench`) attaches to the gateway's pid,
pausing it for each sample (blocking mode: whole stacks, at some cost to throughput while it runs); `--idle` keeps
the samples of a waiting event loop, so the shares are of wall time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bench import loadgen
from bench.player import API, CONNECTIONS, LINE

if TYPE_CHECKING:
    from bench.targets import Stack

_ROOTS = ("<module> (gateway/__main__.py", "main (gateway/cli.py", "_cmd_serve (", "serve (gateway/server.py",
          "serve_one (", "run (asyncio/runners.py", "Runner.run (asyncio", "BaseEventLoop.run")
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")


@dataclass
class Profile:
    name: str
    samples: int = 0
    self_top: list[tuple[str, float]] = field(default_factory=list)
    inclusive_top: list[tuple[str, float]] = field(default_factory=list)
    error: str = ""


def _short(frame: str) -> str:
    m = _FRAME.match(frame)
    if m is None:
        return frame
    path = m.group("file")
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m.group('func')} ({path}:{m.group('line')})"


def summarize(name: str, raw: str, top: int = 15) -> Profile:
    selfc: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += n
        selfc[frames[-1]] += n
        for frame in set(frames):
            if frame.startswith(_ROOTS):
                continue
            if "gateway/" in frame or "aiohttp/" in frame or "logging/" in frame or "json/" in frame:
                incl[frame] += n
    prof = Profile(name, total)
    if total:
        prof.self_top = [(f, 100 * c / total) for f, c in selfc.most_common(top)]
        prof.inclusive_top = [(f, 100 * c / total) for f, c in incl.most_common(top + 10)]
    return prof


def py_spy() -> str | None:
    candidate = Path(sys.executable).parent / "py-spy"
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


def sample(name: str, pid: int, url: str, seconds: float, out: Path, *, connections: int = 32) -> Profile:
    spy = py_spy()
    if spy is None:
        return Profile(name, error="py-spy is not installed (make bench installs it into .venv)")
    argv = [spy, "record", "--pid", str(pid), "--duration", f"{int(seconds)}", "--rate", "250", "--format", "raw",
            "--function", "--idle", "-o", str(out)]  # fmt: skip
    spy_proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        loadgen.wrk(url, seconds=seconds + 1, connections=connections, timeout=30)
    finally:
        try:
            _, err = spy_proc.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            spy_proc.kill()
            _, err = spy_proc.communicate()
    if spy_proc.returncode != 0 or not out.exists():
        return Profile(name, error=f"py-spy failed: {err.decode(errors='replace').strip()[-300:]}")
    return summarize(name, out.read_text())


def run(stack: Stack, seconds: float) -> list[Profile]:
    results = []
    cached, passthrough = stack.gateways["cached"], stack.gateways["pass"]
    targets = [("cached read", cached, f"/admin/admin/index.php?{stack.list_query(stack.reseller_key)}", 32),
               ("pass-through", passthrough, f"/admin/admin/index.php?{stack.list_query(stack.admin_key)}", 32)]
    lists = stack.gateways.get("player-lists")  # section 8's gateway, when it ran: the player side's hot path
    if lists is not None and lists.proc is not None and lists.proc.popen.poll() is None:
        targets.append(("player_api get_live_streams (30,000 channels)", lists,
                        API.format(u=LINE[0], p=LINE[1]), CONNECTIONS))  # fmt: skip
    for name, gw, path, connections in targets:
        assert gw.proc is not None
        prof = sample(name, gw.proc.pid, gw.url(path), seconds, stack.tmp / f"profile-{gw.name}.txt",
                      connections=connections)  # fmt: skip
        if prof.error:
            print(f"    {name}: {prof.error}", flush=True)
        else:
            print(f"    {name}: {prof.samples} samples; top self: {prof.self_top[:3]}", flush=True)
        results.append(prof)
    return results

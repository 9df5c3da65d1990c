"""A mixed read/write workload across the three client dialects, and the checks that every answer succeeded and
every write reached its panel exactly once."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tests.reliability.conftest import Gateway, Reply

# (client dialect, panel action, is a write)
Op = tuple[str, str, bool]
OPS: tuple[Op, ...] = (
    ("xm", "get_lines", False),
    ("xm", "create_line", True),
    ("xc", "server/list", False),
    ("xm", "get_packages", False),
    ("xc", "user/create", True),
    ("ms", "resellers/list", False),
    ("ms", "line/new", True),
    ("xm", "edit_line", True),
)


def _send(gw: Gateway, op: Op, i: int, run: str) -> Awaitable[Reply]:
    _, action, _ = op
    name = f"{run}{i}"
    if action == "get_lines":
        return gw.xm("get_lines", limit="5")
    if action == "create_line":
        return gw.xm("create_line", username=name, password=f"pw-{name}")
    if action == "get_packages":
        return gw.xm("get_packages")
    if action == "edit_line":
        return gw.xm("edit_line", id="1", max_connections=str(1 + i % 5))
    if action == "server/list":
        return gw.xc("server", "list")
    if action == "user/create":
        return gw.xc("user", "create", [("user_data[username]", name), ("user_data[password]", f"pw-{name}")])
    if action == "resellers/list":
        return gw.ms("resellers/list")
    assert action == "line/new"
    return gw.ms("line/new", [("data[username]", name), ("data[password]", f"pw-{name}")])


def succeeded(op: Op, reply: Reply) -> bool:
    if reply.status != 200:
        return False
    try:
        doc: Any = json.loads(reply.body)
    except ValueError:
        return False
    if isinstance(doc, list):  # bare lists: get_packages, XC server/list
        return True
    if op[0] == "xm":
        return isinstance(doc, dict) and doc.get("status") == "STATUS_SUCCESS"
    return isinstance(doc, dict) and doc.get("result") is True and "error" not in doc


@dataclass
class Report:
    sent: Counter[str] = field(default_factory=Counter)  # panel action -> requests sent through the gateway
    failures: list[tuple[str, int, bytes]] = field(default_factory=list)
    slowest: float = 0.0
    created: list[tuple[str, str]] = field(default_factory=list)  # (dialect, username) of every create sent


async def run(gw: Gateway, total: int, concurrency: int, *, run_id: str = "w",
              between: Callable[[int], Awaitable[None]] | None = None) -> Report:  # fmt: skip
    """Send `total` requests, `concurrency` at a time, cycling through OPS; `between(i)` runs before request i."""
    report = Report()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def worker() -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if between is not None:
                await between(i)
            op = OPS[i % len(OPS)]
            report.sent[op[1]] += 1
            if op[1] in ("create_line", "user/create", "line/new"):
                report.created.append((op[0], f"{run_id}{i}"))
            reply = await _send(gw, op, i, run_id)
            report.slowest = max(report.slowest, reply.took)
            if not succeeded(op, reply):
                report.failures.append((op[1], reply.status, reply.body[:300]))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return report


def assert_writes_made_once(gw: Gateway, *reports: Report) -> None:
    """Every write sent (by all of `reports`) reached its panel exactly once, and every created username exists
    exactly once there."""
    sent = sum((r.sent for r in reports), Counter[str]())
    for dialect, action, write in OPS:
        if write:
            hits = gw.panels.faults[dialect].hits[action]
            assert hits == sent[action], f"{action}: sent {sent[action]}, panel saw {hits}"
    tables = {"xm": gw.panels.xm.tables["lines"], "xc": gw.panels.xc.tables["users"],
              "ms": gw.panels.ms.tables["lines"]}  # fmt: skip
    names = {d: Counter(str(row["username"]) for row in rows.values()) for d, rows in tables.items()}
    for dialect, username in (c for r in reports for c in r.created):
        assert names[dialect][username] == 1, f"{dialect} line {username}: {names[dialect][username]} rows"

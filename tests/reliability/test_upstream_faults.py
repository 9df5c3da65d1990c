"""Upstream faults: each is a clear error in the client's own dialect, within the configured timeout; the gateway
keeps serving meanwhile; and nothing that could double a write is sent twice (counted on the simulator)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import build_app
from gateway.keys import digest_of
from gateway.sim.faults import FAULTS, FaultInjector
from gateway.sim.xtream_masters import XtreamMastersSim
from gateway.upstream import MAX_ANSWER_BYTES
from tests.conftest import ACCESS_CODE, UPSTREAM_KEY, AiohttpClient, AiohttpServer, make_config, xm_upstream
from tests.reliability.conftest import KEYS, TIMEOUT, XM_PATH, Gateway, MakeGateway, Reply, failure_code

# Slack past the upstream timeout for the gateway's own work on a loaded CI machine.
MARGIN = 1.0
UPSTREAM_FAILURES = ("UPSTREAM_UNAVAILABLE", "UPSTREAM_ERROR")

Call = Callable[[Gateway, str], Awaitable[Reply]]


def upstream_failure(dialect: str, reply: Reply, hostports: list[str]) -> str:
    """Assert `reply` is the dialect's own shape of an upstream failure; returns its canonical code."""
    assert reply.status == 200, reply
    text = reply.body.decode()
    for hostport in hostports:
        assert hostport not in text, f"the upstream's address leaked: {text}"
    code = failure_code(dialect, reply.body)
    assert code in UPSTREAM_FAILURES, reply.body
    assert reply.headers["Content-Type"].startswith("application/json" if dialect != "ms" else "text/html")
    return code


# One write and one read per client dialect, each toward the panel of its own dialect, and the panel action it is.
async def _xm_write(gw: Gateway, tag: str) -> Reply:
    return await gw.xm("create_line", username=f"f_{tag}", password="pw-fault-1")


async def _xm_read(gw: Gateway, tag: str) -> Reply:
    return await gw.xm("get_lines", limit="5")


async def _xc_write(gw: Gateway, tag: str) -> Reply:
    return await gw.xc("user", "create", [("user_data[username]", f"f_{tag}"), ("user_data[password]", "pw-fault")])


async def _xc_read(gw: Gateway, tag: str) -> Reply:
    return await gw.xc("server", "list")


async def _ms_write(gw: Gateway, tag: str) -> Reply:
    return await gw.ms("line/new", [("data[username]", f"f_{tag}"), ("data[password]", "pw-fault")])


async def _ms_read(gw: Gateway, tag: str) -> Reply:
    return await gw.ms("resellers/list")


CALLS: dict[tuple[str, str], tuple[Call, str]] = {
    ("xm", "write"): (_xm_write, "create_line"),
    ("xm", "read"): (_xm_read, "get_lines"),
    ("xc", "write"): (_xc_write, "user/create"),
    ("xc", "read"): (_xc_read, "server/list"),
    ("ms", "write"): (_ms_write, "line/new"),
    ("ms", "read"): (_ms_read, "resellers/list"),
}


@pytest.mark.parametrize("kind", ["write", "read"])
@pytest.mark.parametrize("dialect", ["xm", "xc", "ms"])
@pytest.mark.parametrize("fault", FAULTS)
async def test_each_fault_is_a_dialect_error_within_the_timeout_and_sent_once(
    gateway: Gateway, fault: str, dialect: str, kind: str
) -> None:
    call, action = CALLS[(dialect, kind)]
    injector = gateway.panels.faults[dialect]
    injector.set(action, fault)
    reply = await call(gateway, fault)
    code = upstream_failure(dialect, reply, gateway.panels.hostports())
    assert reply.took < TIMEOUT + MARGIN, f"{fault} took {reply.took:.2f}s"
    assert injector.hits[action] == 1, f"{action} reached the panel {injector.hits[action]} times"
    assert injector.faulted[fault] == 1
    # Faults where the panel may have acted are never reported as "not sent".
    unavailable = ("slow", "drop", "reset", "die", "silence", "drip", "huge")
    expected = "UPSTREAM_UNAVAILABLE" if fault in unavailable else "UPSTREAM_ERROR"
    assert code == expected, reply.body
    # Afterwards the same call works again: no fault left anything broken in the gateway.
    injector.set(action, None)
    again = await call(gateway, f"{fault}_again")
    assert b"UPSTREAM_" not in again.body, again.body
    assert injector.hits[action] == 2


@pytest.mark.parametrize("huge_length", [False, True], ids=["chunked", "content-length"])
async def test_a_huge_answer_is_refused_without_reading_it_all(gateway: Gateway, huge_length: bool) -> None:
    injector = gateway.panels.faults["xm"]
    injector.huge_length = huge_length
    assert injector.huge_bytes > MAX_ANSWER_BYTES
    injector.set("get_lines", "huge")
    reply = await _xm_read(gateway, "huge")
    assert upstream_failure("xm", reply, gateway.panels.hostports()) == "UPSTREAM_UNAVAILABLE"
    assert b"too large" in reply.body


async def test_a_big_answer_in_many_chunks_is_read_whole(gateway: Gateway) -> None:
    """A list of a few hundred lines arrives in several TCP reads; all of it is the answer."""
    for i in range(250):
        assert b"STATUS_SUCCESS" in (await gateway.xm("create_line", username=f"bulk{i}", password="p" * 40,
                                                      admin_notes="n" * 400)).body  # fmt: skip
    reply = await gateway.xm("get_lines", limit="1000")
    assert len(reply.body) > 128 << 10  # two read chunks of 64 KiB at least
    doc = reply.json()
    assert doc["status"] == "STATUS_SUCCESS", reply.body[:200]
    assert len(doc["data"]) >= 250


@pytest.mark.parametrize("dialect", ["xm", "xc", "ms"])
async def test_a_refused_connection_is_unavailable_at_once(gateway: Gateway, dialect: str) -> None:
    await gateway.panels.servers[dialect].close()  # the listener is gone: connections are refused
    call, _ = CALLS[(dialect, "write")]
    reply = await call(gateway, "refused")
    assert upstream_failure(dialect, reply, gateway.panels.hostports()) == "UPSTREAM_UNAVAILABLE"
    assert b"cannot connect" in reply.body


async def test_the_gateway_keeps_serving_while_a_panel_hangs(make_gateway: MakeGateway) -> None:
    # A timeout the 100 other calls finish well within, even on a loaded machine: the hung ones must outlast them.
    hung_timeout = 3.0
    gateway = await make_gateway(timeout=hung_timeout)
    gateway.panels.faults["xm"].set("get_lines", "slow")
    gateway.panels.faults["xc"].default = "slow"
    hung = [asyncio.create_task(_xm_read(gateway, "hung")) for _ in range(10)]
    hung += [asyncio.create_task(_xc_read(gateway, "hung")) for _ in range(10)]
    await asyncio.sleep(0.05)
    others: list[Awaitable[Reply]] = []
    for i in range(20):
        others += [gateway.xm("get_packages"), _ms_read(gateway, str(i)), _ms_write(gateway, f"other{i}"),
                   gateway.xm("get_line", id="1"), gateway.xc("server", "list", key="cross")]  # fmt: skip
    replies = await asyncio.gather(*others)
    assert all(not task.done() for task in hung), "the hung calls must still be waiting"
    for reply in replies:
        assert b"UPSTREAM_" not in reply.body and reply.status == 200, reply.body[:200]
    for reply in await asyncio.gather(*hung):
        assert reply.took < hung_timeout + MARGIN
        assert b"timed out" in reply.body


async def test_a_compound_write_sends_its_write_once(gateway: Gateway) -> None:
    """XC `user/edit` toward an Xtream-Masters panel: find the line (get_lines), then edit_line. A reset on the
    edit is reported, and the edit is not sent again."""
    injector = gateway.panels.faults["xm"]
    injector.set("edit_line", "reset")
    line = next(row for row in gateway.panels.xm.tables["lines"].values() if row["username"] == "ahmed01")
    reply = await gateway.xc("user", "edit", [("username", "ahmed01"), ("password", str(line["password"])),
                                               ("user_data[max_connections]", "3")], key="cross")  # fmt: skip
    assert upstream_failure("xc", reply, gateway.panels.hostports()) == "UPSTREAM_UNAVAILABLE"
    assert injector.hits["get_lines"] == 1 and injector.hits["edit_line"] == 1


# --- a pool: reads fail over, writes that may have arrived do not -------------------------------------------


@dataclass
class Pool:
    client: TestClient[Any, Any]
    faults: dict[str, FaultInjector]
    servers: dict[str, TestServer]

    async def xm(self, action: str, **params: str) -> Reply:
        form = {"api_key": KEYS["xm"], "action": action, **params}
        started = time.monotonic()
        async with self.client.post(XM_PATH, data=form) as resp:
            return Reply(resp.status, dict(resp.headers), await resp.read(), time.monotonic() - started)

    def hostports(self) -> list[str]:
        return [f"{s.host}:{s.port}" for s in self.servers.values()]


async def _pool(aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path,
                tmp_path: Path) -> Pool:  # fmt: skip
    """Two Xtream-Masters panels `a` and `b` in a pool `main`; breakers never open (every call tries a first)."""
    faults = {name: FaultInjector() for name in ("a", "b")}
    servers = {}
    for name, injector in faults.items():
        sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
        servers[name] = await aiohttp_server(injector.wrap(sim.app()))
    upstreams = {n: {**xm_upstream(str(s.make_url("")).rstrip("/")), "timeout": TIMEOUT} for n, s in servers.items()}
    config = make_config(
        "", policies_dir, tmp_path, upstreams=upstreams, pools={"main": ["a", "b"]},
        health={"interval": 0, "failures": 1000},
        keys=[{"id": "xm-admin", "digest": digest_of(KEYS["xm"]), "policy": "admin", "upstream": "main"}],
    )  # fmt: skip
    return Pool(await aiohttp_client(build_app(config)), faults, servers)


@pytest.mark.parametrize("fault", [*FAULTS, "refused"])
async def test_a_pool_fails_reads_over_but_never_sends_a_maybe_made_write_twice(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path, fault: str
) -> None:
    pool = await _pool(aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    a, b = pool.faults["a"], pool.faults["b"]
    try:
        if fault == "refused":
            await pool.servers["a"].close()
        else:
            a.default = fault
        write = await pool.xm("create_line", username="pool_write", password="pw-pool-1")
        read = await pool.xm("get_lines", limit="2")
    finally:
        a.release()
    if fault == "refused":
        # Never sent to a: b makes the write, once.
        assert write.json()["status"] == "STATUS_SUCCESS"
        assert b.hits["create_line"] == 1
    else:
        # a may have made it: the client is told, and b never sees it.
        assert upstream_failure("xm", write, pool.hostports()) in UPSTREAM_FAILURES
        assert a.hits["create_line"] == 1 and b.hits["create_line"] == 0
        assert a.hits["get_lines"] == 1
    assert read.json()["status"] == "STATUS_SUCCESS", read.body[:200]
    assert b.hits["get_lines"] == 1

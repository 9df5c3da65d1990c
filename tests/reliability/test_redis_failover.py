"""A Redis master SIGKILLed under load, on a Cluster (3 masters, 3 replicas) and on a Sentinel set (a master, a
replica, three sentinels) of the test's own: two gateway replicas (`panelgate serve` processes) keep every
shared state on it (cache and invalidation, rate limits and the auth throttle, upstream budgets, record locks,
stream caps, hosts to hide). Every request succeeds; a write through one replica is read back through the other
(read-your-write), stale only inside the stated window; the rate limit never grants more than its stated extra;
no stream slot leaks; /readyz and /metrics show the outage and the return. docs/deploy.md quotes the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from gateway.cache.redis_backend import RedisBackend
from gateway.cache.resilient import FALLBACK_TTL
from gateway.keys import digest_of
from gateway.redis.leases import Leases
from gateway.redis.link import PROBE_EVERY, RETRY_EVERY, Link
from gateway.redis.settings import Endpoint
from gateway.redis.url import parse_url
from gateway.sim import player_data
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, REPO, UPSTREAM_KEY, AiohttpServer
from tests.reliability.conftest import need_redis_server
from tests.reliability.redisfarm import Cluster, SentinelSet, wait_for
from tests.serving import Server, free_port, running

ADMIN, RATED = "failover-admin-key-0000000000000", "failover-rated-key-0000000000000"
RATE, BURST = 4.0, 8  # the rated key's bucket
TIMEOUT = 0.5  # redis.timeout: twice the default, so that a loaded machine does not add outages of its own
# redis.retry_after, longer than any failover here: a replica is back within the window by its background pings
# and replays, not by a request's probe after the back-off
RETRY_AFTER = 10.0
# Read-your-write holds again this long after the new master answers (gateway.cache.resilient states it) ...
STATED = max(RETRY_EVERY, PROBE_EVERY) + TIMEOUT
SLACK = 1.5  # ... plus this for a loaded two-core machine and the client finding the new master
EDITED = ("1", "2", "3")  # lines the editor rewrites
PLAYED = (30, 31, 32)  # lines the players stream on (two slots each)
GEN_KEY = "panelgate:cache:{g:main}:line"  # the cache's generations of upstream `main`: the master to kill


PROVIDERS = (("provider-a", "secret-provider-a"), ("provider-b", "secret-provider-b"))  # 3 slots each


def _config(path: Path, sim_url: str, redis_url: str) -> Path:
    upstream = {"dialect": "xtream_masters", "url": sim_url, "access_code": ACCESS_CODE, "api_key": UPSTREAM_KEY,
                "timeout": 5, "budget": {"per_second": 2000, "burst": 2000}}  # fmt: skip
    port = free_port()
    path.mkdir()
    (path / "gateway.yaml").write_text(yaml.safe_dump({
        "listen": {"host": "127.0.0.1", "port": port}, "admin_listen": {"host": "127.0.0.1", "port": free_port()},
        "public_url": f"http://127.0.0.1:{port}", "policies_dir": str(REPO / "policies"), "access_log": "off",
        "health": {"interval": 0}, "upstreams": {"main": upstream},
        "keys": [{"id": "admin", "digest": digest_of(ADMIN), "policy": "admin"},
                 {"id": "rated", "digest": digest_of(RATED), "policy": "admin",
                  "rate": {"per_second": RATE, "burst": BURST}}],
        "cache": {"ttl": 30},
        "client_side": {"max_streams_per_line": 2, "live_linger": 0.2,  # shared live channels on provider lines
                        "provider_lines": [{"name": user, "username": user, "password": password, "max_connections": 3}
                                           for user, password in PROVIDERS]},
        "redis": {"url": redis_url, "timeout": TIMEOUT, "retry_after": RETRY_AFTER},
    }))  # fmt: skip
    return path / "gateway.yaml"


@dataclass
class Run:
    """What the load saw."""

    sim: XtreamMastersSim
    replicas: list[Server]
    session: aiohttp.ClientSession
    started: float = field(default_factory=time.monotonic)
    sent: int = 0
    failures: list[str] = field(default_factory=list)
    stale: list[tuple[float, float]] = field(default_factory=list)  # (seen at, fresh again at)
    edits: int = 0
    rated: list[tuple[float, bool]] = field(default_factory=list)  # (at, granted)
    streams: int = 0
    # (at, replica, /readyz, /metrics)
    samples: list[tuple[float, int, dict[str, Any], str]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def xm(self, replica: int, key: str, action: str, **params: str) -> dict[str, Any]:
        url = self.replicas[replica].url
        self.sent += 1
        async with self.session.post(url, data={"api_key": key, "action": action, **params}) as resp:
            body = await resp.read()
        try:
            doc: dict[str, Any] = json.loads(body) if resp.status == 200 else {}
        except ValueError:
            doc = {}
        return doc if isinstance(doc, dict) else {"status": "STATUS_SUCCESS", "data": doc}

    def fail(self, what: str, doc: Any) -> None:
        self.failures.append(f"{time.monotonic() - self.started:.2f}s {what}: {str(doc)[:200]}")


@dataclass(frozen=True)
class Records:
    """Records one replica edits and the other reads back: lines edited through replica 0, packages through 1.
    Neither replica writes what it reads back, so its own invalidations never hide the other's."""

    writer: int
    ids: tuple[str, ...]
    edit: str
    get: str
    field: str


LINES = Records(0, ("1", "2", "3"), "edit_line", "get_line", "admin_notes")
PACKAGES = Records(1, ("1", "2"), "edit_package", "get_package", "package_name")


async def _read_your_write(run: Run, records: Records) -> None:
    """Edit a record through one replica, read it back through the other; a stale read is read again (every
    50 ms) until it is fresh, and (seen at, fresh at) is kept."""
    for n in itertools.count():
        if run.stop.is_set():
            return
        record, value = records.ids[n % len(records.ids)], f"rw-{records.writer}-{n}"
        done = await run.xm(records.writer, ADMIN, records.edit, id=record, **{records.field: value})
        if done.get("status") != "STATUS_SUCCESS":
            run.fail(records.edit, done)
            continue
        run.edits += 1
        stale_since: float | None = None
        while True:
            got = await run.xm(1 - records.writer, ADMIN, records.get, id=record)
            if got.get("status") != "STATUS_SUCCESS":
                run.fail(records.get, got)
                break
            if got["data"][records.field] == value:
                break
            stale_since = stale_since or time.monotonic()
            await asyncio.sleep(0.05)
        if stale_since is not None:
            run.stale.append((stale_since, time.monotonic()))


async def _reader(run: Run, me: int) -> None:
    actions = [("get_lines", {"limit": "20"}), ("get_packages", {}), ("get_line", {"id": str(10 + me)})]
    for n in itertools.count():
        if run.stop.is_set():
            return
        action, params = actions[n % len(actions)]
        doc = await run.xm((n + me) % 2, ADMIN, action, **params)
        if doc.get("status") != "STATUS_SUCCESS":
            run.fail(action, doc)
        await asyncio.sleep(0.01)


async def _rated(run: Run) -> None:
    """The rated key, at about six times its rate, alternating replicas."""
    for n in itertools.count():
        if run.stop.is_set():
            return
        doc = await run.xm(n % 2, RATED, "get_packages")
        status = doc.get("status")
        if status not in ("STATUS_SUCCESS", "STATUS_RATE_LIMITED"):
            run.fail("rated", doc)
        run.rated.append((time.monotonic(), status == "STATUS_SUCCESS"))
        await asyncio.sleep(1 / (6 * RATE))


async def _player(run: Run, me: int) -> None:
    """Streams on the capped lines (a 403 past the cap is the cap, not a failure), and a login now and then."""
    for n in itertools.count():
        if run.stop.is_set():
            return
        line = run.sim.tables["lines"][PLAYED[(n + me) % len(PLAYED)]]
        await _stream(run, (n + me) % 2, line)
        if n % 10 == 0:
            url = f"http://127.0.0.1:{run.replicas[n % 2].port}/player_api.php"
            run.sent += 1
            async with run.session.get(url, params={"username": line["username"], "password": line["password"]}) as r:
                if r.status != 200:
                    run.fail("player_api", r.status)


async def _stream(run: Run, replica: int, line: dict[str, Any]) -> None:
    url = f"http://127.0.0.1:{run.replicas[replica].port}/live/{line['username']}/{line['password']}/1.ts"
    run.sent += 1
    async with run.session.get(url) as resp:
        if resp.status == 200:
            await resp.content.read(16384)
            run.streams += 1
        elif resp.status not in (403, 503):  # past the line's cap; every provider slot taken (with Retry-After)
            run.fail("stream", resp.status)


async def _watch(run: Run) -> None:
    while not run.stop.is_set():
        for i, replica in enumerate(run.replicas):
            base = f"http://127.0.0.1:{replica.admin_port}"
            async with run.session.get(f"{base}/readyz") as resp:
                ready = await resp.json()
            async with run.session.get(f"{base}/metrics") as resp:
                metrics = await resp.text()
            run.samples.append((time.monotonic(), i, ready, metrics))
        await asyncio.sleep(0.1)


def _metric(text: str, name: str, feature: str = "cache") -> float:
    found = re.search(rf'^{name}\{{feature="{feature}"\}} (\S+)$', text, re.M) if feature else \
        re.search(rf"^{name} (\S+)$", text, re.M)  # fmt: skip
    assert found is not None, name
    return float(found.group(1))


@pytest.fixture(params=["cluster", "sentinel"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster | SentinelSet]:
    need_redis_server()
    if shutil.which("redis-cli") is None:  # ships with redis-server: a half install is a broken one
        pytest.fail("redis-server is installed without redis-cli")
    (tmp_path / "redis").mkdir()
    farm: Cluster | SentinelSet = Cluster(tmp_path / "redis") if request.param == "cluster" else \
        SentinelSet(tmp_path / "redis")  # fmt: skip
    try:
        farm.start()
        yield farm
    finally:
        farm.stop()


@contextlib.asynccontextmanager
async def _replicas(tmp_path: Path, sim_url: str, redis_url: str) -> AsyncIterator[list[Server]]:
    configs = [_config(tmp_path / f"replica{i}", sim_url, redis_url) for i in range(2)]
    async with running(configs[0], configs[0].parent) as one, running(configs[1], configs[1].parent) as two:
        yield [one, two]


async def test_a_master_killed_under_load(deployment: Cluster | SentinelSet, aiohttp_server: AiohttpServer,
                                          tmp_path: Path) -> None:  # fmt: skip
    sim = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    for user, password in PROVIDERS:
        player_data.add_line(sim.tables, user, password, 3)
    sim_url = str((await aiohttp_server(sim.app())).make_url("")).rstrip("/")
    async with _replicas(tmp_path, sim_url, deployment.url) as replicas, aiohttp.ClientSession() as session:
        run = Run(sim, replicas, session)
        tasks = [asyncio.create_task(t) for t in (_read_your_write(run, LINES), _read_your_write(run, PACKAGES),
                                                   _rated(run), _watch(run),
                                                   *(_reader(run, i) for i in range(3)),
                                                   *(_player(run, i) for i in range(2)))]  # fmt: skip
        try:
            await asyncio.sleep(2.0)  # load with every feature on Redis
            victim = deployment.master_of(GEN_KEY) if isinstance(deployment, Cluster) else deployment.current_master()
            victim.kill()
            killed = time.monotonic()

            def promoted() -> bool:
                now = deployment.master_of(GEN_KEY) if isinstance(deployment, Cluster) else \
                    deployment.current_master()  # fmt: skip
                return now is not victim and deployment.answers_writes(GEN_KEY)

            answered = killed + await asyncio.to_thread(wait_for, "a promoted master answers writes", promoted)

            def back() -> bool:
                latest = {i: s for _, i, *s in run.samples[-4:]}  # type: ignore[misc]
                return len(latest) == 2 and all(
                    ready["redis"][0]["state"] == "ok" and ready["redis"][0]["outages"] >= 1
                    and ready["cache"]["pending_invalidations"] == 0 for ready, _ in latest.values())  # fmt: skip

            while not back():
                assert time.monotonic() < answered + 3 * RETRY_AFTER, "the replicas did not come back to Redis"
                await asyncio.sleep(0.1)
            recovered = time.monotonic()
            await asyncio.sleep(3.0)  # and on, shared again
        finally:
            run.stop.set()
            await asyncio.gather(*tasks)
        ended = time.monotonic()

        # every stream and provider slot released in Redis: the leases a failed call may have left are swept once
        # it answers, and a channel's slot once its linger is over
        for i, line_no in itertools.product(range(2), PLAYED):
            await _stream(run, i, sim.tables["lines"][line_no])
        client = deployment.client()
        try:
            def slots() -> int:
                return sum(int(client.zcard(k)) for prefix in ("panelgate:streams:*", "panelgate:slots:*")
                           for k in client.scan_iter(match=prefix))  # fmt: skip

            try:
                await asyncio.to_thread(wait_for, "no slot held once every stream ended", lambda: slots() == 0, 10)
            except AssertionError:
                held = {k: client.zrange(k, 0, -1, withscores=True) for prefix in ("panelgate:streams:*",
                        "panelgate:slots:*") for k in client.scan_iter(match=prefix)}  # fmt: skip
                raise AssertionError(f"slots held: {held} at {client.time()}") from None
        finally:
            client.close()

    longest = max((fresh - seen for seen, fresh in run.stale), default=0.0)
    last = max((fresh - answered for _, fresh in run.stale), default=float("-inf"))
    report = (f"{type(deployment).__name__}: {run.sent} requests, {len(run.failures)} failed, {run.edits} edits, "
              f"{len(run.stale)} read back stale (longest {longest:.2f}s, the last fresh {last:.2f}s after the new "
              f"master answered); master answered {answered - killed:.2f}s after the kill, replicas back "
              f"{recovered - answered:.2f}s after that; rated key granted {sum(ok for _, ok in run.rated)} of "
              f"{len(run.rated)}; outages seen by each replica "
              f"{[s[2]['redis'][0]['outages'] for s in run.samples[-2:]]}")  # fmt: skip
    print(report)
    assert not run.failures, run.failures[:5]
    assert run.sent > 300 and run.edits > 20 and run.streams > 10, report

    # read-your-write: both replicas back on Redis, with every invalidation it missed, within the stated window;
    # until then a read is at most FALLBACK_TTL older than the write; after it, never stale
    assert recovered - answered <= STATED + SLACK, report
    for seen, fresh in run.stale:
        assert fresh - seen <= max(FALLBACK_TTL, STATED) + SLACK, (seen - killed, fresh - killed, report)
    late = [seen - recovered for seen, _ in run.stale if seen > recovered]
    assert not late, (late, report)

    # invalidations Redis missed were replayed within the window
    for at, _, ready, _ in run.samples:
        if at > answered + STATED + SLACK:
            assert ready["cache"]["pending_invalidations"] == 0, (at - answered, ready["cache"])

    # the rate limit: at most the stated extra while Redis was out, one shared bucket again after. Each outage a
    # replica saw counts (a cluster's failover can show as two: the kill, then a blip as the slots move), each
    # read from the samples' `last_outage` after it ended
    outages: dict[int, dict[tuple[float, float], float]] = {}
    for _, i, ready, _ in run.samples:
        last = ready["redis"][0].get("last_outage")
        if last is not None:
            outages.setdefault(i, {})[last["began"], last["ended"]] = last["seconds"]
    counted = max(outages.values(), key=lambda seen: sum(seen.values()))
    # an outage that began and ended between two samples (0.1 s apart, plus their requests) left no `last_outage`
    unseen = max(s[2]["redis"][0]["outages"] for s in run.samples[-2:]) - len(counted)
    granted = sum(ok for _, ok in run.rated)
    limit = BURST + RATE * (ended - run.started)
    # per outage: (P - 1) x (burst + rate x T), and one burst lost on failover
    extra = sum((2 - 1) * (BURST + RATE * seconds) + BURST for seconds in [*counted.values(), *[1.0] * unseen])
    assert granted <= limit + extra, (granted, limit, extra, outages)
    after = [ok for at, ok in run.rated if at > recovered]
    assert sum(after) <= BURST + RATE * (ended - recovered) + 1 and not all(after), (sum(after), len(after))

    # /readyz and /metrics saw the outage and the return
    for i in range(2):
        mine = [(ready, metrics) for _, r, ready, metrics in run.samples if r == i]
        assert any(ready["redis"][0]["state"] == "out" for ready, _ in mine), f"replica {i} never showed the outage"
        assert any(_metric(metrics, "panelgate_redis_up") == 0 for _, metrics in mine)
        ready, metrics = mine[-1]
        assert ready["redis"][0]["state"] == "ok" and ready["redis"][0]["last_outage"]["seconds"] > 0
        assert _metric(metrics, "panelgate_redis_up") == 1 and _metric(metrics, "panelgate_redis_outages_total") >= 1
        assert _metric(metrics, "panelgate_cache_fallback", "") == 0
        assert ready["shared_live"]["slots"] == "redis"
        assert any(sum(p["held_here"] for p in ready["shared_live"]["provider_lines"].values()) for ready, _ in mine)


def test_the_failover_fixtures_never_skip_in_ci() -> None:
    import inspect

    assert "need_redis_server()" in inspect.getsource(deployment)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    need_redis_server()
    (tmp_path / "redis").mkdir()
    farm = Cluster(tmp_path / "redis")
    try:
        farm.start()
        yield farm
    finally:
        farm.stop()


async def test_every_multi_key_operation_runs_on_a_cluster(cluster: Cluster) -> None:
    """Each script and multi-key command in one slot (a cross-slot one is refused by a Cluster): the cache's
    generations of an upstream, and a provider pool's leases over its lines (gateway.redis.leases), which takes
    the first line with a free slot, across replicas, never more than each line's limit."""
    endpoint = Endpoint(parse_url(cluster.url), "pg-test:slots:", timeout=2.0)
    pools = [Leases(Link(endpoint, "slots"), ttl=30) for _ in range(2)]  # two replicas
    cache = RedisBackend(Endpoint(parse_url(cluster.url), "pg-test:cache:", timeout=2.0))
    try:
        lines = [("line{a}", 2), ("line}b", 1), ("line c", 1)]
        got = [await pools[i % 2].acquire_any("pool-1", lines) for i in range(5)]
        assert [lease.name if lease else None for lease in got] == ["line{a}", "line{a}", "line}b", "line c", None]
        assert all(lease is None or lease.shared for lease in got)
        assert await pools[0].holders("line{a}", "pool-1") == 2
        first = got[0]
        assert first is not None
        await pools[1].release(first)  # any replica may release it: the token names it
        again = await pools[0].acquire_any("pool-1", lines)
        assert again is not None and again.name == "line{a}"
        assert await pools[1].refresh(again)
        names = [f"main:{tag}" for tag in ("line", "*", "package", "bouquet")] + ["other:line", "other:*"]
        before = await cache.generations(names)
        await cache.bump(["main:line", "other:*"])
        after = await cache.generations(names)
        assert [b != a for b, a in zip(before, after, strict=True)] == [True, False, False, False, False, True]
    finally:
        for pool in pools:
            await pool.close()
        await cache.close()

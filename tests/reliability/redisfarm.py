"""Redis deployments of a test's own on loopback: a Cluster (3 masters, 3 replicas) and a Sentinel set (a
master, a replica, three sentinels), built from tests.reliability.conftest's RedisProcess, ready when every
replica is in sync and every sentinel knows the others, and torn down with the test.

Readiness is polled, never slept for: a loaded two-core machine takes seconds where an idle one takes
milliseconds. The timings that decide how fast a failover is are the servers' own settings below.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from tests.reliability.conftest import RedisProcess

SYNC_AT_ONCE = ("--repl-diskless-sync-delay", "0")  # not the default 5 s wait for more replicas to share a sync
NODE_TIMEOUT_MS = 2000  # a cluster master is failed (and a replica promoted) about this long after it dies
DOWN_AFTER_MS = 1000  # a sentinel's: the master is down this long after its last answer
READY_WITHIN = 60.0  # seconds for a deployment to form, generous for a loaded machine


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: held open together, so that none is handed out twice (a node's port and
    another's cluster bus port once were the same, and that node never started)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


def wait_for(what: str, check: Callable[[], bool], within: float = READY_WITHIN) -> float:
    """Poll `check` until it is true; the seconds it took (AssertionError naming `what` past `within`)."""
    started = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - started
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() - started > within:
            raise AssertionError(f"{what}: not within {within:.0f}s")
        time.sleep(0.05)


def _client(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, socket_connect_timeout=2)


def _info(port: int, section: str) -> dict[str, Any]:
    client = _client(port)
    try:
        info: dict[str, Any] = client.info(section)
        return info
    finally:
        client.close()


def _takes_a_write(client: redis.Redis | RedisCluster, key: str) -> bool:
    try:
        return bool(client.set(f"farm-probe:{key}", "1", px=1000))
    finally:
        client.close()


def _ask(port: int, *command: Any) -> Any:
    client = _client(port)
    try:
        return client.execute_command(*command)
    finally:
        client.close()


class Cluster:
    """Three masters and three replicas, `--cluster-node-timeout` NODE_TIMEOUT_MS."""

    def __init__(self, directory: Path) -> None:
        self.nodes: list[RedisProcess] = []
        ports = free_ports(12)  # each node's, and its cluster bus port
        for i in range(6):
            node_dir = directory / f"node{i}"
            node_dir.mkdir()
            self.nodes.append(RedisProcess(node_dir, "--cluster-enabled", "yes", "--cluster-port", str(ports[6 + i]),
                                           "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                                           "--cluster-config-file", "nodes.conf", *SYNC_AT_ONCE,
                                           port=ports[i]))  # fmt: skip

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes[:3])

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        subprocess.run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in self.nodes),
                        "--cluster-replicas", "1", "--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)  # fmt: skip
        wait_for("cluster state ok on every node", lambda: all(
            _info(n.port, "cluster").get("cluster_enabled") == 1
            and b"cluster_state:ok" in _ask(n.port, "CLUSTER", "INFO") for n in self.nodes))  # fmt: skip
        wait_for("three replicas in sync", lambda: sum(
            _info(n.port, "replication").get("master_link_status") == "up" for n in self.nodes) == 3)  # fmt: skip

    def client(self) -> RedisCluster:
        return RedisCluster(host="127.0.0.1", port=self.alive()[0].port, socket_timeout=2)

    def alive(self) -> list[RedisProcess]:
        return [n for n in self.nodes if n.proc is not None]

    def master_of(self, key: str) -> RedisProcess:
        """The node serving `key`'s slot now (asked of a live node)."""
        slot = key_slot(key.encode())
        for start, end, master, *_ in _ask(self.alive()[0].port, "CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return next(n for n in self.nodes if n.port == int(master[1]))
        raise AssertionError(f"no node serves slot {slot}")

    def answers_writes(self, key: str) -> bool:
        """A write of `key`'s slot succeeds (through a fresh client that reads the slot map again)."""
        return _takes_a_write(self.client(), key)

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()


class SentinelSet:
    """A master, one replica, three sentinels (quorum 2, down after DOWN_AFTER_MS)."""

    SERVICE = "mymaster"

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        ports = free_ports(5)
        self.master = RedisProcess(directory, *SYNC_AT_ONCE, port=ports[0])
        self.replica = RedisProcess(directory, "--replicaof", "127.0.0.1", str(ports[0]), *SYNC_AT_ONCE, port=ports[1])
        self.sentinels: list[RedisProcess] = []
        for i in range(3):
            conf = directory / f"sentinel{i}.conf"  # Sentinel rewrites its file: one each
            conf.write_text(f"sentinel monitor {self.SERVICE} 127.0.0.1 {self.master.port} 2\n"
                            f"sentinel down-after-milliseconds {self.SERVICE} {DOWN_AFTER_MS}\n"
                            f"sentinel failover-timeout {self.SERVICE} 10000\n")  # fmt: skip
            self.sentinels.append(RedisProcess(directory, "--sentinel", config=conf, port=ports[2 + i]))

    @property
    def url(self) -> str:
        return "redis+sentinel://" + ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels) + f"/{self.SERVICE}"

    def start(self) -> None:
        for server in (self.master, self.replica, *self.sentinels):
            server.start()
        wait_for("the replica in sync",
                 lambda: _info(self.replica.port, "replication").get("master_link_status") == "up")  # fmt: skip
        wait_for("every sentinel knows the replica and the other sentinels", lambda: all(
            len(_ask(s.port, "SENTINEL", "REPLICAS", self.SERVICE)) == 1
            and len(_ask(s.port, "SENTINEL", "SENTINELS", self.SERVICE)) == 2 for s in self.sentinels))  # fmt: skip

    def master_port(self) -> int:
        """The master's port as the sentinels say now."""
        return int(_ask(self.sentinels[0].port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.SERVICE)[1])

    def current_master(self) -> RedisProcess:
        port = self.master_port()
        return next(s for s in (self.master, self.replica) if s.port == port)

    def client(self) -> redis.Redis:
        return _client(self.master_port())

    def answers_writes(self, key: str) -> bool:
        """The master the sentinels name takes a write."""
        return _takes_a_write(self.client(), key)

    def stop(self) -> None:
        for server in (*self.sentinels, self.master, self.replica):
            server.kill()

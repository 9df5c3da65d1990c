"""The one Redis client factory: a server, the master of a Sentinel service, or a Cluster, from a parsed URL.

Nothing is contacted here; each client connects on its first command. Timeouts bound each socket step; the
whole call is bounded by the caller (gateway.redis.link), since a call may take several steps.
After a failover, redis-py finds the new master by itself: a Sentinel pool asks the sentinels again on its next
connection, a Cluster client reads the slot map again after a connection error.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

from gateway.redis.url import RedisURL

RedisClient = aioredis.Redis | RedisCluster


def _tls(url: RedisURL) -> dict[str, Any]:
    if not url.tls:
        return {}
    return {"ssl": True, "ssl_cert_reqs": url.ssl_cert_reqs, "ssl_ca_certs": url.ssl_ca_certs}


def connect(url: RedisURL, timeout: float) -> RedisClient:
    """A lazily connecting client for `url`; each socket step bounded by `timeout` seconds."""
    socket: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    auth: dict[str, Any] = {"username": url.username, "password": url.password}
    # One more try, at once, on a fresh connection: a pooled connection a restarted or failed-over server closed
    # must not count as an outage. More (and redis-py's back-off) would only spend the caller's deadline.
    once: dict[str, Any] = {"retry": Retry(NoBackoff(), 1)}
    if url.kind == "cluster":
        nodes = [ClusterNode(host, port) for host, port in url.hosts]
        # a failed node makes the client read the slot map again on its next try: that is how it finds the
        # replica promoted in its place
        return RedisCluster(startup_nodes=nodes, **socket, **auth, **_tls(url), **once)
    if url.kind == "sentinel":
        sentinel_kwargs: dict[str, Any] = {**socket, **_tls(url), "password": url.sentinel_password}
        sentinel = Sentinel(list(url.hosts), sentinel_kwargs=sentinel_kwargs, **socket)
        client: aioredis.Redis = sentinel.master_for(url.service, db=url.db, **auth, **_tls(url), **once)
        return client
    if url.scheme == "unix":
        return aioredis.Redis(unix_socket_path=url.path, db=url.db, **socket, **auth, **once)
    host, port = url.hosts[0]
    return aioredis.Redis(host=host, port=port, db=url.db, **socket, **auth, **_tls(url), **once)

"""Where the gateway listens and how long a client connection may take: `listen`, `admin_listen` and
`client_timeouts` (applied by gateway.clienttimeouts and gateway.server at start-up)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.settings import ConfigError, Reader


@dataclass(frozen=True)
class Listen:
    host: str
    port: int


@dataclass(frozen=True)
class ClientTimeouts:
    """Seconds a client connection may take (gateway.clienttimeouts), like nginx's client_header_timeout,
    client_body_timeout (here for the whole body) and keepalive_timeout. Applied at start-up only."""

    header: float = 10.0  # from a connection's start, or a request's first byte, to the end of its header
    body: float = 30.0  # from the end of the header to the end of the body
    keepalive: float = 75.0  # idle between two requests
    shutdown: float = 30.0  # on SIGTERM, for requests in flight to finish and their answers to be read


def parse_listen(r: Reader, key: str, default_host: str, default_port: int) -> Listen:
    sub = Reader(r.get(key, {"host": default_host, "port": default_port}), r.at(key))
    listen = Listen(host=sub.text("host", default_host), port=sub.integer("port", default_port, high=65535))
    sub.done()
    return listen


def parse_client_timeouts(data: Any, path: str) -> ClientTimeouts:
    """`client_timeouts: {header: 10, body: 30, keepalive: 75, shutdown: 30}` (seconds, each more than 0 and at
    most an hour)."""
    if data is None:
        return ClientTimeouts()
    r = Reader(data, path)
    values = {name: r.number(name, default) for name, default in vars(ClientTimeouts()).items()}
    for name, value in values.items():
        if value > 3600:
            raise ConfigError(r.at(name), f"{value:g} seconds is more than an hour")
    r.done()
    return ClientTimeouts(**values)

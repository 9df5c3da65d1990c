"""Redis URLs: every form the gateway accepts, parsed and checked once, and printed without their secrets.

- `redis://[[user]:password@]host[:port][/db]`, `rediss://` with TLS: one server (port 6379).
- `unix://[[user]:password@]/path/to/redis.sock[?db=N]`: one server on a local socket.
- `redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db]` (sentinels on port 26379): the
  master of a Sentinel service, found again after each failover; `rediss+sentinel://` uses TLS to the sentinels
  and the master. The password is the master's; `?sentinel_password=` gives the sentinels' when they have one.
- `redis+cluster://[[user]:password@]host[:port][,host[:port]...]` (any nodes; the rest are discovered),
  `rediss+cluster://` with TLS. A cluster has database 0 only.
TLS options, for `rediss` forms: `?ssl_cert_reqs=required|optional|none` and `?ssl_ca_certs=/path/ca.pem`.

This module imports nothing from redis-py: the config parses URLs without loading a client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qsl, quote, unquote

KINDS = {"redis": "server", "rediss": "server", "unix": "server", "redis+sentinel": "sentinel",
         "rediss+sentinel": "sentinel", "redis+cluster": "cluster", "rediss+cluster": "cluster"}  # fmt: skip
SCHEMES = tuple(KINDS)
DEFAULT_PORTS = {"server": 6379, "sentinel": 26379, "cluster": 6379}
OPTIONS = ("ssl_cert_reqs", "ssl_ca_certs", "sentinel_password", "db")
CERT_REQS = ("required", "optional", "none")
_OPTION_NAME = re.compile(r"[A-Za-z0-9_]{1,40}")  # what an option's name looks like, misspelt or not
_HOST = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9_.-]+))(?::(?P<port>[0-9]{1,5}))?$")


class RedisURLError(ValueError):
    """A URL that names no Redis the gateway can use; the message never holds the URL's password."""


@dataclass(frozen=True)
class RedisURL:
    scheme: str
    hosts: tuple[tuple[str, int], ...] = ()  # a server's one address, the sentinels, or the cluster's seed nodes
    path: str = ""  # unix:// socket path
    service: str = ""  # Sentinel service (master) name
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_password: str | None = field(default=None, repr=False)
    ssl_cert_reqs: str = "required"
    ssl_ca_certs: str | None = None
    text: str = field(default="", repr=False, compare=False)  # as written (it may hold a password)

    @property
    def kind(self) -> str:
        """`server`, `sentinel` or `cluster`."""
        return KINDS[self.scheme]

    @property
    def tls(self) -> bool:
        return self.scheme.startswith("rediss")

    def redacted(self) -> str:
        """The URL for logs, /readyz and messages: passwords replaced by `***`, nothing else hidden."""
        auth = ""
        if self.username or self.password:
            auth = f"{quote(self.username or '', safe='')}{':***' if self.password else ''}@"
        if self.scheme == "unix":
            where = self.path
        else:
            where = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.hosts)
        tail = f"/{self.service}" if self.service else ""
        if self.db and self.scheme != "unix":
            tail += f"/{self.db}"
        options = [f"db={self.db}"] if self.db and self.scheme == "unix" else []
        if self.sentinel_password:
            options.append("sentinel_password=***")
        if self.tls and self.ssl_cert_reqs != "required":
            options.append(f"ssl_cert_reqs={self.ssl_cert_reqs}")
        if self.ssl_ca_certs:
            options.append(f"ssl_ca_certs={self.ssl_ca_certs}")
        return f"{self.scheme}://{auth}{where}{tail}" + (f"?{'&'.join(options)}" if options else "")

    def __str__(self) -> str:
        return self.redacted()


def parse_url(text: str) -> RedisURL:
    """The URL, checked (RedisURLError naming what is wrong, never echoing a password)."""
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in KINDS:
        raise RedisURLError(f"expected a URL with a scheme of {', '.join(SCHEMES)}")
    rest, _, query = rest.partition("?")
    if "#" in rest:
        raise RedisURLError("a Redis URL has no #fragment")
    options = _options(query)
    username, password = None, None
    if "@" in rest:  # the last @: a password written raw may hold one (or a /)
        auth, rest = rest.rsplit("@", 1)
        user, colon, secret = auth.partition(":")
        username, password = (unquote(user) or None, unquote(secret)) if colon else (None, unquote(user) or None)
    netloc, _, path = rest.partition("/")
    kind = KINDS[scheme]
    cert_reqs = options.pop("ssl_cert_reqs", "required")
    ca_certs = options.pop("ssl_ca_certs", None)
    sentinel_password = options.pop("sentinel_password", None)
    if cert_reqs not in CERT_REQS:
        raise RedisURLError(f"ssl_cert_reqs is one of {', '.join(CERT_REQS)}")
    if not scheme.startswith("rediss") and (cert_reqs != "required" or ca_certs is not None):
        raise RedisURLError("TLS options need a rediss URL")
    if sentinel_password is not None and kind != "sentinel":
        raise RedisURLError("sentinel_password is for redis+sentinel:// URLs")
    url = RedisURL(scheme, username=username, password=password, sentinel_password=sentinel_password,
                   ssl_cert_reqs=cert_reqs, ssl_ca_certs=ca_certs, text=text)  # fmt: skip
    if scheme == "unix":
        if netloc or not path:
            raise RedisURLError("expected unix:///path/to/redis.sock")
        return replace(url, path="/" + path, db=_db(options.pop("db", "0")))
    if "db" in options:
        raise RedisURLError("the database is the path of the URL (redis://host:6379/2), not ?db=")
    hosts = _hosts(netloc, DEFAULT_PORTS[kind])
    parts = [p for p in path.split("/") if p]
    if kind == "server":
        if len(hosts) != 1:
            raise RedisURLError(f"{scheme}:// names one server; use redis+sentinel:// or redis+cluster:// for more")
        if len(parts) > 1:
            raise RedisURLError("expected at most a database number after the host: redis://host:6379/0")
        return replace(url, hosts=hosts, db=_db(parts[0] if parts else "0"))
    if kind == "sentinel":
        if not parts or len(parts) > 2:
            raise RedisURLError("a redis+sentinel:// URL names the service: redis+sentinel://host:26379/mymaster[/db]")
        return replace(url, hosts=hosts, service=unquote(parts[0]), db=_db(parts[1] if len(parts) > 1 else "0"))
    if parts and parts != ["0"]:
        raise RedisURLError("a Redis Cluster has database 0 only")
    return replace(url, hosts=hosts)


def _options(query: str) -> dict[str, str]:
    pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False)
    found: dict[str, str] = {}
    for name, value in pairs:
        if name not in OPTIONS:
            # The query starts at the first `?`: in a password written raw, the rest of the password is the
            # "option" (`redis://:pa?ss@host` has the option `ss@host`), which is not repeated here.
            shown = repr(name) if _OPTION_NAME.fullmatch(name) else "(a `?` in a password is written %3F)"
            raise RedisURLError(f"unknown URL option {shown} (known: {', '.join(OPTIONS)})")
        if name in found:
            raise RedisURLError(f"URL option {name!r} given twice")
        found[name] = value
    return found


def _hosts(netloc: str, default_port: int) -> tuple[tuple[str, int], ...]:
    hosts: list[tuple[str, int]] = []
    for item in netloc.split(","):
        match = _HOST.match(item.strip())
        if match is None:
            raise RedisURLError(f"{item.strip() or 'an empty name'!r} is not a host[:port]")
        port = int(match["port"] or default_port)
        if not 0 < port < 65536:
            raise RedisURLError(f"port {port} is out of range 1..65535")
        hosts.append((match["v6"] or match["name"], port))
    return tuple(hosts)


def _db(value: str) -> int:
    if not value.isdigit() or int(value) > 10_000:
        raise RedisURLError(f"the database is a number, not {value[:20]!r}")
    return int(value)

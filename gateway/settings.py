"""The machinery every config section's parser uses: a typed reader of one YAML mapping that knows its path, and
the error that names it. A leaf (it imports nothing of the gateway), so each section's schema lives beside its
owner and `gateway.config` only assembles them."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import yaml

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(ValueError):
    """A config file that cannot run; the message starts with the YAML path of the problem."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


def show(value: Any) -> str:
    """A bad value as an error message quotes it: short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


_SETTING_NAME = re.compile(r"[A-Za-z0-9_-]*")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(value: Any, path: str, env: Mapping[str, str]) -> Any:
    """`${NAME}` and `${NAME:-default}` in every string of a document, from `env`."""
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(path, f"environment variable {name} is not set")

        return _ENV.sub(sub, value)
    if isinstance(value, dict):
        return {k: interpolate(v, join(path, str(k)), env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, f"{path}[{i}]", env) for i, v in enumerate(value)]
    return value


class Reader:
    """Typed access to one YAML mapping, remembering its path for error messages."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(path, f"expected a mapping, got {show(data)}")
        self.data: dict[str, Any] = data
        self.path = path
        self._seen: set[str] = set()

    def at(self, key: str) -> str:
        return join(self.path, key)

    def get(self, key: str, default: Any = None) -> Any:
        self._seen.add(key)
        return self.data.get(key, default)

    def text(self, key: str, default: str | None = None) -> str:
        value = self.get(key, default)
        if value is None:
            raise ConfigError(self.at(key), "is required")
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ConfigError(self.at(key), f"expected a string, got {show(value)}")
        return str(value)

    def integer(self, key: str, default: int | None = None, *, low: int = 0, high: int | None = None) -> int:
        value = self.get(key, default)
        if value is None:
            raise ConfigError(self.at(key), "is required")
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
            value = int(value)  # `${PORT}` interpolates to text
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(self.at(key), f"expected an integer, got {show(value)}")
        if value < low or (high is not None and value > high):
            raise ConfigError(self.at(key), f"{value} is out of range {low}..{high if high else 'inf'}")
        return value

    def number(self, key: str, default: float) -> float:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(self.at(key), f"expected a positive number, got {show(value)}")
        return float(value)

    def seconds(self, key: str, default: float) -> float:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(self.at(key), f"expected a number of seconds >= 0, got {show(value)}")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(self.at(key), f"expected true or false, got {show(value)}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise ConfigError(self.at(key), f"{value!r} is not one of {', '.join(choices)}")
        return value

    def items(self, key: str) -> list[Any]:
        value = self.get(key, [])
        if value is None:
            return []
        if not isinstance(value, list):
            raise ConfigError(self.at(key), f"expected a list, got {show(value)}")
        return value

    def networks(self, key: str) -> tuple[IPNetwork, ...]:
        """A list of addresses and CIDR blocks. A block inside `::ffff:0:0/96` is its IPv4 block: every check reads
        an IPv4-mapped client (`::ffff:192.0.2.66`, as a dual-stack listener and the access log show it) as its
        IPv4 address, so the mapped spelling of a blocked or allowed address must name that address too."""
        nets: list[IPNetwork] = []
        for i, item in enumerate(self.items(key)):
            try:
                nets.append(_unmapped(ipaddress.ip_network(str(item), strict=False)))
            except ValueError:
                raise ConfigError(f"{self.at(key)}[{i}]", f"{show(item)} is not an IP address or CIDR") from None
        return tuple(nets)

    def done(self) -> None:
        """Refuse unknown keys: a typo such as `alowed_ips` must not silently disable a restriction."""
        unknown = sorted(str(k) for k in set(self.data) - self._seen)
        if unknown:
            name = unknown[0]
            # A setting's name is a word. A "name" holding more is a setting and its value run together: YAML
            # reads `{url:redis://:pw@h}` (no space after the colon) as the key `url:redis://:pw@h`, and the
            # error named that path, value and password included.
            word = _SETTING_NAME.match(name)
            if word is not None and word.group() != name:
                raise ConfigError(self.at(word.group() or "?"), "unknown setting: its name runs on into more text "
                                  "(a missing space after a colon makes the value part of the name)")
            raise ConfigError(self.at(name), "unknown setting")


_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def _unmapped(net: IPNetwork) -> IPNetwork:
    """An IPv6 block within the IPv4-mapped range as the IPv4 block it maps; any other block as it is."""
    if isinstance(net, ipaddress.IPv6Network) and net.subnet_of(_MAPPED):
        return ipaddress.IPv4Network((int(net.network_address) & 0xFFFFFFFF, net.prefixlen - 96))
    return net


def http_url(value: str, path: str) -> str:
    """An http(s) URL with a host, without its trailing slash."""
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked for it
    except ValueError:
        raise ConfigError(path, "its port is not a number from 0 to 65535") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(path, f"{show(value)} is not an http(s) URL")
    try:
        parts.hostname.encode("idna")
    except UnicodeError:
        raise ConfigError(path, f"{show(parts.hostname)} is not a host name") from None
    return value.rstrip("/")


_QUOTED = re.compile(r"'[^']{4,}'")  # a name PyYAML quotes from the text: an alias, an anchor, a tag


def yaml_problem(exc: yaml.YAMLError) -> str:
    """What is wrong with a YAML text, and where, without the text: PyYAML's message quotes the line around the
    fault (`api_key: "k3y"x` comes back whole), and names what it read as an alias or a tag (`api_key: *k3y` is
    the undefined alias 'k3y'); a config file holds upstream keys and Redis passwords."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return type(exc).__name__
    said = "; ".join(_QUOTED.sub("'...'", part) for part in (exc.context, exc.problem) if part)
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{said or type(exc).__name__}{where}"

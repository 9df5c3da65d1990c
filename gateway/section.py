"""What a config section's parser, kept beside the code it configures, gets from gateway.config.

A section's schema and parser live with their owner (gateway.idempotency, gateway.key_lifecycle, gateway.quotas);
gateway.config only calls them, handing over its reader of one mapping (`Reader`), a way to open a reader on a
nested value (`Parsing.open`) and its error type (`Parsing.error`). This module imports nothing of the gateway, so
those owners can import it without importing the config.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class Reader(Protocol):
    """The config's typed reader of one YAML mapping (gateway.config._Reader): every error names the YAML path."""

    data: dict[str, Any]
    path: str

    def at(self, key: str) -> str: ...

    def get(self, key: str, default: Any = None) -> Any: ...

    def text(self, key: str, default: str | None = None) -> str: ...

    def integer(self, key: str, default: int | None = None, *, low: int = 0, high: int | None = None) -> int: ...

    def number(self, key: str, default: float) -> float: ...

    def items(self, key: str) -> list[Any]: ...

    def done(self) -> None: ...


@dataclass(frozen=True)
class Parsing:
    """`open(value, path)`: a Reader of a nested mapping; `error(path, message)`: the config's error to raise."""

    open: Callable[[Any, str], Reader]
    error: Callable[[str, str], Exception]


def show(value: Any) -> str:
    """A value as an error message quotes it: its repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def duration(text: str) -> float:
    """`90`, `90s`, `15m`, `24h`, `7d` in seconds (ValueError otherwise)."""
    found = _DURATION.match(text.strip())
    if found is None:
        raise ValueError(f"{text!r} is not a duration such as 3600, 15m, 24h or 7d")
    return float(found.group(1)) * _UNIT[found.group(2)]

"""What a config section's parser, kept beside the code it configures, gets from gateway.config.

A section's schema and parser live with their owner (gateway.idempotency, gateway.key_lifecycle, gateway.quotas);
gateway.config only calls them, handing over its reader of one mapping (`Reader`), a way to open a reader on a
nested value (`Parsing.open`) and its error type (`Parsing.error`). This module imports nothing of the gateway, so
those owners can import it without importing the config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


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

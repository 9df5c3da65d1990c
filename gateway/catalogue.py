"""The operation catalogue, loaded once from catalogue.yaml into frozen objects."""

from __future__ import annotations

import enum
import fnmatch
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml


class Kind(enum.Enum):
    READ = "read"
    WRITE = "write"
    DANGER = "danger"


class Target(enum.Enum):
    NONE = "none"
    ID = "id"


@dataclass(frozen=True)
class Operation:
    name: str
    kind: Kind
    target: Target
    tags: tuple[str, ...]
    xm_action: str | None

    @property
    def resource(self) -> str:
        return self.name.split(".", 1)[0]

    def matches(self, pattern: str) -> bool:
        """Glob match of a policy pattern against this operation's name."""
        return fnmatch.fnmatchcase(self.name, pattern)


@dataclass(frozen=True)
class Catalogue:
    operations: dict[str, Operation]
    by_xm_action: dict[str, Operation]

    def get(self, name: str) -> Operation | None:
        return self.operations.get(name)

    def __len__(self) -> int:
        return len(self.operations)


def _parse(doc: dict[str, Any]) -> Catalogue:
    operations: dict[str, Operation] = {}
    by_xm: dict[str, Operation] = {}
    for name, spec in doc["operations"].items():
        op = Operation(
            name=name,
            kind=Kind(spec["kind"]),
            target=Target(spec["target"]),
            tags=tuple(spec.get("tags", [name.split(".", 1)[0]])),
            xm_action=spec.get("xm"),
        )
        operations[name] = op
        if op.xm_action is None:
            continue
        if op.xm_action in by_xm:
            raise ValueError(f"catalogue: xm action {op.xm_action!r} is used twice")
        by_xm[op.xm_action] = op
    return Catalogue(operations=operations, by_xm_action=by_xm)


@cache
def catalogue() -> Catalogue:
    """The catalogue shipped with the package (parsed once per process)."""
    text = resources.files("gateway").joinpath("catalogue.yaml").read_text(encoding="utf-8")
    return _parse(yaml.safe_load(text))

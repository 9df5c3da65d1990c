"""The operation catalogue, loaded once from catalogue.yaml into frozen objects."""

from __future__ import annotations

import enum
import fnmatch
from dataclasses import dataclass, field
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


class FieldType(enum.Enum):
    """What a canonical field holds; each dialect reads and writes its own wire form of it (gateway.fields)."""

    STR = "str"  # one text value
    INT = "int"
    NUMBER = "number"  # an integer or a decimal (credits)
    FLAG = "flag"  # true/false
    DATE = "date"  # UNIX time; None: never expires
    IDS = "ids"  # a list of ids
    STRS = "strs"  # a list of texts
    MAC = "mac"
    COLUMNS = "columns"  # a list of column names (`show_columns=a,b`)
    SEARCH = "search"  # {"value": text} (`search[value]=`)
    ORDER = "order"  # [{"column": int, "dir": "asc"|"desc"}] (`order[0][column]=`)


# Names that carry the dialects' own envelopes (who asks, what runs, which record): a field of one of these
# names would let a client's field stand in for them in an upstream request. `query` is sql.query's alone.
RESERVED = frozenset({"action", "sub", "api_key", "api_pass", "id", "edit", "access_code", "key", "token", "query"})
_DEFAULT_GROUPS = {"read": ("columns",), "write": (), "danger": ()}


@dataclass(frozen=True)
class Operation:
    name: str
    kind: Kind
    target: Target
    tags: tuple[str, ...]
    xm_action: str | None
    # canonical name -> type: the only fields an upstream request for this operation may carry
    fields: dict[str, FieldType] = field(default_factory=dict, compare=False, hash=False)

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


def _groups(doc: dict[str, Any]) -> _Groups:
    groups: _Groups = {}
    for group, fields in (doc.get("fields") or {}).items():
        typed: dict[str, FieldType] = {}
        for name, kind in fields.items():
            if name in RESERVED and (group, name) != ("sql", "query"):
                raise ValueError(f"catalogue: fields.{group}.{name} is a reserved name")
            typed[name] = FieldType(kind)
        groups[group] = typed
    return groups


_Groups = dict[str, dict[str, FieldType]]


def _fields_of(name: str, kind: Kind, spec: dict[str, Any], groups: _Groups) -> dict[str, FieldType]:
    out: dict[str, FieldType] = {}
    default = tuple(g for g in _DEFAULT_GROUPS[kind.value] if g in groups)
    for group in spec.get("fields", default):
        if group not in groups:
            raise ValueError(f"catalogue: {name} names an unknown field group {group!r}")
        for field_name, ftype in groups[group].items():
            if out.get(field_name, ftype) is not ftype:
                raise ValueError(f"catalogue: {name} declares {field_name} as two types")
            out[field_name] = ftype
    return out


def _parse(doc: dict[str, Any]) -> Catalogue:
    operations: dict[str, Operation] = {}
    by_xm: dict[str, Operation] = {}
    groups = _groups(doc)
    for name, spec in doc["operations"].items():
        kind = Kind(spec["kind"])
        op = Operation(
            name=name,
            kind=kind,
            target=Target(spec["target"]),
            tags=tuple(spec.get("tags", [name.split(".", 1)[0]])),
            xm_action=spec.get("xm"),
            fields=_fields_of(name, kind, spec, groups),
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

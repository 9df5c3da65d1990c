"""A dialect's two-way field table: each of its wire names beside the canonical field it carries, said once.

Parsing a client's fields, encoding a call's args for a panel, decoding a panel's rows and rendering rows for a
client are all read off the same table, so a renamed or inverted field (MidnightStreamer's `banned`, which is
`admin_enabled` the other way round) is one line, never four branches that must agree.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from gateway import fields
from gateway.catalogue import Operation
from gateway.fields import FieldError

# (the name as the client wrote it, its value) -> the canonical value; raises FieldError
Reader = Callable[[str, Any], Any]
# a canonical value -> its wire form
Writer = Callable[[Any], Any]


def text(value: Any) -> Any:
    """The usual wire form: flags as 1/0, lists as lists of strings, the rest as text."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return str(value)


def flipped(value: Any) -> str:
    """A 1/0 flag column the other way round (a row's "1", or a canonical True, becomes "0")."""
    return "0" if value is True or str(value) == "1" else "1"


@dataclass(frozen=True)
class Field:
    """One wire name and the canonical field it carries."""

    wire: str
    canonical: str
    read: Reader | None = None  # None: the canonical field's catalogue type reads it
    write: Writer | None = None  # None: the table's writer
    inverted: bool = False  # a flag meaning the opposite of the canonical one
    alias: bool = False  # read in only: the canonical field goes out under another wire name
    row_only: bool = False  # a column of answered rows, never a request's field
    default: Any = None  # what a create sends when the client gave nothing (a panel that dies without it)


class FieldMap:
    """The fields of one dialect for one kind of record, looked up either way."""

    def __init__(self, *entries: Field, write: Writer = text) -> None:
        self.entries = entries
        self.default_write = write
        self._by_wire = {f.wire: f for f in entries}
        self._request_by_wire = {f.wire: f for f in entries if not f.row_only}
        self._request_out = {f.canonical: f for f in entries if not f.row_only and not f.alias}
        self._row_out = {f.canonical: f for f in entries if not f.alias}

    def extended(self, *entries: Field) -> FieldMap:
        """This table with more fields (a MAG's columns are its line's and its MAC)."""
        return FieldMap(*self.entries, *entries, write=self.default_write)

    def field_of(self, wire: str) -> Field | None:
        """The request field a wire name carries, if this table has it."""
        return self._request_by_wire.get(wire)

    def wire_of(self, canonical: str) -> str:
        """The wire name a canonical field goes out under (its own name when the table does not rename it)."""
        entry = self._request_out.get(canonical)
        return entry.wire if entry else canonical

    def entry(self, canonical: str) -> Field | None:
        """The request field a canonical field goes out as, if this table names it."""
        return self._request_out.get(canonical)

    def defaults(self, declared: Collection[str]) -> dict[str, Any]:
        """The wire fields a create must carry even when empty, for the canonical fields in `declared`."""
        out = self._request_out.values()
        return {f.wire: f.default for f in out if f.default is not None and f.canonical in declared}

    def carries(self, canonical: str) -> bool:
        """Whether a request of this dialect has a place for the canonical field."""
        return canonical in self._request_out

    def read(self, op: Operation, data: dict[str, Any], *, shown: Callable[[str], str], refusal: str) -> dict[str, Any]:
        """Canonical args from a client's wire fields: only fields of this table that `op` declares, each typed;
        any other name is refused as `shown(name)` followed by `refusal`."""
        args: dict[str, Any] = {}
        for name, value in data.items():
            entry = self._request_by_wire.get(name)
            if entry is None or entry.canonical not in op.fields:
                raise FieldError(shown(name), refusal)
            if entry.read is not None:
                read = entry.read(shown(name), value)
            else:
                read = fields.read(shown(name), op.fields[entry.canonical], value)
            args[entry.canonical] = (not read) if entry.inverted and isinstance(read, bool) else read
        return args

    def write(
        self, args: dict[str, Any], *, declared: Collection[str] | None = None, keep_unknown: bool = False
    ) -> dict[str, Any]:
        """A call's canonical args as wire fields, in their order. Absent values (None) are left out, and so are
        names not in `declared` and, unless `keep_unknown`, names this table has no field for."""
        out: dict[str, Any] = {}
        for name, value in args.items():
            if value is None or (declared is not None and name not in declared):
                continue
            entry = self._request_out.get(name)
            if entry is None:
                if keep_unknown:
                    out[name] = self.default_write(value)
                continue
            if entry.inverted:
                out[entry.wire] = flipped(value)
            else:
                out[entry.wire] = (entry.write or self.default_write)(value)
        return out

    def to_canonical(self, row: dict[str, Any]) -> dict[str, Any]:
        """A panel's row in canonical names (columns this table does not know keep theirs)."""
        out: dict[str, Any] = {}
        for name, value in row.items():
            entry = self._by_wire.get(str(name))
            if entry is None:
                out[str(name)] = value
            else:
                out[entry.canonical] = flipped(value) if entry.inverted else value
        return out

    def to_wire(self, row: dict[str, Any]) -> dict[str, Any]:
        """A canonical row in this dialect's names (columns this table does not know keep theirs)."""
        out: dict[str, Any] = {}
        for name, value in row.items():
            entry = self._row_out.get(str(name))
            if entry is None:
                out[str(name)] = value
            else:
                out[entry.wire] = flipped(value) if entry.inverted else value
        return out

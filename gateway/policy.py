"""Policies: which operations a key may call. Allow/deny glob lists, deny wins, danger needs its full name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from gateway.catalogue import Kind, Operation, catalogue
from gateway.guards import Guard, parse_guards
from gateway.settings import ConfigError, Reader


@dataclass(frozen=True)
class Policy:
    name: str
    allow: tuple[str, ...]
    deny: tuple[str, ...]
    description: str = ""
    guards: tuple[Guard, ...] = ()

    def permits(self, op: Operation) -> bool:
        """True when the policy lets a key call `op`.

        A dangerous operation passes only when `allow` names it exactly: a glob such as `*` written for
        convenience must never hand out `mysql_query`.
        """
        if any(op.matches(p) for p in self.deny):
            return False
        if op.kind is Kind.DANGER:
            return op.name in self.allow
        return any(op.matches(p) for p in self.allow)


def load_policy(path: Path) -> Policy:
    """Read one policy file (`allow`/`deny` lists of operation globs, `guards`)."""
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(where, f"cannot read policy: {exc}") from None
    r = Reader(data, where)
    patterns: dict[str, tuple[str, ...]] = {}
    operations = catalogue().operations.values()
    for field_name in ("allow", "deny"):
        items = tuple(str(p) for p in r.items(field_name))
        for i, pattern in enumerate(items):
            # A typo such as `line.delet` in deny would otherwise silently leave the operation allowed.
            if not any(op.matches(pattern) for op in operations):
                raise ConfigError(f"{r.at(field_name)}[{i}]", f"{pattern!r} matches no operation")
        patterns[field_name] = items
    description = r.text("description", "")
    guards = parse_guards(r.get("guards"), r.at("guards"))
    r.done()
    return Policy(
        name=path.stem, allow=patterns["allow"], deny=patterns["deny"], description=description, guards=guards
    )


def load_policies(directory: Path, path: str) -> dict[str, Policy]:
    """Every `*.yaml` policy in `directory`, by file name."""
    if not directory.is_dir():
        raise ConfigError(path, f"{str(directory)!r} is not a directory")
    return {p.stem: load_policy(p) for p in sorted(directory.glob("*.yaml"))}

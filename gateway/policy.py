"""Policies: which operations a key may call. Allow/deny glob lists, deny wins, danger needs its full name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.catalogue import Kind, Operation

if TYPE_CHECKING:
    from gateway.guards import Guard


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

"""What a plan asks the driver to do, and what it is about: the commands a plan yields."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from gateway.catalogue import Operation
from gateway.dialects.base import UpstreamFace
from gateway.dialects.registry import upstream_face
from gateway.model import Call, Outcome
from gateway.upstream_settings import Upstream


@dataclass(frozen=True)
class Send:
    """Send `call` to the upstream; the plan receives its Outcome."""

    call: Call
    op: Operation


@dataclass(frozen=True)
class SendAll:
    """Send every one of `sends` (concurrently, a few at a time); the plan receives their Outcomes in order."""

    sends: tuple[Send, ...]


@dataclass(frozen=True)
class Hold:
    """Hold panel record `record` (one writer at a time) until the plan ends; the plan receives None, or a
    Failure when the record stayed held elsewhere for `wait` seconds."""

    record: str
    wait: float


Command = Send | SendAll | Hold
Plan = Generator[Command, Any, Outcome]


@dataclass(frozen=True)
class Toward:
    """The upstream a plan is for."""

    upstream: Upstream

    @property
    def dialect(self) -> str:
        return self.upstream.dialect

    @property
    def face(self) -> UpstreamFace:
        return upstream_face(self.upstream.dialect)

    def foreign(self, call: Call) -> bool:
        """Whether `call` comes from a client of another dialect than this upstream's."""
        return call.dialect not in ("", self.upstream.dialect)


def single(call: Call, op: Operation) -> Plan:
    """The plan of one call sent as it is (probes, lookups of the pipeline's own)."""
    outcome: Outcome = yield Send(call, op)
    return outcome

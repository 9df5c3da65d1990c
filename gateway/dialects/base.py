"""What every dialect module provides, and the raw request/response types they work on."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.catalogue import Operation
from gateway.model import Call, Credentials, Outcome, Page, Result
from gateway.request import RawRequest
from gateway.upstream_settings import Upstream


@dataclass(frozen=True)
class Rendered:
    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass(frozen=True)
class UpstreamRequest:
    """An HTTP request to a panel, built only from canonical args and the upstream's own config."""

    method: str
    path: str
    form: list[tuple[str, str]]
    secret_fields: frozenset[str] = frozenset()  # fields never to be logged


class ClientFace(Protocol):
    NAME: str

    def expresses(self) -> dict[str, str]:
        """Operations this dialect's clients can call, each with the kind of Ref it addresses records by."""
        ...

    def credentials(self, request: RawRequest) -> Credentials:
        """The gateway key as the client presented it; raises Refused when it is ambiguous."""
        ...

    def parse(self, request: RawRequest) -> Call:
        """Turn a client request into a canonical Call; raises Refused with a Failure on bad input."""
        ...

    def render(self, outcome: Outcome, op: Operation | None, *, http_status_codes: bool) -> Rendered:
        """Render a canonical outcome in this dialect's own shapes."""
        ...

    def list_page(self, op: Operation, args: dict[str, Any]) -> Page | None:
        """The page this dialect's client expects a list cut to, when its own panel pages that list."""
        ...


class UpstreamFace(Protocol):
    NAME: str
    # True when reseller credits can only be moved by adjustment (never set outright on create or edit).
    CREDITS_BY_ADJUSTMENT: bool
    # True when the panel cuts list reads to a page itself and answers their totals.
    PAGES_LISTS: bool
    # True when the panel moves credits by whole numbers only (PHP intval): 2.5 would silently become 2.
    WHOLE_CREDITS: bool
    # True when the panel's edits replace the record's row (gateway.plans.whole_row): edits are sent whole.
    WHOLE_ROW_EDITS: bool
    # True when `decode` keeps the column names as the panel's JSON spells them (no renaming), so an answer that
    # cannot spell a secret name skips the secrets walk (gateway.panel_secrets.cannot_hold).
    NAMES_AS_SENT: bool

    def native(self, op: Operation, ref_kind: str) -> bool:
        """Whether this panel runs `op`, addressed by `ref_kind`, in a single call."""
        ...

    def foreign_fields(self, op: Operation, args: dict[str, Any], upstream: Upstream) -> tuple[str, ...]:
        """The fields of a write that this panel has no place for, or would silently overrule: a call carrying
        one is refused, never answered a success that did not happen."""
        ...

    def encode(self, call: Call, op: Operation, upstream: Upstream) -> UpstreamRequest:
        """Build the panel request for `call`."""
        ...

    def decode(self, op: Operation, status: int, body: bytes) -> Outcome:
        """Turn a panel answer into a canonical Result or Failure."""
        ...

    def verbatim(self, op: Operation, status: int, body: bytes) -> Result | None:
        """The answer kept as the panel wrote it, decoded only if read (gateway.verbatim), when `decode` would
        read it as a success; None: `decode` it. Asked only of faces with NAMES_AS_SENT, for answers that cannot
        hold a secret."""
        ...


def never_verbatim(op: Operation, status: int, body: bytes) -> None:
    """`verbatim` of a face whose answers are always decoded (its names are renamed, or its secrets walked)."""
    return None


@dataclass(frozen=True)
class PathKey:
    """A path form that carries a secret (a key in the path): `pattern` with `replace` is its logged form."""

    pattern: re.Pattern[str]
    replace: str


@dataclass(frozen=True)
class Dialect:
    """Everything the gateway knows of one panel dialect, owned by its package (gateway/dialects/<name>/): its two
    faces (the codec), where its clients reach the gateway, what its upstreams need in the config, how a panel of
    it is probed and its hosts learned, which of its paths carry keys, and what its clients are answered beyond
    their panel's bare answer. Nothing outside the package names a dialect to decide something."""

    name: str
    short: str  # XM, XC, MS: the matrix's column names
    client: ClientFace
    upstream: UpstreamFace
    routes: tuple[str, ...]  # the gateway's paths for this dialect's clients (GET and POST), before the players'
    late_routes: tuple[str, ...] = ()  # ...and after the players' routes (paths that would shadow them)
    probe: str = "account.info"  # the cheapest read, for health probes
    server_list: str | None = None  # an operation whose rows name the panel's hosts (hosts to hide from players)
    upstream_key: str = "api_key"  # the upstream config key holding the panel's secret
    requires_key: bool = True
    access_code: bool = False  # its upstreams have an access code (and a flavour, an admin path)
    path_keys: tuple[PathKey, ...] = ()
    answers_created_row: bool = False  # a created line comes back as its full row (Xtream-Masters' create_line)
    answers_line_extras: bool = False  # a line read carries active_cons, channel_ids, series_ids (XC v2 user/info)
    answers_reseller_password: bool = False  # a created reseller's password is answered (MidnightStreamer)
    # Its lists find a record by username or MAC, for the plans that address records so (XC v2, MidnightStreamer
    # clients). XC_VM's Reseller API answers every list empty to an API key: there, records are found by id only.
    lookups: bool = True
    # Operations its panel runs on any record of the panel, not only the caller's (XC_VM's Reseller API: delete_,
    # disable_, enable_ and convert_ of lines and devices check only that the record exists): the plan reads the
    # record through the resource's `get` (which the panel does scope to the caller) first.
    unscoped: frozenset[str] = frozenset()
    # Why a call its panel has an action for cannot be sent all the same (its op, args, the upstream), or None.
    refusal: Callable[[Operation, dict[str, Any], Upstream], str | None] | None = None
    # Why operations its panel has no action for are refused: op name -> the reason, named in the refusal.
    why_not: Mapping[str, str] = field(default_factory=dict)

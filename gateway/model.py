"""The canonical model every dialect translates to and from: Call, Result, Failure."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

# A canonical argument value: what PHP-style parameters can carry once parsed and typed.
ArgValue = Any


class Reason(enum.StrEnum):
    """Why the gateway itself refused or failed a request, on the admin and the client side alike: the label of
    refusal metrics, the audit's `reason`, and what renderers decide on (never the message's text). A failure the
    panel reported has none."""

    NONE = ""
    # the request itself
    BAD_INPUT = "bad_input"
    TOO_LARGE = "too_large"
    UNKNOWN_ACTION = "unknown_action"
    UNSUPPORTED = "unsupported"  # no upstream can carry it as asked; nothing was sent
    # who asks
    MISSING_KEY = "missing_key"
    BAD_KEY = "bad_key"
    NO_CREDENTIALS = "no_credentials"  # a player's request without a line's username and password
    AUTH_THROTTLE = "auth_throttle"
    # what policy allows
    IP = "ip"
    SCOPE = "scope"
    GUARD = "guard"
    ROUTE = "route"
    RATE = "rate"
    TENANCY = "tenancy"
    BLOCKED_IP = "blocked_ip"
    BLOCKED_UA = "blocked_ua"
    MAX_STREAMS = "max_streams"
    UNKNOWN_ORIGIN = "unknown_origin"
    LINE_REFUSED = "line_refused"  # the panel does not let this line watch (checked before sharing a channel)
    FORMAT_REFUSED = "format_refused"  # ...or not in this format
    PROVIDER_BUSY = "provider_busy"  # every provider line's slots are taken
    BAD_REQUEST = "bad_request"  # a player's request the gateway cannot read
    VIEWER_DROPPED = "viewer_dropped"  # a shared channel's viewer too far behind to keep
    IDEMPOTENCY_MISMATCH = "idempotency_mismatch"  # an Idempotency-Key reused for another request
    IDEMPOTENCY_BUSY = "idempotency_busy"  # the first request with that key still runs past the wait
    KEY_EXPIRED = "key_expired"  # a key past its expires_at
    KEY_NOT_YET_VALID = "key_not_yet_valid"  # a key before its not_before
    KEY_ROTATED = "key_rotated"  # a secret replaced by `key rotate`, past its grace period
    QUOTA = "quota"  # a key's quota of calls a day or a window used up
    UNKNOWN_SEGMENT = "unknown_segment"  # a shared HLS URL forged, expired, of another address, or long gone
    # the upstream's trouble, and the gateway's own
    UPSTREAM_ERROR = "upstream_error"  # unreachable, timed out, or broke off before answering
    UPSTREAM_STATUS = "upstream_status"  # answered an error status
    UPSTREAM_BROKEN = "upstream_broken"  # failed in the middle of a body already under way
    INTERNAL = "internal"

    @property
    def about_key_dates(self) -> bool:
        """A real key refused for its dates: renderers tell the client why (a wrong key is told nothing)."""
        return self in (Reason.KEY_EXPIRED, Reason.KEY_NOT_YET_VALID, Reason.KEY_ROTATED)


class Code(enum.Enum):
    """Canonical failure codes. Dialects map their own error strings to and from these."""

    FAILURE = "FAILURE"
    EXISTS_USERNAME = "EXISTS_USERNAME"
    EXISTS_MAC = "EXISTS_MAC"
    EXISTS_CODE = "EXISTS_CODE"
    EXISTS_NAME = "EXISTS_NAME"
    INVALID_MAC = "INVALID_MAC"
    INVALID_DATE = "INVALID_DATE"
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_GROUP = "INVALID_GROUP"
    INVALID_USERNAME = "INVALID_USERNAME"
    INVALID_PACKAGE = "INVALID_PACKAGE"
    INVALID_TYPE = "INVALID_TYPE"  # a package that does not sell this kind of record (a MAG package on a line)
    INVALID_PASSWORD = "INVALID_PASSWORD"
    INVALID_SUBRESELLER = "INVALID_SUBRESELLER"
    INSUFFICIENT_CREDITS = "INSUFFICIENT_CREDITS"
    NO_TRIALS = "NO_TRIALS"
    NO_PERMISSIONS = "NO_PERMISSIONS"
    NOT_FOUND = "NOT_FOUND"
    UNKNOWN_OPERATION = "UNKNOWN_OPERATION"
    UNSUPPORTED = "UNSUPPORTED"
    FORBIDDEN = "FORBIDDEN"
    UNAUTHORIZED = "UNAUTHORIZED"
    RATE_LIMITED = "RATE_LIMITED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
    UPSTREAM_ERROR = "UPSTREAM_ERROR"
    PARTIAL_FAILURE = "PARTIAL_FAILURE"


# The HTTP status used when a deployment asks for real status codes instead of the panels' 200-always style.
HTTP_STATUS: dict[Code, int] = {
    Code.UNAUTHORIZED: 401,
    Code.FORBIDDEN: 403,
    Code.NO_PERMISSIONS: 403,
    Code.NOT_FOUND: 404,
    Code.UNKNOWN_OPERATION: 400,
    Code.UNSUPPORTED: 501,
    Code.RATE_LIMITED: 429,
    Code.PAYLOAD_TOO_LARGE: 413,
    Code.UPSTREAM_UNAVAILABLE: 503,
    Code.UPSTREAM_ERROR: 502,
    Code.PARTIAL_FAILURE: 502,
    Code.EXISTS_USERNAME: 409,
    Code.EXISTS_MAC: 409,
    Code.EXISTS_CODE: 409,
    Code.EXISTS_NAME: 409,
}


@dataclass(frozen=True)
class Credentials:
    """What the client presented to authenticate, as given (never forwarded upstream)."""

    api_key: str | None = None


@dataclass(frozen=True)
class Ref:
    """How a call addresses its record: by id, a batch of ids, username+password, or MAC."""

    id: int | None = None
    ids: tuple[int, ...] = ()
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    mac: str | None = None

    @property
    def kind(self) -> str:
        if self.id is not None:
            return "id"
        if self.ids:
            return "ids"
        if self.username is not None:
            return "credentials" if self.password is not None else "username"
        if self.mac is not None:
            return "mac"
        return "none"


NO_REF = Ref()


@dataclass(frozen=True)
class Call:
    """One canonical operation request.

    `args` hold canonical field names and typed values; `raw_action` is the client's own action name,
    kept for error messages and audit.
    """

    operation: str
    args: dict[str, ArgValue] = field(default_factory=dict)
    target: Ref = NO_REF
    credentials: Credentials = field(default_factory=Credentials)
    dialect: str = ""
    raw_action: str = ""
    route: str = ""  # dialect-specific routing hint, e.g. the XM access code in the path
    echo: Any = None  # the client's input as its panel echoes it in a failure (Xtream-Masters' `data`)


@dataclass(frozen=True)
class Result:
    """A successful answer: data in canonical field names, paging totals for lists."""

    data: Any = None
    total: int | None = None
    filtered: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    """A failed answer with a canonical code, a human message and the input echo some dialects return."""

    code: Code
    message: str = ""
    echo: Any = None
    reason: Reason = Reason.NONE  # why the gateway refused it (none: the panel's own answer)
    subject: str = ""  # the parameter or field it is about, as the client named it (`user_data[mac]`, `user/pass`)
    retryable: bool = False  # the upstream never received the request: another upstream may be tried
    retry_after: float = 0.0  # seconds after which the same call may succeed (a Retry-After header), 0: unknown

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 400 if self.code.name.startswith("INVALID") else 422)


Outcome = Result | Failure


class Refused(Exception):
    """Raised anywhere in the pipeline to stop a request with a canonical failure."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message or failure.code.value)
        self.failure = failure


DEFAULT_LIMIT = 50  # Xtream-Masters' default page size


@dataclass(frozen=True)
class Page:
    """The page of a list a client asked for (Xtream-Masters' `start`, `limit`, `show_columns`, `hide_columns`),
    when the gateway cuts it rather than the panel."""

    start: int
    limit: int
    show_columns: tuple[str, ...]
    hide_columns: tuple[str, ...]
    search: str = ""  # `search[value]`: rows with it in one of `search_columns` (all columns when empty)
    search_columns: tuple[str, ...] = ()

    @classmethod
    def of(cls, args: dict[str, Any]) -> Page:
        """The page canonical list args ask for (the panel's defaults where they are silent)."""
        return cls(
            start=int(args.get("start", 0)),
            limit=int(args.get("limit", DEFAULT_LIMIT)),
            show_columns=tuple(args.get("show_columns", ())),
            hide_columns=tuple(args.get("hide_columns", ())),
        )

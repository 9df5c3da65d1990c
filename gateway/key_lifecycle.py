"""When a gateway key may be used: `not_before`, `expires_at`, and the secrets it had before a rotation.

Beside each key in the config (gateway.config calls `parse` with the key's reader):

```yaml
- id: reseller-88
  digest: "sha256:..."               # the current secret
  not_before: 2026-12-01T00:00:00Z   # refused before this second (UNIX time, or ISO 8601; no zone means UTC)
  expires_at: 2027-01-01T00:00:00Z   # refused from this second on
  previous_secrets:                  # written by `panelgate key rotate`: old secrets, each valid until its time
    - {digest: "sha256:...", until: 2026-12-09T10:00:00Z}
```

A key refused for its dates is answered UNAUTHORIZED in the client's dialect, with the reason (`key_expired`,
`key_not_yet_valid`, `key_rotated`) in the audit log and the refusal metrics. This module is a leaf: it imports
only the model, the key digests' form and gateway.settings.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from gateway.keys import is_digest
from gateway.model import Code, Failure, Reason
from gateway.settings import ConfigError, Reader, show

_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class PreviousSecret:
    """A key's secret before a rotation, still accepted until `until` (UNIX time)."""

    digest: str = field(repr=False)
    until: float


@dataclass(frozen=True)
class Lifecycle:
    not_before: float | None = None  # UNIX time
    expires_at: float | None = None
    previous: tuple[PreviousSecret, ...] = ()

    def refusal(self, key_id: str, now: float) -> Failure | None:
        """Why key `key_id` may not be used at `now` (None: it may)."""
        if self.not_before is not None and now < self.not_before:
            return Failure(Code.UNAUTHORIZED, f"API key {key_id} is not valid before {iso(self.not_before)}",
                           reason=Reason.KEY_NOT_YET_VALID)  # fmt: skip
        if self.expires_at is not None and now >= self.expires_at:
            return Failure(Code.UNAUTHORIZED, f"API key {key_id} expired at {iso(self.expires_at)}",
                           reason=Reason.KEY_EXPIRED)  # fmt: skip
        return None

    def state(self, now: float) -> str:
        """For `panelgate key list` and the status page: active, expired, not yet valid."""
        if self.not_before is not None and now < self.not_before:
            return "not yet valid"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"


def rotated_out(key_id: str, until: float) -> Failure:
    """The refusal of a secret replaced by a rotation whose grace period has ended."""
    return Failure(Code.UNAUTHORIZED, f"this secret of API key {key_id} was replaced; it stopped working at "
                   f"{iso(until)}", reason=Reason.KEY_ROTATED)  # fmt: skip


def iso(moment: float) -> str:
    """A UNIX time as the config and messages write it: ISO 8601 in UTC, to the second."""
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


LATEST = 253402300799.0  # 9999-12-31T23:59:59Z: the last time `iso` (messages, the status page, key list) can write


def moment(value: Any, path: str) -> float:
    """A point in time from the config: UNIX seconds, or ISO 8601 text or a YAML timestamp (UTC without a zone)."""
    if isinstance(value, bool):
        raise ConfigError(path, f"expected a time such as 2027-01-01T00:00:00Z, got {show(value)}")
    if isinstance(value, int | float):
        if not 0 <= value <= LATEST:  # JavaScript's Date.now() is milliseconds: year 57971
            raise ConfigError(path, f"{show(value)} is not a time in UNIX seconds (milliseconds?); or write "
                              "2027-01-01T00:00:00Z")  # fmt: skip
        return float(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ConfigError(path, f"expected a time such as 2027-01-01T00:00:00Z, got {show(value)}") from None
    if not isinstance(value, dt.datetime):
        raise ConfigError(path, f"expected a time such as 2027-01-01T00:00:00Z, got {show(value)}")
    seconds = (value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)).timestamp()
    if not 0 <= seconds <= LATEST:
        raise ConfigError(path, f"{show(str(value))} is before 1970 or after 9999 in UTC")
    return seconds


def duration(text: str) -> float:
    """`90`, `90s`, `15m`, `24h`, `7d` in seconds (ValueError otherwise)."""
    found = _DURATION.match(text.strip())
    if found is None:
        raise ValueError(f"{text!r} is not a duration such as 3600, 15m, 24h or 7d")
    return float(found.group(1)) * _UNIT[found.group(2)]


def parse(r: Reader) -> Lifecycle:
    """The lifecycle settings of one key entry (its reader)."""
    given = {name: r.get(name) for name in ("not_before", "expires_at")}
    times = {name: moment(value, r.at(name)) for name, value in given.items() if value is not None}
    if "not_before" in times and "expires_at" in times and times["expires_at"] <= times["not_before"]:
        raise ConfigError(r.at("expires_at"), "must be later than not_before")
    previous: list[PreviousSecret] = []
    for i, item in enumerate(r.items("previous_secrets")):
        sub = Reader(item, f"{r.at('previous_secrets')}[{i}]")
        digest = sub.text("digest")
        if not is_digest(digest):
            raise ConfigError(sub.at("digest"), "expected 'sha256:' and 64 hex digits")
        previous.append(PreviousSecret(digest, moment(sub.get("until"), sub.at("until"))))
        sub.done()
    return Lifecycle(times.get("not_before"), times.get("expires_at"), tuple(previous))

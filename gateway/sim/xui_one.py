"""XUI.one as it really runs (measured on XC_VM, its open descendant): what `XtreamMastersSim(flavour="xui_one")`
does differently from the documented Xtream-Masters panel.

Read from XC_VM `src/includes/admin_api.php` (API::processLine :6809, processMAG :2441, processEnigma :2633,
processUser :3579) and `src/bin/nginx/conf/codes/template`, and measured against the running panel:
- edits are not partial: the stored row is overwritten by the request's columns, then every field the action
  computes is reset from the request alone (username/password regenerated when not sent, max_connections /
  enabled / admin_enabled back to 1, flags to 0 unless present, exp_date to NULL unless sent, the allowed
  outputs, IPs and user agents to []), so a client that does not re-send a field loses it;
- `bouquets_selected` is required on create and edit: without it PHP dies with a TypeError, which the panel
  answers as HTTP 200 with an empty body, having written nothing;
- `exp_date` goes through PHP's `new DateTime()` in the panel's timezone: `Y-m-d[ H:i:s]`, `@unix`, US dates,
  relative forms; a bare UNIX number fails (STATUS_INVALID_DATE); dates past 2038 are clamped to 2^31-1;
- nginx's `limit_req zone=one burst=N nodelay` at 20 r/s per client address: past the burst, HTTP 503.

Imports nothing from the gateway: it must not share the gateway's mistakes.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from gateway.sim.xm_state import Params, Row, php_int, random_alnum, to_str

INT_MAX = 2**31 - 1


class PhpFatal(Exception):
    """An uncaught PHP error: XC_VM swallows it (error_reporting 0) and answers HTTP 200 with an empty body."""


class Refused(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


# --- PHP's new DateTime() ----------------------------------------------------------------------------------------

_ABSOLUTE = (
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*(Z|[+-]\d{2}:?\d{2})?$"),
     "ymd"),
    (re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?$"), "mdy"),
    (re.compile(r"^(\d{1,2})[-.](\d{1,2})[-.](\d{4})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?$"), "dmy"),
)
_RELATIVE = re.compile(r"^([+-]?\d+)\s*(sec|second|min|minute|hour|day|week|month|year)s?$")


def php_datetime(text: str, timezone: str, now: float) -> int:
    """The UNIX time `new DateTime(text)` gives in `timezone`; ValueError where PHP throws."""
    text = text.strip()
    zone = ZoneInfo(timezone)
    if re.fullmatch(r"@-?\d+", text):
        return int(text[1:])
    lowered = text.lower()
    base = dt.datetime.fromtimestamp(now, zone)
    if lowered in ("now", "today", "tomorrow", "yesterday"):
        if lowered == "now":
            return int(now)
        midnight = base.replace(hour=0, minute=0, second=0, microsecond=0)
        return int((midnight + dt.timedelta(days={"today": 0, "tomorrow": 1, "yesterday": -1}[lowered])).timestamp())
    relative = _RELATIVE.fullmatch(lowered)
    if relative:
        return int(_shift(base, int(relative.group(1)), relative.group(2)).timestamp())
    for pattern, order in _ABSOLUTE:
        match = pattern.fullmatch(text)
        if match is None:
            continue
        parts = match.groups()
        if order == "ymd":
            year, month, day = int(parts[0]), int(parts[1]), int(parts[2])
        elif order == "mdy":
            month, day, year = int(parts[0]), int(parts[1]), int(parts[2])
        else:
            day, month, year = int(parts[0]), int(parts[1]), int(parts[2])
        hour, minute, second = int(parts[3] or 0), int(parts[4] or 0), int(parts[5] or 0)
        offset = parts[6] if order == "ymd" else None
        tzinfo: dt.tzinfo = zone
        if offset:
            tzinfo = dt.UTC if offset == "Z" else _offset(offset)
        moment = dt.datetime(year, month, day, hour, minute, second, tzinfo=tzinfo)  # ValueError: 31/12/2026
        return int(moment.timestamp())
    raise ValueError(f"DateTime::__construct(): Failed to parse time string ({text})")


def _offset(text: str) -> dt.timezone:
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _shift(base: dt.datetime, amount: int, unit: str) -> dt.datetime:
    if unit in ("month", "year"):
        months = base.month - 1 + amount * (12 if unit == "year" else 1)
        year, month = base.year + months // 12, months % 12 + 1
        return base.replace(year=year, month=month)  # PHP overflows a day past the month's end; rare enough
    seconds = {"sec": 1, "second": 1, "min": 60, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}[unit]
    return base + dt.timedelta(seconds=amount * seconds)


# --- processLine / processMAG / processEnigma -------------------------------------------------------------------

# The `lines` columns verifyPostTable / overwriteData copy from a request by name.
LINE_COLUMNS = (
    "member_id", "username", "password", "last_ip", "exp_date", "admin_enabled", "enabled", "admin_notes",
    "reseller_notes", "bouquet", "allowed_outputs", "max_connections", "is_restreamer", "is_trial", "is_mag", "is_e2",
    "is_stalker", "is_isplock", "allowed_ips", "allowed_ua", "pair_id", "force_server_id", "as_number", "isp_desc",
    "forced_country", "bypass_ua", "play_token", "last_expiration_video", "package_id", "access_token", "contact",
)  # fmt: skip
# The `lines` table's column defaults (database.sql) that verifyPostTable fills in on a create.
_LINE_DEFAULTS = {"is_mag": "0", "is_e2": "0", "force_server_id": "0"}
_VALUE_DEFAULT_ONE = ("max_connections", "enabled", "admin_enabled")
_LINE_FLAGS = ("is_stalker", "is_restreamer", "is_trial", "is_isplock", "bypass_ua")


def _overwrite(row: Row, data: Params, columns: tuple[str, ...]) -> None:
    """overwriteData(): every request key that is a column overwrites it (an empty value over NULL stays NULL)."""
    for name in columns:
        if name in data and not isinstance(data[name], dict | list):
            value = data[name]
            row[name] = None if value == "" and row.get(name) is None else to_str(value)


def _bouquet(data: Params) -> str:
    raw = data.get("bouquets_selected")
    try:
        decoded = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        decoded = None
    if not isinstance(decoded, list):
        raise PhpFatal("array_values(): Argument #1 ($array) must be of type array")  # admin_api.php:6863
    return "[" + ",".join(str(php_int(v)) for v in decoded) + "]"


def _json_or_empty(value: Any) -> str:
    if value is None:
        return "[]"
    items = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else [value]
    return json.dumps(items, separators=(",", ":"))


def exp_date(data: Params, row: Row, timezone: str, now: float) -> Any:
    """The `exp_date` processLine stores: NULL unless sent (or with no_expire); empty keeps what overwriteData
    wrote; anything else through new DateTime(), clamped to the column's INT range."""
    if "exp_date" not in data or "no_expire" in data:
        return None
    text = data["exp_date"]
    if not isinstance(text, str):
        raise PhpFatal("strlen(): Argument #1 ($string) must be of type string")
    if text.strip() == "" or text == "1970-01-01":
        return row.get("exp_date")
    try:
        stamp = php_datetime(text, timezone, now)
    except (ValueError, OverflowError):
        raise Refused("INVALID_DATE") from None
    return str(max(-INT_MAX - 1, min(INT_MAX, stamp)))


def line_values(data: Params, existing: Row | None, *, admin_id: int, timezone: str, now: float,
                device: str = "") -> Row:  # fmt: skip
    """The lines row processLine (device "") or processMAG/processEnigma ("mag"/"e2") writes."""
    row: Row = dict(existing) if existing else {**{name: None for name in LINE_COLUMNS}, **_LINE_DEFAULTS}
    _overwrite(row, data, LINE_COLUMNS)
    length = 32 if device else 10
    for cred in ("username", "password"):
        if device:  # a device's line keeps its credentials (generated once, 32 characters)
            if not row.get(cred):
                row[cred] = random_alnum(length)
        elif not isinstance(data.get(cred), str) or not data[cred]:
            row[cred] = random_alnum(length)
    if device:
        row.update(max_connections="1", is_restreamer="0", is_mag="1" if device == "mag" else "0",
                   is_e2="1" if device == "e2" else "0", allowed_outputs="[1,2]")  # fmt: skip
        for flag in ("is_trial", "is_isplock"):
            row[flag] = "1" if flag in data else "0"
        row["pair_id"] = str(php_int(data["pair_id"])) if "pair_id" in data else None
    else:
        for name in _VALUE_DEFAULT_ONE:
            row[name] = str(php_int(data[name])) if name in data else "1"
        for flag in _LINE_FLAGS:
            row[flag] = "1" if flag in data else "0"
        outputs = data.get("access_output")
        items = list(outputs.values()) if isinstance(outputs, dict) else outputs if isinstance(outputs, list) else []
        row["allowed_outputs"] = "[" + ",".join(str(php_int(v)) for v in items) + "]"
        row["allowed_ua"] = _json_or_empty(data.get("allowed_ua"))
    row["isp_desc"], row["as_number"] = "", None  # whatever isp_clear says (the wrapper blanks it)
    row["bouquet"] = _bouquet(data)
    row["exp_date"] = exp_date(data, row, timezone, now)
    if not php_int(row.get("member_id")):
        row["member_id"] = str(admin_id)
    row["allowed_ips"] = _json_or_empty(data.get("allowed_ips"))
    return row


def user_values(data: Params, existing: Row) -> Row:
    """processUser on an edit: member_group_id required, the username regenerated when not sent, the password
    hash kept unless a new password is sent, override_packages rebuilt from override_<package> keys."""
    if not php_int(data.get("member_group_id")):
        raise Refused("INVALID_GROUP")
    row = dict(existing)
    _overwrite(row, data, ("email", "member_group_id", "credits", "notes", "status", "reseller_dns", "owner_id",
                           "hue", "theme", "timezone", "lang", "username"))  # fmt: skip
    if not isinstance(data.get("username"), str) or not data["username"]:
        row["username"] = random_alnum(10)
    overrides = {}
    for name, value in data.items():
        if name.startswith("override_") and isinstance(value, str) and php_int(value):
            overrides[str(php_int(name.removeprefix("override_")))] = {"assign": 1, "official_credits": php_int(value)}
    row["override_packages"] = json.dumps(overrides or [], separators=(",", ":"))
    return row


# --- nginx limit_req ----------------------------------------------------------------------------------------------


@dataclass
class RequestLimit:
    """`limit_req zone=one burst=N nodelay` with `rate=R r/s` per client address: a request past the burst is
    answered 503 by nginx and never reaches PHP."""

    rate: float = 20.0
    burst: int = 1000
    clock: Any = time.monotonic
    _excess: dict[str, tuple[float, float]] = field(default_factory=dict)  # address -> (excess, at)
    rejected: int = 0

    def admit(self, address: str) -> bool:
        now = self.clock()
        excess, at = self._excess.get(address, (0.0, now))
        excess = max(0.0, excess - (now - at) * self.rate) + 1.0
        if excess > self.burst + 1:
            self.rejected += 1
            return False
        self._excess[address] = (excess, now)
        return True

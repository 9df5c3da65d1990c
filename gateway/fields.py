"""Typed conversions of panel field values, shared by every dialect (pure functions, no I/O).

Each raises FieldError naming the field, so a dialect can answer with its own error shape.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone
from datetime import tzinfo as tzinfo_type
from typing import Any
from zoneinfo import ZoneInfo

from gateway.catalogue import FieldType
from gateway.model import Code

_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
MAX_INT = 2**31 - 1


class FieldError(ValueError):
    def __init__(self, field: str, message: str, code: Code = Code.INVALID_INPUT) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.code = code


def scalar(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise FieldError(field, "must be a single value, not an array")
    return value


def to_int(field: str, value: Any, *, low: int = 0, high: int = MAX_INT) -> int:
    text = scalar(field, value).strip()
    if not re.fullmatch(r"-?[0-9]{1,10}", text):
        raise FieldError(field, f"must be an integer, got {text[:40]!r}")
    number = int(text)
    if not low <= number <= high:
        raise FieldError(field, f"must be between {low} and {high}, got {number}")
    return number


def to_flag(field: str, value: Any) -> bool:
    text = scalar(field, value).strip().lower()
    if text in ("1", "true", "on", "yes"):
        return True
    if text in ("0", "false", "off", "no", ""):
        return False
    raise FieldError(field, f"must be 0 or 1, got {text[:40]!r}")


# The date forms PHP's `new DateTime()` reads and clients send (XUI.one reads exp_date that way): year first,
# optionally with a time and an offset; US month/day/year; day-month-year.
# (a fraction of a second, as toISOString() writes `.000Z`, is read and dropped, as the panel's int column does)
_YMD = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?)?"
                  r"\s*(Z|[+-]\d{2}:?\d{2})?")
_MDY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_DMY = re.compile(r"(\d{1,2})[-.](\d{1,2})[-.](\d{4})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_RELATIVE = re.compile(r"([+-]?\d{1,6})\s*(second|minute|hour|day|week|month|year)s?")
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}


def date_to_unix(field: str, value: Any, timezone: str = "UTC", now: float | None = None) -> int | None:
    """A date as PHP's DateTime reads it in the panel's `timezone` (`2026-12-31`, `2026-12-31 23:59:59`,
    `@1767225600`, `12/31/2026`, `31-12-2026`, `+1 month`, `tomorrow`, with an offset where given) as UNIX time;
    empty or `null` means no expiry. A bare UNIX number is not a date to PHP, and is refused as the panel does."""
    text = scalar(field, value).strip()
    if text == "" or text.lower() == "null":
        return None
    try:
        stamp = _php_date(text, ZoneInfo(timezone), time.time() if now is None else now)
    except (ValueError, OverflowError):
        stamp = None
    if stamp is None:
        raise FieldError(field, f"is not a date (YYYY-MM-DD[ HH:MM:SS] or @unix), got {text[:40]!r}",
                         Code.INVALID_DATE)  # fmt: skip
    return stamp


def _php_date(text: str, zone: ZoneInfo, now: float) -> int | None:
    if re.fullmatch(r"@-?\d{1,12}", text):
        return int(text[1:])
    lowered = text.lower()
    local = datetime.fromtimestamp(now, zone)
    if lowered in ("now", "today", "tomorrow", "yesterday"):
        if lowered == "now":
            return int(now)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return int((midnight + timedelta(days={"today": 0, "tomorrow": 1, "yesterday": -1}[lowered])).timestamp())
    relative = _RELATIVE.fullmatch(lowered)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        if unit in ("month", "year"):
            months = local.month - 1 + amount * (12 if unit == "year" else 1)
            # PHP keeps the day and lets it run over: Jan 31 +1 month is Mar 3, Feb 29 +1 year is Mar 1
            return _overflowing(local.year + months // 12, months % 12 + 1, local.day, local.hour, local.minute,
                                local.second, zone)  # fmt: skip
        return int(now) + amount * _UNITS[unit]
    for pattern, order in ((_YMD, "ymd"), (_MDY, "mdy"), (_DMY, "dmy")):
        match = pattern.fullmatch(text)
        if match is None:
            continue
        a, b, c, hour, minute, second = match.groups()[:6]
        year, month, day = {"ymd": (a, b, c), "mdy": (c, a, b), "dmy": (c, b, a)}[order]
        offset = match.group(7) if order == "ymd" else None
        tzinfo: tzinfo_type = zone if not offset else UTC if offset == "Z" else _offset(offset)
        if int(month) > 12 or int(day) > 31 or int(hour or 0) > 24 or int(minute or 0) > 59 or int(second or 0) > 59:
            return None  # what PHP's parser refuses; within these, it runs over (Feb 30 is Mar 2, 24:00 tomorrow)
        return _overflowing(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                            tzinfo)  # fmt: skip
    return None


def _overflowing(year: int, month: int, day: int, hour: int, minute: int, second: int, tz: tzinfo_type) -> int:
    """A wall-clock time as PHP's DateTime builds it: month 0..12 and day 0..31 run over into the next or the
    previous month (2030-02-30 is 2030-03-02, 2030-02-00 is 2030-01-31), hour 24 into the next day."""
    first = datetime(year + (month - 1) // 12, (month - 1) % 12 + 1, 1, tzinfo=tz)
    return int((first + timedelta(days=day - 1, hours=hour, minutes=minute, seconds=second)).timestamp())


def _offset(text: str) -> tzinfo_type:
    digits = text[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return dt_timezone(-delta if text[0] == "-" else delta)


def unix_to_date(ts: int, timezone: str = "UTC") -> str:
    """A UNIX time as the panel's DateTime reads it back in its `timezone`: the date alone at local midnight."""
    moment = datetime.fromtimestamp(ts, tz=ZoneInfo(timezone))
    if (moment.hour, moment.minute, moment.second) == (0, 0, 0):
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _json_list(field: str, text: str, message: str) -> Any:
    """json.loads for a list field; deep nesting (`[[[[...`) is a bad value, not a RecursionError."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise FieldError(field, message) from None


_PHP_INT_KEY = re.compile(r"0|-?[1-9][0-9]{0,17}").fullmatch


def _php_list(value: Any) -> Any:
    """A PHP array sent with explicit indices (`a[0]=x&a[1]=y`, as http_build_query writes a list) as a list.

    Any integer indices count, in the order given: a list that went through array_unique() or array_filter()
    keeps its keys (`a[0]=x&a[2]=y`), and the panels read its values (array_map, foreach) whatever they are.
    An array with a named key is left as it is (and refused).
    """
    if isinstance(value, dict) and value and all(_PHP_INT_KEY(key) for key in value):
        return list(value.values())
    return value


def int_list(field: str, value: Any) -> list[int]:
    """A list of ids given as a JSON string (`"[1,2]"`) or as a PHP array (`a[]=1&a[]=2`, `a[0]=1&a[1]=2`)."""
    value = _php_list(value)
    if isinstance(value, str):
        parsed = _json_list(field, value, "must be a JSON list of ids such as [1,2]") if value.strip() else []
    elif isinstance(value, list):
        parsed = value
    else:
        raise FieldError(field, "must be a list of ids")
    if not isinstance(parsed, list):
        raise FieldError(field, "must be a list of ids")
    out: list[int] = []
    for item in parsed:
        if isinstance(item, bool):
            raise FieldError(field, "must contain only ids")
        if isinstance(item, int):
            number = item
        elif isinstance(item, str) and re.fullmatch(r"[0-9]{1,10}", item):
            number = int(item)
        else:
            raise FieldError(field, "must contain only ids")
        if not 0 <= number <= MAX_INT:
            raise FieldError(field, "contains an id out of range")
        out.append(number)
    return out


def str_list(field: str, value: Any) -> list[str]:
    """A list of strings from a PHP array, a JSON list string, or a single value."""
    value = _php_list(value)
    if isinstance(value, list):
        items = value
    elif isinstance(value, str) and value.strip().startswith("["):
        items = _json_list(field, value, "must be a list")
        if not isinstance(items, list):
            raise FieldError(field, "must be a list")
    elif isinstance(value, str):
        items = [value] if value else []
    else:
        raise FieldError(field, "must be a list")
    if not all(isinstance(i, str) for i in items):
        raise FieldError(field, "must contain only strings")
    return [str(i) for i in items]


def mac(field: str, value: Any) -> str:
    text = scalar(field, value).strip()
    if not _MAC.fullmatch(text):
        raise FieldError(field, f"is not a MAC address, got {text[:40]!r}", Code.INVALID_MAC)
    return text.upper()


def columns(field: str, value: Any) -> list[str]:
    """`show_columns=a,b` as PHP's explode(',') reads it."""
    return [c for c in scalar(field, value).split(",") if c]


def search(field: str, value: Any) -> dict[str, str]:
    """DataTables' `search[value]=..` (and the `search[regex]` it sends along, which the panels ignore)."""
    if not isinstance(value, dict) or not set(value) <= {"value", "regex"}:
        raise FieldError(field, "must be search[value]=text")
    return {"value": scalar(f"{field}[value]", value.get("value", ""))}


def order(field: str, value: Any) -> list[dict[str, Any]]:
    """DataTables' `order[0][column]=1&order[0][dir]=asc`."""
    value = _php_list(value)
    if not isinstance(value, list):
        raise FieldError(field, "must be order[0][column]=n&order[0][dir]=asc|desc")
    out: list[dict[str, Any]] = []
    for item in value:
        if not isinstance(item, dict) or not set(item) <= {"column", "dir"}:
            raise FieldError(field, "must be order[0][column]=n&order[0][dir]=asc|desc")
        direction = scalar(f"{field}[dir]", item.get("dir", "asc")).lower()
        if direction not in ("asc", "desc"):
            raise FieldError(field, f"direction must be asc or desc, got {direction[:10]!r}")
        out.append({"column": to_int(f"{field}[column]", item.get("column", "0")), "dir": direction})
    return out


def signed_int(field: str, value: Any) -> int:
    return to_int(field, value, low=-MAX_INT - 1)


def number(field: str, value: Any, *, limit: float = 10**9) -> int | float:
    """An integer or a decimal with up to 2 places (credits: XC v2 formats them %.2f): int when it is whole."""
    text = scalar(field, value).strip()
    if not re.fullmatch(r"-?[0-9]{1,10}(\.[0-9]{1,2})?", text):
        raise FieldError(field, f"must be a number such as 10 or 2.5, got {text[:40]!r}")
    amount = float(text)
    if abs(amount) > limit:
        raise FieldError(field, f"must be between {-limit:g} and {limit:g}, got {text[:40]}")
    return int(amount) if amount.is_integer() else amount


# How a field of each type is read from a PHP-style parameter, unless a dialect knows better.
READERS: dict[FieldType, Any] = {
    FieldType.STR: scalar,
    FieldType.INT: signed_int,
    FieldType.NUMBER: number,
    FieldType.FLAG: to_flag,
    FieldType.DATE: date_to_unix,
    FieldType.IDS: int_list,
    FieldType.STRS: str_list,
    FieldType.MAC: mac,
    FieldType.COLUMNS: columns,
    FieldType.SEARCH: search,
    FieldType.ORDER: order,
}


def read(field: str, ftype: FieldType, value: Any) -> Any:
    """The canonical value of `field` (of type `ftype`) from its PHP-style parameter value."""
    reader: Any = READERS[ftype]
    return reader(field, value)


def wire(ftype: FieldType, value: Any) -> Any:
    """A canonical value as PHP-style parameter values (arrays as lists), for the types every dialect writes
    alike; flags and dates are the dialects' own business and are returned as they are."""
    if ftype in (FieldType.IDS, FieldType.STRS):
        return [str(item) for item in value]
    if ftype is FieldType.COLUMNS:
        return ",".join(value)
    if ftype is FieldType.ORDER:
        return [{"column": str(item["column"]), "dir": item["dir"]} for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value

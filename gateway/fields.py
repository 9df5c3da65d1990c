"""Typed conversions of panel field values, shared by every dialect (pure functions, no I/O).

Each raises FieldError naming the field, so a dialect can answer with its own error shape.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from gateway.catalogue import FieldType
from gateway.model import Code

_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")
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


def date_to_unix(field: str, value: Any) -> int | None:
    """A panel date (`YYYY-MM-DD[ HH:MM[:SS]]`, UTC) or a UNIX timestamp; empty means no expiry."""
    text = scalar(field, value).strip()
    if text == "" or text.lower() == "null":
        return None
    if re.fullmatch(r"[0-9]{1,10}", text):
        return int(text)
    for fmt in _DATE_FORMATS:
        try:
            return int(datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp())
        except ValueError:
            continue
    raise FieldError(field, f"is not a date (YYYY-MM-DD), got {text[:40]!r}", Code.INVALID_DATE)


def unix_to_date(ts: int) -> str:
    """The Xtream-Masters date form of a UNIX timestamp: the date alone when it is midnight UTC."""
    moment = datetime.fromtimestamp(ts, tz=UTC)
    if (moment.hour, moment.minute, moment.second) == (0, 0, 0):
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _json_list(field: str, text: str, message: str) -> Any:
    """json.loads for a list field; deep nesting (`[[[[...`) is a bad value, not a RecursionError."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise FieldError(field, message) from None


def _php_list(value: Any) -> Any:
    """A PHP array sent with explicit indices (`a[0]=x&a[1]=y`, as http_build_query writes a list) as a list.

    Only the indices 0..n-1 in order count as a list; any other keyed array is left as it is (and refused).
    """
    if isinstance(value, dict) and list(value) == [str(i) for i in range(len(value))]:
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


# How a field of each type is read from a PHP-style parameter, unless a dialect knows better.
READERS: dict[FieldType, Any] = {
    FieldType.STR: scalar,
    FieldType.INT: signed_int,
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
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value

"""State of the simulated XUI.one panel and the small helpers every action module shares."""

from __future__ import annotations

import json
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.sim import seed

Row = dict[str, Any]
Params = dict[str, Any]
Answer = Any  # what the panel json_encodes: usually {"status": .., "data": ..}, sometimes a bare list


@dataclass
class XMState:
    tables: seed.Tables
    admin_id: int = seed.ADMIN_ID
    # Reproduce the panel's own PHP bugs (see the module docstring of gateway.sim.xtream_masters).
    php_bugs: bool = True
    # "xtream_masters": the documented panel (partial edits, dates read as UTC); "xui_one": XUI.one as it runs
    # (gateway.sim.xui_one: whole-row edits, PHP DateTime in `timezone`).
    flavour: str = "xtream_masters"
    timezone: str = "UTC"
    clock: Callable[[], float] = time.time
    _next: dict[str, int] = field(default_factory=dict)

    def now(self) -> int:
        return int(self.clock())

    def table(self, name: str) -> dict[int, Row]:
        return self.tables.setdefault(name, {})

    def new_id(self, name: str) -> int:
        """AUTO_INCREMENT: never reuses an id, even after deletes."""
        current = max(self._next.get(name, 0), max(self.table(name), default=0))
        self._next[name] = current + 1
        return current + 1


# --- PHP-ish values --------------------------------------------------------------------------------------------


def php_int(value: Any, default: int = 0) -> int:
    """intval(): leading digits of a string, 0 for anything else."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        sign = -1 if text.startswith("-") else 1
        text = text.lstrip("+-")
        digits = ""
        for ch in text:
            if not ch.isdigit():
                break
            digits += ch
        return sign * int(digits) if digits else default
    return default


def is_numeric(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | float):
        return True
    if not isinstance(value, str):
        return False
    try:
        float(value.strip())
    except ValueError:
        return False
    return value.strip() != "" and value.strip().lower() not in ("nan", "inf", "-inf", "infinity")


def row_id(params: Params, key: str = "id") -> int | None:
    """The panel looks rows up by `WHERE id = ?`: a non-numeric id finds nothing."""
    value = params.get(key)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def to_str(value: Any) -> Any:
    """A value as MySQL would hand it back to PHP."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def json_list(value: Any) -> str:
    """An `x[]` array (or a single value) stored the way the panel stores lists: a JSON string."""
    if value is None or value == "":
        items: list[Any] = []
    elif isinstance(value, list):
        items = value
    elif isinstance(value, dict):
        items = list(value.values())
    else:
        items = [value]
    return json.dumps([int(v) if isinstance(v, str) and v.isdigit() else v for v in items], separators=(",", ":"))


def random_alnum(length: int = 10) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


# --- answers ---------------------------------------------------------------------------------------------------


SUCCESS: dict[str, str] = {"status": "STATUS_SUCCESS"}
FAILURE: dict[str, str] = {"status": "STATUS_FAILURE"}


def ok(data: Any = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "STATUS_SUCCESS"}
    if data is not None:
        body["data"] = data
    body.update(extra)
    return body


def fail(name: str, echo: Params) -> dict[str, Any]:
    """A service error as parseError() renders it: the status name and the input it was given."""
    return {"status": f"STATUS_{name}", "data": echo}


def public(row: Row | None, hidden: tuple[str, ...] = ()) -> Row | None:
    if row is None:
        return None
    return {k: v for k, v in row.items() if k not in hidden}


def filter_row(row: Any, show: list[str] | None, hide: list[str] | None) -> Any:
    """APIWrapper::filterRow on one row: keep `show` columns, else drop `hide` columns; an empty result is `[]`."""
    if not show and not hide:
        return row
    if isinstance(row, list):
        # a list treated as a row (get_blocked_isps): its keys are 0..n-1, so no column name matches them
        return [] if show else row
    out: Row = {}
    if isinstance(row, dict):
        for key, value in row.items():
            if show:
                if key in show:
                    out[key] = value
            elif hide and key not in hide:
                out[key] = value
    return out if out else []


def filter_answer(answer: dict[str, Any], show: list[str] | None, hide: list[str] | None) -> dict[str, Any]:
    """filterRow applied to an answer's `data` (it also sets `data` on a failure, as the panel does)."""
    if not show and not hide:
        return answer
    return {**answer, "data": filter_row(answer.get("data"), show, hide)}


def filter_rows(rows: list[Any], show: list[str] | None, hide: list[str] | None) -> list[Any]:
    return [filter_row(r, show, hide) for r in rows]

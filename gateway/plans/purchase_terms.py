"""What a package sale costs and gives, computed as XC_VM's ResellerAPI::processLine / processMAG / processEnigma
compute it (src/includes/reseller_api.php), from rows an admin API answers: pure functions, no I/O.

gateway.plans.purchase reads the rows (the buyer, its group, the package) and sends what these decide, so that a
Reseller API client gets, through an admin-API upstream, the line and the charge the panel's own Reseller API
would have made.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from gateway import jsonio
from gateway.dialects.common import json_array
from gateway.model import Code, Failure

# the package column that says which kind of record it sells
KIND_COLUMN = {"line": "is_line", "mag": "is_mag", "enigma": "is_e2"}
# checkCompatible() (src/includes/admin.php): a renewal with a package differing in these restarts the expiry
COMPATIBLE_JSON = ("bouquets", "output_formats")
COMPATIBLE_VALUES = ("is_restreamer", "is_isplock", "max_connections", "force_server_id", "forced_country",
                     "lock_device")  # fmt: skip


def intval(value: Any) -> int:
    """PHP's intval() of a MySQL value: leading digits, 0 for anything else."""
    text = str(value if value is not None else "").strip()
    sign = -1 if text.startswith("-") else 1
    digits = ""
    for ch in text.lstrip("+-"):
        if not ch.isdigit():
            break
        digits += ch
    return sign * int(digits) if digits else 0


def flag(value: Any) -> bool:
    """PHP truthiness of a MySQL value ("0", "", NULL are false)."""
    return value not in (None, "", "0", 0, False)


def strtotime_plus(amount: int, unit: Any, base: float, timezone: str) -> int:
    """strtotime('+N unit', base) in the panel's time zone: hours, days and weeks by the clock; months and years
    on the calendar, a day past the month's end overflowing into the next month as PHP does (Jan 31 + 1 month is
    Mar 3)."""
    moment = dt.datetime.fromtimestamp(base, ZoneInfo(timezone))
    word = str(unit or "").strip().lower().rstrip("s")
    seconds = {"second": 1, "sec": 1, "minute": 60, "min": 60, "hour": 3600, "day": 86400, "week": 604800}
    if word in seconds:
        return int(base) + amount * seconds[word]
    if word not in ("month", "year"):
        raise ValueError(f"unknown duration unit {unit!r}")
    months = moment.month - 1 + amount * (12 if word == "year" else 1)
    year, month = moment.year + months // 12, months % 12 + 1
    overflow = max(0, moment.day - calendar.monthrange(year, month)[1])
    landed = moment.replace(year=year, month=month, day=moment.day - overflow) + dt.timedelta(days=overflow)
    return int(landed.timestamp())


@dataclass(frozen=True)
class Buyer:
    """The paying reseller (its `users` row) and its group's permissions (its `users_groups` row)."""

    row: dict[str, Any]
    group: dict[str, Any]

    @property
    def id(self) -> int:
        return intval(self.row.get("id"))

    @property
    def credits(self) -> int:
        return intval(self.row.get("credits"))

    def may(self, permission: str) -> bool:
        return flag(self.group.get(permission))

    def minimum(self, what: str) -> int:
        return intval(self.group.get(f"minimum_{what}_length"))


def sale_refusal(kind: str, package: dict[str, Any] | None, buyer: Buyer, echo: Any) -> Failure | None:
    """Whether `package` may be sold as a `kind` by `buyer`: INVALID_TYPE for a package that does not sell that
    kind (or none at all, as the panel reads a missing row), INVALID_PACKAGE outside the buyer's group."""
    if package is None or not flag(package.get(KIND_COLUMN[kind])):
        return Failure(Code.INVALID_TYPE, f"the package does not sell a {kind}", echo=echo)
    groups = [intval(g) for g in json_array(package.get("groups"))]
    if intval(buyer.row.get("member_group_id")) not in groups:
        return Failure(Code.INVALID_PACKAGE, "the package is not sold to this reseller's group", echo=echo)
    return None


def cost(package: dict[str, Any], buyer: Buyer, trial: bool) -> int:
    """The price: the trial's, or the official one (the reseller's override of it, when it has one)."""
    if trial:
        return intval(package.get("trial_credits"))
    overrides = buyer.row.get("override_packages")
    entry = _override(overrides, str(intval(package.get("id"))))
    if entry is not None:
        return intval(entry)
    return intval(package.get("official_credits"))


def _override(overrides: Any, package_id: str) -> Any:
    """The reseller's own price of a package from override_packages (JSON: {id: {official_credits: n}})."""
    if isinstance(overrides, str) and overrides.strip().startswith("{"):
        try:
            overrides = jsonio.loads(overrides.encode())
        except (ValueError, RecursionError):
            return None
    entry = overrides.get(package_id) if isinstance(overrides, dict) else None
    credits = entry.get("official_credits") if isinstance(entry, dict) else None
    return credits if credits is not None and len(str(credits)) > 0 else None


def trial_window_start(buyer: Buyer, now: float) -> float | None:
    """canGenerateTrials(): None when the group may make no trial now (none allowed, or fewer credits than its
    minimum); else the time from which its trials count. The panel measures the window in units of the quota
    itself (`total` hours, else `total` days): that is its code, reproduced."""
    total = intval(buyer.group.get("total_allowed_gen_trials"))
    if total <= 0 or buyer.credits < intval(buyer.group.get("minimum_trial_credits")):
        return None
    unit = 3600 if str(buyer.group.get("total_allowed_gen_in")) == "hours" else 86400
    return now - total * unit


def expiry(package: dict[str, Any], trial: bool, current: dict[str, Any] | None, compatible: bool,
           now: float, timezone: str) -> int:  # fmt: skip
    """The new exp_date: a trial's from now; a sale's from now; a renewal with a compatible package extends an
    unexpired line from its current expiry."""
    prefix = "trial" if trial else "official"
    amount, unit = intval(package.get(f"{prefix}_duration")), package.get(f"{prefix}_duration_in")
    base = now
    if not trial and current is not None and compatible:
        stored = current.get("exp_date")
        if stored not in (None, "") and now <= intval(stored):
            base = intval(stored)
    return strtotime_plus(amount, unit, base, timezone)


def compatible(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """checkCompatible(): a missing package is compatible; otherwise the bouquets, outputs and line settings
    must match."""
    if old is None:
        return True
    if any(json_array(old.get(k)) != json_array(new.get(k)) for k in COMPATIBLE_JSON):
        return False
    return all(str(old.get(k) or 0) == str(new.get(k) or 0) for k in COMPATIBLE_VALUES)


def bouquets(package: dict[str, Any], buyer: Buyer, selected: Any) -> list[int]:
    """The package's bouquets, or the buyer's selection among them when its group may change bouquets (an
    empty or foreign selection keeps the package's)."""
    offered = [intval(b) for b in json_array(package.get("bouquets"))]
    if buyer.may("allow_change_bouquets") and isinstance(selected, list) and selected:
        chosen = [b for b in selected if b in offered]
        if chosen:
            return chosen
    return offered


def package_settings(package: dict[str, Any]) -> dict[str, Any]:
    """What the package sets on the record it sells, in canonical fields."""
    return {
        "max_connections": intval(package.get("max_connections")),
        "is_restreamer": flag(package.get("is_restreamer")),
        "force_server_id": intval(package.get("force_server_id")),
        "forced_country": str(package.get("forced_country") or ""),
        "is_isplock": flag(package.get("is_isplock")),
        "access_output": [intval(o) for o in json_array(package.get("output_formats"))],
        "package": intval(package.get("id")),
    }

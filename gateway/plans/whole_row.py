"""Edits that replace the whole row, made safe: the record's current values, as the fields an edit re-sends.

XUI.one's edit_line (API::processLine) starts from the stored row but then resets everything it computes from
the request alone: username and password regenerated when not sent, max_connections / enabled / admin_enabled
back to 1, every flag to 0 unless present, exp_date to "never" unless sent, the allowed outputs, IPs and user
agents to []; edit_mag / edit_enigma likewise for the device's line (and need the MAC re-sent); edit_user needs
the group, regenerates an absent username and logs a credit change of -balance when credits are not sent. So a
partial edit, which is all XC v2 `user/edit` and MidnightStreamer `line/update` send, would wipe a customer's
line while the client is told it succeeded. The plan reads the record first and sends these values with the
client's own on top (pure functions here; the plan reads and holds the record: gateway.plans.calls).
"""

from __future__ import annotations

from typing import Any

from gateway.dialects.common import json_array

# edit operation -> the read that gives its current row
EDITS = {"line.edit": "line.get", "mag.edit": "mag.get", "enigma.edit": "enigma.get", "reseller.edit": "reseller.get",
         "package.edit": "package.get"}  # fmt: skip
_LINE_FLAGS = ("is_restreamer", "is_trial", "is_isplock", "is_stalker", "bypass_ua")


def _flag(value: Any) -> bool:
    return str(value) == "1"


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _ids(value: Any) -> list[int]:
    return [n for n in (_int(v) for v in json_array(value)) if n is not None]


def _expiry(row: dict[str, Any]) -> dict[str, Any]:
    """A stored exp_date as the edit re-sends it: a time, or never (NULL or 0 in the column)."""
    stamp = _int(row.get("exp_date"))
    return {"exp_date": stamp if stamp else None}


def _line(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "username": row.get("username"),
        "password": row.get("password"),
        "bouquets": _ids(row.get("bouquet")),
        "access_output": _ids(row.get("allowed_outputs")),
        "allowed_ips": [str(v) for v in json_array(row.get("allowed_ips"))],
        "allowed_ua": [str(v) for v in json_array(row.get("allowed_ua"))],
        **_expiry(row),
        **{flag: _flag(row.get(flag)) for flag in _LINE_FLAGS},
        # the Reseller API's processLine writes these from the request alone (NULL when not sent; the owner: the
        # caller)
        "contact": row.get("contact"),
        "reseller_notes": row.get("reseller_notes"),
        "member_id": _int(row.get("member_id")),
    }
    for name in ("max_connections",):
        number = _int(row.get(name))
        if number is not None:
            out[name] = number
    for name in ("enabled", "admin_enabled"):
        if row.get(name) is not None:
            out[name] = _flag(row[name])
    return {k: v for k, v in out.items() if v is not None or k == "exp_date"}


def _device(row: dict[str, Any]) -> dict[str, Any]:
    """A MAG or Enigma2 row (the device, its line nested under `user`): what processMAG/processEnigma reset."""
    nested = row.get("user")
    line: dict[str, Any] = nested if isinstance(nested, dict) else {}
    out: dict[str, Any] = {
        "mac": row.get("mac"),
        "lock_device": _flag(row.get("lock_device")),
        "bouquets": _ids(line.get("bouquet")),
        "allowed_ips": [str(v) for v in json_array(line.get("allowed_ips"))],
        "is_trial": _flag(line.get("is_trial")),
        "is_isplock": _flag(line.get("is_isplock")),
        "reseller_notes": line.get("reseller_notes"),
        "member_id": _int(line.get("member_id")),
        **_expiry(line),
    }
    pair = _int(line.get("pair_id"))
    if pair:
        out["pair_id"] = pair
    return {k: v for k, v in out.items() if v is not None or k == "exp_date"}


def _reseller(row: dict[str, Any]) -> dict[str, Any]:
    """processUser: the group is required, an absent username regenerated, credits logged as changed unless
    re-sent, and package overrides rebuilt from the request; the Reseller API's also empties the email, DNS and
    notes and makes the caller the owner unless they are sent."""
    out: dict[str, Any] = {"username": row.get("username"), "member_group_id": _int(row.get("member_group_id")),
                           "credits": _int(row.get("credits")),
                           # the Reseller API's processUser writes these from the request alone (NULL, or the
                           # caller as the owner, when not sent)
                           "owner_id": _int(row.get("owner_id")), "email": row.get("email"),
                           "reseller_dns": row.get("reseller_dns"), "notes": row.get("notes")}  # fmt: skip
    overrides = row.get("override_packages")
    if isinstance(overrides, str) and overrides not in ("", "[]", "{}", "null"):
        out["override_packages"] = overrides
    return {k: v for k, v in out.items() if v is not None}


_PACKAGE_FLAGS = ("is_trial", "is_official", "is_mag", "is_e2", "is_line", "lock_device", "is_restreamer", "is_isplock",
                  "check_compatible")  # fmt: skip


def _package(row: dict[str, Any]) -> dict[str, Any]:
    """processPackage: groups and bouquets required (JSON), the flags reset unless present."""
    return {
        "groups_selected": _ids(row.get("groups")),
        "bouquets": _ids(row.get("bouquets")),
        "output_formats": _ids(row.get("output_formats")),
        **{flag: _flag(row.get(flag)) for flag in _PACKAGE_FLAGS},
    }


_BY_RESOURCE = {"line": _line, "mag": _device, "enigma": _device, "reseller": _reseller, "package": _package}


def current_args(resource: str, row: Any) -> dict[str, Any]:
    """The canonical fields an edit of `resource` must re-send to keep `row` as it is."""
    return _BY_RESOURCE[resource](row) if isinstance(row, dict) else {}

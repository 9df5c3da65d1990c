"""The `upstreams`, `pools` and `access_codes` sections: each upstream under its dialect's own rules (the
Dialect object says which key it takes and whether it has an access code), pools of one dialect's replicas, and
the access codes that select them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.dialects.registry import BY_NAME
from gateway.settings import ConfigError, Reader, http_url, show
from gateway.upstream_settings import ADMIN_PATHS, Budget, Upstream


def parse_upstream(name: str, data: Any, path: str) -> Upstream:
    """An upstream, under its dialect's own rules (gateway/dialects/<name>/: which key it takes, whether it has an
    access code)."""
    r = Reader(data, path)
    name_of_dialect = r.text("dialect")
    if name_of_dialect not in BY_NAME:
        raise ConfigError(r.at("dialect"), f"{name_of_dialect!r} is not one of {', '.join(BY_NAME)}")
    dialect = BY_NAME[name_of_dialect]
    flavour = r.text("flavour", "xtream_masters")
    if flavour not in ADMIN_PATHS:
        raise ConfigError(r.at("flavour"), f"{flavour!r} is not one of {', '.join(ADMIN_PATHS)}")
    up = Upstream(
        name=name,
        dialect=dialect.name,
        url=http_url(r.text("url"), r.at("url")),
        access_code=r.text("access_code", ""),
        api_key=r.text(dialect.upstream_key, ""),
        timeout=r.number("timeout", 10.0),
        flavour=flavour,
        admin_path=r.text("admin_path", ADMIN_PATHS[flavour]),
        timezone=_timezone(r.text("timezone", "UTC"), r.at("timezone")),
        budget=_budget(r.get("budget", {}), r.at("budget")),
    )
    for key in ("access_code", "flavour", "admin_path"):
        if not dialect.access_code and r.data.get(key) is not None:
            raise ConfigError(r.at(key), f"{dialect.name} upstreams have no {key}: only xtream_masters ones do")
    if not up.admin_path.startswith("/") or "{code}" not in up.admin_path:
        raise ConfigError(r.at("admin_path"), f"expected a path with {{code}}, such as /{{code}}/: {up.admin_path!r}")
    if dialect.access_code and not re.fullmatch(r"[A-Za-z0-9_-]+", up.access_code):
        raise ConfigError(r.at("access_code"), f"{up.access_code!r} is not a valid access code")
    if dialect.requires_key and not up.api_key:
        raise ConfigError(r.at(dialect.upstream_key), f"is required for a {dialect.name} upstream")
    r.done()
    return up


def parse_upstreams(data: Any) -> dict[str, Upstream]:
    """`upstreams: {name: {dialect: ..., url: ..., ...}}`: at least one."""
    if not isinstance(data, dict) or not data:
        raise ConfigError("upstreams", "at least one upstream is required")
    return {str(n): parse_upstream(str(n), d, f"upstreams.{n}") for n, d in data.items()}


def _timezone(name: str, path: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(path, f"{name!r} is not a time zone (use an IANA name such as Europe/London)") from None
    return name


def _budget(data: Any, path: str) -> Budget | None:
    """`budget: {per_second: 20, burst: 20, max_wait: 5, queue: 200}`; `budget: null` sends without a limit."""
    if data is None:
        return None
    r = Reader(data, path)
    default = Budget()
    budget = Budget(
        per_second=r.number("per_second", default.per_second),
        burst=r.integer("burst", default.burst, low=1, high=100_000),
        max_wait=r.seconds("max_wait", default.max_wait),
        queue=r.integer("queue", default.queue, low=0, high=1_000_000),
    )
    if budget.per_second <= 0:
        raise ConfigError(r.at("per_second"), f"expected a positive number, got {show(budget.per_second)}")
    r.done()
    return budget


def parse_pools(data: Any, upstreams: Mapping[str, Upstream]) -> dict[str, tuple[str, ...]]:
    """`pools: {name: [upstream, ...]}`: reads fail over in order; members must speak one dialect."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("pools", f"expected a mapping of pool name -> list of upstreams, got {show(data)}")
    pools: dict[str, tuple[str, ...]] = {}
    for name, members in data.items():
        where = f"pools.{name}"
        if name in upstreams:
            raise ConfigError(where, "a pool cannot have the name of an upstream")
        if not isinstance(members, list) or not members:
            raise ConfigError(where, f"expected a list of upstream names, got {show(members)}")
        for i, member in enumerate(members):
            if not isinstance(member, str) or member not in upstreams:
                raise ConfigError(f"{where}[{i}]", f"no upstream named {member!r}")
        dialects = {upstreams[m].dialect for m in members}
        if len(dialects) > 1:
            raise ConfigError(where, f"members speak different dialects ({', '.join(sorted(dialects))})")
        pools[str(name)] = tuple(str(m) for m in members)
    return pools


def parse_access_codes(data: Any, targets: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """`access_codes: {code: upstream-or-pool}`: the Xtream-Masters path code a client uses selects it; or
    `{code: {upstream: .., dialect: xui_reseller}}`: the code also says which API answers at it (parse_code_dialects),
    as an XUI.one access code's type does."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("access_codes", f"expected a mapping of code -> upstream or pool, got {show(data)}")
    codes: dict[str, str] = {}
    for code, entry in data.items():
        target = entry.get("upstream") if isinstance(entry, dict) else entry
        if not isinstance(target, str) or target not in targets:
            raise ConfigError(f"access_codes.{code}", f"no upstream or pool named {target!r}")
        codes[str(code)] = target
    return codes


def parse_code_dialects(data: Any) -> dict[str, str]:
    """The client dialect answering at each access code that names one (the admin API's unless it does)."""
    faces: dict[str, str] = {}
    for code, entry in (data or {}).items() if isinstance(data, dict) else ():
        if not isinstance(entry, dict):
            continue
        r = Reader(entry, f"access_codes.{code}")
        r.text("upstream")
        name = r.text("dialect")
        if name not in BY_NAME:
            raise ConfigError(r.at("dialect"), f"{name!r} is not one of {', '.join(BY_NAME)}")
        r.done()
        faces[str(code)] = name
    return faces

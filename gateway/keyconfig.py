"""The `keys` section: the gateway's own API keys (stored as digests), each with its policy, its upstreams, its
addresses and its rate; and the rate form they share with the auth throttle."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.keys import is_digest
from gateway.policy import Policy
from gateway.ratelimit import Rate
from gateway.settings import ConfigError, IPNetwork, Reader, show


@dataclass(frozen=True)
class KeyConfig:
    id: str
    digest: str = field(repr=False)
    policy: Policy
    upstream: str  # the default target: an upstream or a pool
    reseller_id: int | None = None
    allowed_ips: tuple[IPNetwork, ...] = ()
    rate: Rate | None = None
    ip_only: bool = False  # no secret: a legacy XC v2 script is identified by its source address alone
    targets: tuple[str, ...] = ()  # every upstream or pool this key may use (the default first)


def parse_rate(data: Any, path: str) -> Rate | None:
    """`{per_second: 20, burst: 40}` or `{per_minute: 10, burst: 10}`."""
    if data is None:
        return None
    r = Reader(data, path)
    per_second = r.get("per_second")
    per_minute = r.get("per_minute")
    if (per_second is None) == (per_minute is None):
        raise ConfigError(path, "give exactly one of per_second or per_minute")
    value = r.number("per_second" if per_second is not None else "per_minute", 1.0)
    rate = value if per_second is not None else value / 60
    burst = r.integer("burst", max(1, int(value)), low=1, high=1_000_000)
    r.done()
    return Rate(per_second=rate, burst=burst)


def parse_key(data: Any, path: str, targets: Mapping[str, Any], policies: Mapping[str, Policy]) -> KeyConfig:
    """One key: a digest (or `ip_only` with the addresses that identify it), a policy, its upstreams or pools."""
    r = Reader(data, path)
    key_id = r.text("id")
    ip_only = r.flag("ip_only", False)
    if ip_only:
        if r.data.get("digest") is not None:
            raise ConfigError(r.at("digest"), "an ip_only key has no digest: its source address identifies it")
        if not r.data.get("allowed_ips"):
            raise ConfigError(r.at("allowed_ips"), "an ip_only key needs the addresses that identify it")
        digest = f"ip-only:{key_id}"
    else:
        digest = r.text("digest")
        if not is_digest(digest):
            raise ConfigError(r.at("digest"), "expected 'sha256:' and 64 hex digits (see `panelgate key new`)")
    policy_name = r.text("policy")
    if policy_name not in policies:
        raise ConfigError(r.at("policy"), f"no policy named {policy_name!r} (have: {', '.join(policies)})")
    given = r.get("upstream", next(iter(targets)))
    names = [given] if isinstance(given, str) else given
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ConfigError(r.at("upstream"), f"expected an upstream or pool name, or a list of them, got {show(given)}")
    for i, name in enumerate(names):
        if name not in targets:
            where = r.at("upstream") if isinstance(given, str) else f"{r.at('upstream')}[{i}]"
            raise ConfigError(where, f"no upstream or pool named {name!r}")
    reseller = r.get("reseller_id")
    if reseller is not None and (isinstance(reseller, bool) or not isinstance(reseller, int) or reseller <= 0):
        raise ConfigError(r.at("reseller_id"), f"expected a positive integer, got {show(reseller)}")
    key = KeyConfig(
        id=key_id,
        digest=digest,
        policy=policies[policy_name],
        upstream=names[0],
        reseller_id=reseller,
        allowed_ips=r.networks("allowed_ips"),
        rate=parse_rate(r.get("rate"), r.at("rate")),
        ip_only=ip_only,
        targets=tuple(names),
    )
    r.done()
    return key


def parse_keys(items: list[Any], targets: Mapping[str, Any], policies: Mapping[str, Policy]) -> tuple[KeyConfig, ...]:
    """Every key; two with the same id or the same digest are refused (the digest is not echoed: it may be a
    pasted key)."""
    keys = tuple(parse_key(k, f"keys[{i}]", targets, policies) for i, k in enumerate(items))
    seen: dict[str, str] = {}
    for i, k in enumerate(keys):
        for attr, value in (("id", k.id), ("digest", k.digest)):
            tag = f"{attr}:{value}"
            if tag in seen:
                shown = f"{value!r} " if attr == "id" else ""
                raise ConfigError(f"keys[{i}].{attr}", f"{shown}duplicates {seen[tag]}")
            seen[tag] = f"keys[{i}]"
    return keys

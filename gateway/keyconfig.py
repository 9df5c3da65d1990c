"""The `keys` section: the gateway's own API keys (stored as digests), each with its policy, its upstreams, its
addresses and its rate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.catalogue import catalogue
from gateway.key_lifecycle import Lifecycle
from gateway.key_lifecycle import parse as parse_lifecycle
from gateway.keys import is_digest
from gateway.policy import Policy
from gateway.quotas.settings import Quota
from gateway.quotas.settings import parse as parse_quotas
from gateway.rate import Rate, parse_rate
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
    lifecycle: Lifecycle = field(default_factory=Lifecycle)  # not_before, expires_at, rotated secrets
    quotas: tuple[Quota, ...] = ()  # calls per day or window by operation glob (gateway.quotas)
    source: str = ""  # the keys_from file the key is in ("": the main config)


def parse_key(data: Any, path: str, targets: Mapping[str, Any], policies: Mapping[str, Policy],
              source: str = "") -> KeyConfig:  # fmt: skip
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
        lifecycle=parse_lifecycle(r),
        quotas=parse_quotas(r, "quotas", catalogue().operations),
        source=source,
    )
    r.done()
    return key


def parse_keys(entries: list[tuple[Any, str, str]], targets: Mapping[str, Any],
               policies: Mapping[str, Policy]) -> tuple[KeyConfig, ...]:  # fmt: skip
    """Every key, from its (data, YAML path, file: "" for the main config); two with the same id or the same
    secret (a digest, or a rotated-out one still in `previous_secrets`) are refused (a digest is not echoed: it
    may be a pasted key)."""
    keys = tuple(parse_key(data, where, targets, policies, source) for data, where, source in entries)
    seen: dict[str, str] = {}
    for (_, where, _), k in zip(entries, keys, strict=True):
        secrets = [("digest", k.digest), *(("previous_secrets", p.digest) for p in k.lifecycle.previous)]
        for attr, value in (("id", k.id), *secrets):
            tag = f"{'id' if attr == 'id' else 'digest'}:{value}"
            if tag in seen:
                shown = f"{value!r} " if attr == "id" else ""
                raise ConfigError(f"{where}.{attr}", f"{shown}duplicates {seen[tag]}")
            seen[tag] = where
    return keys

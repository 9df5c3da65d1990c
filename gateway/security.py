"""Pipeline steps that decide who is calling and whether they may: client IP, key, IP allow-list, scope."""

from __future__ import annotations

import ipaddress
import math
import time

from gateway.config import IPNetwork
from gateway.exchange import Exchange, IPAddress
from gateway.keys import digest_of
from gateway.model import Code, Failure, Refused


def _in(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def client_ip_of(peer: str | None, forwarded_for: str | None, trusted: tuple[IPNetwork, ...]) -> IPAddress:
    """The socket peer, unless it is a trusted proxy: then the right-most untrusted X-Forwarded-For hop.

    Walking from the right stops a client from prepending a fake address: only hops added by proxies we
    trust are skipped.
    """
    try:
        address: IPAddress = ipaddress.ip_address(peer or "0.0.0.0")
    except ValueError:
        address = ipaddress.ip_address("0.0.0.0")
    if not forwarded_for or not _in(address, trusted):
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
        try:
            hop_ip: IPAddress = ipaddress.ip_address(hop)
        except ValueError:
            return address  # a malformed chain cannot be trusted past this point
        if not _in(hop_ip, trusted):
            return hop_ip
        address = hop_ip
    return address


async def resolve_client_ip(ex: Exchange) -> None:
    ex.client_ip = client_ip_of(
        ex.request.remote, ex.request.headers.get("X-Forwarded-For"), ex.state.config.trusted_proxies
    )


def _retry_after(ex: Exchange, seconds: float) -> None:
    ex.response_headers["Retry-After"] = str(max(1, math.ceil(seconds)))


async def throttle_auth_failures(ex: Exchange) -> None:
    """Refuse an address that keeps presenting wrong keys, before its next guess is even looked at."""
    rate = ex.state.config.auth_throttle
    if rate is None:
        return
    left = await ex.state.limiter.take(f"auth:{ex.client_ip}", rate, cost=0)
    if left.remaining < 1:
        _retry_after(ex, (1 - left.remaining) / rate.per_second)
        raise Refused(Failure(Code.RATE_LIMITED, "too many failed authentications", reason="auth_throttle"))


async def authenticate(ex: Exchange) -> None:
    """Find the key by the digest of what was presented; the secret is never compared directly.

    With no key presented, an `ip_only` key whose addresses contain the client stands in (legacy XC v2
    scripts that can only be identified by their source address).
    """
    assert ex.raw is not None and ex.client_ip is not None
    creds = ex.face.credentials(ex.raw)
    if creds.api_key:
        key = ex.state.keys_by_digest.get(digest_of(creds.api_key))
    else:
        key = next((k for k in ex.state.ip_only_keys if _in(ex.client_ip, k.allowed_ips)), None)
    if key is None:
        rate = ex.state.config.auth_throttle
        if rate is not None:
            await ex.state.limiter.take(f"auth:{ex.client_ip}", rate)
        reason = "missing_key" if not creds.api_key else "bad_key"
        raise Refused(Failure(Code.UNAUTHORIZED, "invalid API key", reason=reason))
    ex.key = key


async def rate_limit(ex: Exchange) -> None:
    """The key's token bucket; shared through Redis across replicas when configured."""
    assert ex.key is not None
    rate = ex.key.rate
    if rate is None:
        return
    decision = await ex.state.limiter.take(f"key:{ex.key.id}", rate)
    ex.response_headers["RateLimit-Limit"] = str(rate.burst)
    ex.response_headers["RateLimit-Remaining"] = str(max(0, decision.remaining))
    if not decision.allowed:
        _retry_after(ex, decision.retry_after)
        raise Refused(Failure(Code.RATE_LIMITED, f"rate limit of key {ex.key.id} exceeded", reason="rate"))


async def check_ip_allowlist(ex: Exchange) -> None:
    assert ex.key is not None and ex.client_ip is not None
    if ex.key.allowed_ips and not _in(ex.client_ip, ex.key.allowed_ips):
        raise Refused(Failure(Code.FORBIDDEN, "this key may not be used from this address", reason="ip"))


async def resolve_operation(ex: Exchange) -> None:
    """Parse the call after authentication, so an anonymous client learns nothing about the catalogue."""
    assert ex.raw is not None
    ex.call = ex.face.parse(ex.raw)
    ex.op = ex.state.catalogue.get(ex.call.operation)


async def check_scope(ex: Exchange) -> None:
    assert ex.key is not None and ex.op is not None
    if not ex.key.policy.permits(ex.op):
        raise Refused(
            Failure(
                Code.FORBIDDEN,
                f"operation {ex.op.name} is not allowed for this key (policy {ex.key.policy.name})",
                reason="scope",
            )
        )


async def check_guards(ex: Exchange) -> None:
    """Refuse a call whose values break its key's policy guards (`max_connections <= 2`, ...)."""
    assert ex.key is not None and ex.call is not None
    now = time.time()
    for guard in ex.key.policy.guards:
        problem = guard.violation(ex.call.args, ex.call.operation, now)
        if problem:
            raise Refused(Failure(Code.FORBIDDEN, f"{problem} (policy {ex.key.policy.name})", reason="guard"))

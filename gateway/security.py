"""Pipeline steps that decide who is calling and whether they may: client IP, key, IP allow-list, scope."""

from __future__ import annotations

import functools
import ipaddress
import math
import time
from collections.abc import Mapping
from dataclasses import replace

from aiohttp import web

from gateway.config import IPNetwork
from gateway.exchange import Exchange, IPAddress
from gateway.key_lifecycle import rotated_out
from gateway.keys import digest_of
from gateway.model import Code, Failure, Reason, Refused

_UNKNOWN = ipaddress.ip_address("0.0.0.0")


def _in(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


@functools.lru_cache(maxsize=4096)  # every request parses its peer (~2 us): a kept-alive client's is the same
def parse_address(text: str | None) -> IPAddress | None:
    """An address as every check must see it: an IPv4-mapped IPv6 address (`::ffff:192.0.2.66`, what a dual-stack
    listener reports for an IPv4 peer) is the IPv4 address, so one client has one identity in allow-lists,
    blocked lists, throttles and rate limits."""
    try:
        address: IPAddress = ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def forwarded_hop(text: str) -> IPAddress | None:
    """One X-Forwarded-For hop as proxies write it: an address, or an address with its port (`192.0.2.1:5678`,
    `[2001:db8::1]:443`, `[2001:db8::1]`: Azure Application Gateway, IIS ARR); None when it is neither."""
    hop = text.strip()
    if hop.startswith("["):
        end = hop.find("]")
        port = hop[end + 2 :] if end > 0 and hop[end + 1 : end + 2] == ":" else None
        if end < 0 or (hop[end + 1 :] and not (port and port.isascii() and port.isdigit())):
            return None
        return parse_address(hop[1:end])
    if hop.count(":") == 1:  # an IPv6 address has two at least
        host, _, port = hop.partition(":")
        return parse_address(host) if port.isascii() and port.isdigit() else None
    return parse_address(hop)


def forwarded_for(headers: Mapping[str, str]) -> str | None:
    """Every X-Forwarded-For header line, joined in order: a proxy may add its own line rather than append to the
    client's, and reading only the first line would let the client choose its address."""
    getall = getattr(headers, "getall", None)
    lines = getall("X-Forwarded-For", []) if getall is not None else [headers.get("X-Forwarded-For", "")]
    joined = ",".join(line for line in lines if line)
    return joined or None


def client_ip_of(peer: str | None, forwarded: str | None, trusted: tuple[IPNetwork, ...]) -> IPAddress:
    """The socket peer, unless it is a trusted proxy: then the right-most untrusted X-Forwarded-For hop.

    Walking from the right stops a client from prepending a fake address: only hops added by proxies we
    trust are skipped.
    """
    address = parse_address(peer) or _UNKNOWN
    if not forwarded or not _in(address, trusted):
        return address
    for hop in reversed(forwarded.split(",")):
        hop_ip = forwarded_hop(hop)
        if hop_ip is None:
            return address  # a malformed chain cannot be trusted past this point
        if not _in(hop_ip, trusted):
            return hop_ip
        address = hop_ip
    return address


def request_client_ip(request: web.BaseRequest, trusted: tuple[IPNetwork, ...]) -> IPAddress:
    """The client address of an aiohttp request (see client_ip_of)."""
    return client_ip_of(request.remote, forwarded_for(request.headers), trusted)


async def resolve_client_ip(ex: Exchange) -> None:
    ex.client_ip = request_client_ip(ex.request, ex.state.config.trusted_proxies)


def _retry_after(ex: Exchange, seconds: float) -> None:
    ex.response_headers["Retry-After"] = str(max(1, math.ceil(seconds)))


@functools.lru_cache(maxsize=4096)
def auth_bucket(address: IPAddress | None) -> str:
    """The auth-failure throttle's bucket for a client address; an IPv6 address by its /64, which one client
    holds whole (SLAAC privacy addresses rotate by themselves): per /128 it would have 2^64 fresh buckets."""
    if isinstance(address, ipaddress.IPv6Address):
        return f"auth:{ipaddress.IPv6Network((int(address) >> 64 << 64, 64))}"
    return f"auth:{address}"


async def throttle_auth_failures(ex: Exchange, bucket: str | None = None) -> None:
    """Refuse an address that keeps presenting wrong keys, before its next guess is even looked at. `bucket`:
    auth_bucket(ex.client_ip), when the caller has it already (gateway.hitpath)."""
    rate = ex.state.config.auth_throttle
    if rate is None:
        return
    limiter, bucket = ex.state.limiter, bucket or auth_bucket(ex.client_ip)
    left = limiter.look_here(bucket, rate)
    if left is None:
        left = (await limiter.take(bucket, rate, cost=0)).remaining
    if left < 1:
        _retry_after(ex, (1 - left) / rate.per_second)
        raise Refused(Failure(Code.RATE_LIMITED, "too many failed authentications", reason=Reason.AUTH_THROTTLE))


async def authenticate(ex: Exchange) -> None:
    """Find the key by the digest of what was presented; the secret is never compared directly.

    With no key presented, an `ip_only` key whose addresses contain the client stands in (legacy XC v2
    scripts that can only be identified by their source address).
    """
    assert ex.raw is not None and ex.client_ip is not None
    creds = ex.face.credentials(ex.raw)
    if creds.api_key:
        digest = digest_of(creds.api_key)
        key = ex.state.keys_by_digest.get(digest)
        if key is None and digest in ex.state.previous_digests:
            key, until = ex.state.previous_digests[digest]  # a secret replaced by `key rotate`, in its grace
            if time.time() >= until:
                ex.key = key  # the audit names the key whose old secret it was
                raise Refused(rotated_out(key.id, until))
    else:
        key = next((k for k in ex.state.ip_only_keys if _in(ex.client_ip, k.allowed_ips)), None)
    if key is None:
        rate = ex.state.config.auth_throttle
        if rate is not None:
            await ex.state.limiter.take(auth_bucket(ex.client_ip), rate)
        reason = Reason.MISSING_KEY if not creds.api_key else Reason.BAD_KEY
        raise Refused(Failure(Code.UNAUTHORIZED, "invalid API key", reason=reason))
    ex.key = key


async def check_key_dates(ex: Exchange) -> None:
    """Refuse a key before its `not_before` or from its `expires_at` on (to the second); note its use."""
    assert ex.key is not None
    now = time.time()
    refusal = ex.key.lifecycle.refusal(ex.key.id, now)
    if refusal is not None:
        raise Refused(refusal)
    if ex.state.keyuse.note(ex.key.id, now):
        await ex.state.keyuse.write(ex.key.id, now)


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
        raise Refused(Failure(Code.RATE_LIMITED, f"rate limit of key {ex.key.id} exceeded", reason=Reason.RATE))


async def check_ip_allowlist(ex: Exchange) -> None:
    assert ex.key is not None and ex.client_ip is not None
    if ex.key.allowed_ips and not _in(ex.client_ip, ex.key.allowed_ips):
        raise Refused(Failure(Code.FORBIDDEN, "this key may not be used from this address", reason=Reason.IP))


async def resolve_operation(ex: Exchange) -> None:
    """Parse the call after authentication, so an anonymous client learns nothing about the catalogue."""
    assert ex.raw is not None and ex.key is not None
    config = ex.state.config
    code = ex.raw.match.get("code", "")
    target = config.access_codes.get(code, ex.key.upstream) if code else ex.key.upstream
    # a date without a zone means the panel's local time: read it in the zone of the panel it is for
    timezone = config.timezone_of(target)
    ex.call = ex.face.parse(ex.raw if ex.raw.timezone == timezone else replace(ex.raw, timezone=timezone))
    ex.op = ex.state.catalogue.get(ex.call.operation)
    # Each dialect reads only the fields the operation declares; this holds them all to it, so what policies,
    # tenancy and guards see is all an upstream request can carry.
    undeclared = sorted(set(ex.call.args) - set(ex.op.fields)) if ex.op is not None else []
    if undeclared:
        raise Refused(Failure(Code.INVALID_INPUT, f"{undeclared[0]}: is not a field of {ex.call.operation}",
                              reason=Reason.BAD_INPUT, subject=undeclared[0]))  # fmt: skip


async def check_scope(ex: Exchange) -> None:
    assert ex.key is not None and ex.op is not None
    if not ex.key.policy.permits(ex.op):
        raise Refused(
            Failure(
                Code.FORBIDDEN,
                f"operation {ex.op.name} is not allowed for this key (policy {ex.key.policy.name})",
                reason=Reason.SCOPE,
            )
        )


async def check_guards(ex: Exchange) -> None:
    """Refuse a call whose values break its key's policy guards (`max_connections <= 2`, ...)."""
    assert ex.key is not None and ex.call is not None
    now = time.time()
    for guard in ex.key.policy.guards:
        problem = guard.violation(ex.call.args, ex.call.operation, now)
        if problem:
            raise Refused(Failure(Code.FORBIDDEN, f"{problem} (policy {ex.key.policy.name})", reason=Reason.GUARD))

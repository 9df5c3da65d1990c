"""The panel's own secrets, taken out of every answer before anything else sees it.

Real panels answer credentials of their own among ordinary data: XUI.one's `user_info` returns the calling
admin's `users` row with its `api_key` (the all-powerful key the gateway holds), `get_user`/`get_users` rows carry
every reseller's `api_key` and password hash, `get_rtmp_ips` the RTMP push passwords. The gateway holds those keys
so that its clients never do: they are removed from each answer as it is decoded (so they never reach a cache, a
renderer or another step), at every depth, in every dialect.

Line passwords, tokens and MAC addresses are not in this list: they are the customers' credentials, which the
admin API exists to manage (and tenancy limits to their owner). Nor is the plain password in the answer to the
write that set it (MidnightStreamer's `resellers/new` answers the password it was given or made up): the caller
chose it or needs it; a stored hash is removed there too.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import product
from typing import Any

from gateway import fastbytes
from gateway.catalogue import Kind, Operation
from gateway.model import Failure, Outcome

# Columns that are secret in every row of every answer (keys under the names the panels use for them).
EVERYWHERE = frozenset({"api_key", "api_pass", "apikey", "api_password"})
# Columns that are secret in the rows of one resource (a `users` row's password is a hash of the reseller's or
# admin's login; an RTMP IP's password lets anyone push a stream to the panel).
BY_RESOURCE: dict[str, frozenset[str]] = {
    "account": frozenset({"password"}),
    "reseller": frozenset({"password"}),
    "rtmp_ip": frozenset({"password"}),
}


# Every EVERYWHERE name starts with "api": these are its spellings in any case.
_API_SPELLINGS = tuple(bytes(letters) for letters in product(b"aA", b"pP", b"iI"))


def cannot_hold(op: Operation, raw: bytes) -> bool:
    """Whether the JSON text `raw` cannot hold a column `strip` takes out of `op`'s answer, in any case and at any
    depth, when its keys are decoded as the text spells them (an upstream face with NAMES_AS_SENT): then the
    walk is not needed (a 25-row page: ~10 us of SIMD searches instead of ~45 us). Sound because JSON in UTF-8
    spells a letter only as itself or as a `\\u` escape: an ASCII text without `\\u` spells every key's letters
    as they are, so a key that lowers to a secret name holds "api" in some case (a text past ASCII, where KELVIN
    SIGN lowers to k, is walked). A NUL byte, never in UTF-8 JSON, is how UTF-16 and UTF-32 spell ASCII, which
    the standard library's parser (jsonio's fallback) decodes too: such a text is walked. The resources with
    secrets of their own (BY_RESOURCE) are always walked."""
    if op.resource in BY_RESOURCE or not raw.isascii():
        return False
    if fastbytes.contains(raw, b"\\u") or fastbytes.contains(raw, b"\x00"):
        return False
    return not any(fastbytes.contains(raw, spelling) for spelling in _API_SPELLINGS)


def strip(op: Operation, outcome: Outcome) -> Outcome:
    """`outcome` without the panel's secrets (the same object when it carries none): a Result's data and extra,
    a Failure's echo (what the panel says it was sent, rendered to the client by some dialects)."""
    top = EVERYWHERE | BY_RESOURCE.get(op.resource, frozenset())
    if isinstance(outcome, Failure):
        echo = _clean(outcome.echo, top, keep_plain=op.kind is not Kind.READ)
        return outcome if echo is outcome.echo else replace(outcome, echo=echo)
    data = _clean(outcome.data, top, keep_plain=op.kind is not Kind.READ)
    extra = _clean(outcome.extra, EVERYWHERE)
    if data is outcome.data and extra is outcome.extra:
        return outcome
    return replace(outcome, data=data, extra=extra)


_SCALARS = frozenset({str, int, float, bool, type(None)})
_NAMES_SEEN = 1024
# (secret names, a row's column names) -> whether none of them is secret. The rows of one answer, and of every
# answer of one kind, share their column names: each set is lowered and checked once, not once per row (the
# walk cost ~0.5 ms per 25-row page, 15 % of a pass-through's CPU). Bounded: a panel inventing names each time
# only empties it.
_clean_by_names: dict[tuple[frozenset[str], tuple[str, ...]], bool] = {}


def _clean_names(top: frozenset[str], names: tuple[str, ...]) -> bool:
    known = _clean_by_names.get((top, names))
    if known is None:
        if len(_clean_by_names) >= _NAMES_SEEN:
            _clean_by_names.clear()
        known = _clean_by_names[(top, names)] = top.isdisjoint(map(str.lower, names))
    return known


def _hashed(value: Any) -> bool:
    """A stored password as crypt(3) writes it (`$6$rounds=...$...`, `$2y$...`): what the panels keep."""
    return isinstance(value, str) and value.startswith("$")


def _clean(value: Any, top: frozenset[str], *, keep_plain: bool = False) -> Any:
    """`value` without `top` columns in its rows (a dict, or a list of dicts), and without EVERYWHERE at any
    depth; with `keep_plain`, a password that is not a hash stays. Returns `value` itself when nothing had to go,
    so answers without secrets are not copied."""
    if isinstance(value, list):
        cleaned = [_clean(item, top, keep_plain=keep_plain) for item in value]
        return value if all(a is b for a, b in zip(cleaned, value, strict=True)) else cleaned
    if not isinstance(value, dict):
        return value
    try:  # the usual row, at C speed: its column names known to be clean, every value a scalar
        if _clean_names(top, tuple(value)) and _SCALARS.issuperset(map(type, value.values())):
            return value
    except TypeError:  # a column name that is not a string: the walk below decides
        pass
    out: dict[Any, Any] = {}
    changed = False
    for name, item in value.items():
        secret = isinstance(name, str) and name.lower() in top
        if secret and not (keep_plain and name == "password" and not _hashed(item)):
            changed = True
            continue
        inner = _clean(item, EVERYWHERE)
        changed = changed or inner is not item
        out[name] = inner
    return out if changed else value

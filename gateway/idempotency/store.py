"""Where idempotent writes are remembered: in Redis when replicas share one, else (and while it is down) in memory.

A record is claimed atomically (one Lua script: create a `pending` record with a short TTL unless one exists, else
answer the existing one), kept alive while its request runs (`heartbeat`), then either finished with the outcome
(`done`, kept `ttl` seconds) or released when nothing was written, so a retry may run. A replica that dies holding
a claim leaves a pending record that expires after `pending_ttl` seconds.

Each record carries its request's fingerprints (gateway.idempotency): a duplicate is answered only when one of them
matches. Outcomes are stored as canonical JSON and rendered per client, so a retry in another dialect reads right.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cachetools import TLRUCache

from gateway import jsonio
from gateway.model import Code, Failure, Outcome, Reason, Result
from gateway.redis.link import MaybeLink, Unavailable
from gateway.redis.settings import Endpoint

PENDING, DONE = "pending", "done"

# KEYS[1] record; ARGV owner, canonical fingerprint, raw fingerprint, pending TTL (ms). Nil when claimed here.
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HMGET', KEYS[1], 'state', 'canon', 'raw', 'outcome')
end
redis.call('HSET', KEYS[1], 'state', 'pending', 'owner', ARGV[1], 'canon', ARGV[2], 'raw', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return false
"""
# ARGV owner, outcome, TTL (ms), canonical and raw fingerprints: stored unless another request owns the record now
# (ours expired, say, while Redis was away, and a retry claimed it).
_FINISH = """
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'owner', ARGV[1], 'outcome', ARGV[2], 'canon', ARGV[4], 'raw', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
# ARGV owner, TTL (ms), canonical and raw fingerprints: a pending claim of ours kept alive, and claimed again when
# Redis lost it (a restart without its data): the request still runs here, and a duplicate sent to another replica
# must wait for it rather than make the write a second time.
_KEEP = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  redis.call('HSET', KEYS[1], 'state', 'pending', 'owner', ARGV[1], 'canon', ARGV[3], 'raw', ARGV[4])
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] or state ~= 'pending' then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""
# ARGV owner[, TTL ms]: a pending claim of ours given up (no TTL) or kept alive (a TTL).
_PENDING_OF = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'state') ~= 'pending' then
  return 0
end
if ARGV[2] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return redis.call('DEL', KEYS[1])
"""


@dataclass(frozen=True)
class Fingerprints:
    """Two ways of saying "the same request": its canonical call, and the parameters as the client sent them."""

    canonical: str
    raw: str

    def match(self, other: Fingerprints) -> bool:
        return self.canonical == other.canonical or self.raw == other.raw


@dataclass(frozen=True)
class Record:
    state: str  # pending | done
    fingerprints: Fingerprints
    outcome: Outcome | None = None
    owner: str = ""
    expires: float = 0.0  # monotonic (memory records only)


def encode(outcome: Outcome) -> bytes:
    """An outcome as stored: canonical JSON, never the client's rendering."""
    if isinstance(outcome, Result):
        return jsonio.dumps({"result": {"data": outcome.data, "total": outcome.total, "filtered": outcome.filtered,
                                        "extra": outcome.extra}})  # fmt: skip
    return jsonio.dumps({"failure": {"code": outcome.code.value, "message": outcome.message, "echo": outcome.echo,
                                     "reason": outcome.reason.value, "subject": outcome.subject,
                                     "retry_after": outcome.retry_after}})  # fmt: skip


def decode(data: bytes) -> Outcome:
    stored: dict[str, Any] = jsonio.loads(data)
    if "result" in stored:
        return Result(**stored["result"])
    f = stored["failure"]
    return Failure(Code(f["code"]), f["message"], echo=f["echo"], reason=Reason(f["reason"]), subject=f["subject"],
                   retry_after=f["retry_after"])  # fmt: skip


class MemoryRecords:
    """This process's records, bounded in number; each expires on its own (pending ones soon, done ones at `ttl`)."""

    def __init__(self, max_entries: int) -> None:
        self._records: TLRUCache[str, Record] = TLRUCache(
            maxsize=max_entries, ttu=lambda _k, record, _now: record.expires, timer=time.monotonic
        )
        self._changed: dict[str, asyncio.Event] = {}

    def __len__(self) -> int:
        return len(self._records)

    def resize(self, max_entries: int) -> None:
        """Hold at most `max_entries` records from now on (a reload changed `max_entries`), keeping the newest."""
        if max_entries == self._records.maxsize:
            return
        kept = list(self._records.items())
        self._records = TLRUCache(maxsize=max_entries, ttu=lambda _k, record, _now: record.expires,
                                  timer=time.monotonic)  # fmt: skip
        for key, record in kept[-max_entries:]:
            self._records[key] = record

    def claim(self, key: str, fingerprints: Fingerprints, owner: str, pending_ttl: float) -> Record | None:
        found = self._records.get(key)
        if found is not None:
            return found
        self._records[key] = Record(PENDING, fingerprints, owner=owner, expires=time.monotonic() + pending_ttl)
        return None

    def get(self, key: str) -> Record | None:
        return self._records.get(key)

    def finish(self, key: str, owner: str, fingerprints: Fingerprints, outcome: Outcome, ttl: float) -> None:
        found = self._records.get(key)
        if found is None or found.owner == owner:
            self._records[key] = Record(DONE, fingerprints, outcome, owner, time.monotonic() + ttl)
        self._wake(key)

    def pending_of(self, key: str, owner: str, ttl: float | None) -> None:
        found = self._records.get(key)
        if found is None or found.owner != owner or found.state != PENDING:
            return
        if ttl is None:
            del self._records[key]
            self._wake(key)
        else:
            self._records[key] = Record(PENDING, found.fingerprints, owner=owner, expires=time.monotonic() + ttl)

    async def changed(self, key: str, timeout: float) -> None:
        """Until the record of `key` is finished or released here, or `timeout` seconds."""
        event = self._changed.setdefault(key, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            if self._changed.get(key) is event:
                del self._changed[key]  # not kept for a claim that may never end here (waiters poll again)

    def _wake(self, key: str) -> None:
        event = self._changed.pop(key, None)
        if event is not None:
            event.set()


class IdempotencyStore:
    """Records shared through Redis (the `idempotency` endpoint), with this process's memory as the fallback."""

    def __init__(self, endpoint: Endpoint | None, *, ttl: float, pending_ttl: float, max_entries: int) -> None:
        self.link = MaybeLink(endpoint, "idempotency")
        self.memory = MemoryRecords(max_entries)
        self.prefix = self.link.prefix
        self.ttl = ttl
        self.pending_ttl = pending_ttl

    @property
    def shared(self) -> bool:
        return self.link.shared

    async def claim(self, key: str, fingerprints: Fingerprints) -> tuple[str, Record | None]:
        """A new owner token, and None when the record is ours now; else the record found (the token unused).

        A claim made in Redis is kept in memory as well, and memory is asked after Redis: a duplicate that arrives
        here while Redis is out finds the first still running (or done), and one that arrives once Redis is back
        finds what was written here while it was out, which Redis never learnt."""
        owner = secrets.token_hex(8)
        try:
            found = await self.link.run(lambda r: r.eval(_CLAIM, 1, self.prefix + key, owner, fingerprints.canonical,
                                                          fingerprints.raw, _ms(self.pending_ttl)))  # fmt: skip
        except Unavailable:
            return owner, self.memory.claim(key, fingerprints, owner, self.pending_ttl)
        if found is not None:
            return owner, _record(found)
        here = self.memory.claim(key, fingerprints, owner, self.pending_ttl)
        if here is None:
            return owner, None
        # made here while Redis was out: Redis takes it over (a done outcome) or forgets our claim (a running one)
        if here.state == DONE and here.outcome is not None:
            data = encode(here.outcome)
            with contextlib.suppress(Unavailable):
                await self.link.run(lambda r: r.eval(_FINISH, 1, self.prefix + key, owner, data, _ms(self.ttl),
                                                     here.fingerprints.canonical, here.fingerprints.raw))  # fmt: skip
        else:
            with contextlib.suppress(Unavailable):
                await self.link.run(lambda r: r.eval(_PENDING_OF, 1, self.prefix + key, owner))
        return owner, here

    async def get(self, key: str) -> Record | None:
        try:
            found = await self.link.run(lambda r: r.hmget(self.prefix + key, "state", "canon", "raw", "outcome"))
        except Unavailable:
            return self.memory.get(key)
        return _record(found) if found and found[0] is not None else self.memory.get(key)

    async def finish(self, key: str, owner: str, fingerprints: Fingerprints, outcome: Outcome) -> None:
        """Keep `outcome` as the answer to every duplicate for `ttl` seconds."""
        data = encode(outcome)
        with contextlib.suppress(Unavailable):  # kept here at least: a duplicate on this replica is still answered
            await self.link.run(lambda r: r.eval(_FINISH, 1, self.prefix + key, owner, data, _ms(self.ttl),
                                                 fingerprints.canonical, fingerprints.raw))  # fmt: skip
        self.memory.finish(key, owner, fingerprints, outcome, self.ttl)

    async def release(self, key: str, owner: str) -> None:
        """Give up a pending claim: nothing was written, so a duplicate may run."""
        await self._pending(key, owner, None)

    async def heartbeat(self, key: str, owner: str, fingerprints: Fingerprints) -> None:
        """Keep a pending claim alive while its request runs (claimed again if Redis lost it)."""
        with contextlib.suppress(Unavailable):  # a claim left in Redis expires by itself
            await self.link.run(lambda r: r.eval(_KEEP, 1, self.prefix + key, owner, _ms(self.pending_ttl),
                                                 fingerprints.canonical, fingerprints.raw))  # fmt: skip
        self.memory.pending_of(key, owner, self.pending_ttl)

    async def _pending(self, key: str, owner: str, ttl: float | None) -> None:
        args = (owner,) if ttl is None else (owner, _ms(ttl))
        with contextlib.suppress(Unavailable):  # a claim left in Redis expires by itself
            await self.link.run(lambda r: r.eval(_PENDING_OF, 1, self.prefix + key, *args))
        self.memory.pending_of(key, owner, ttl)

    async def changed(self, key: str, timeout: float) -> None:
        """Wait a little for the record of `key` to change: woken here in memory; Redis is polled by the caller."""
        await self.memory.changed(key, timeout)

    async def close(self) -> None:
        await self.link.close()


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def _record(found: list[Any]) -> Record:
    state, canonical, raw, outcome = found
    return Record(_text(state), Fingerprints(_text(canonical), _text(raw)),
                  decode(outcome) if outcome is not None else None)  # fmt: skip

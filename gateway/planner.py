"""Running a canonical Call against an upstream panel, whatever its dialect can express.

A plan is one of:
- direct: the upstream runs the operation, addressed the way the client addressed it, in one call;
- compound: the record is first found by a read (username+password, MAC or username -> id), then acted on;
- fan-out: a batch of ids becomes one call per id, the answers merged;
- unsupported: a clear failure naming the operation and the upstream, sent before anything is written.
Plans depend only on (operation, how the client addressed the record, upstream dialect), so the capability
matrix is computed from the same function the requests use.
"""

from __future__ import annotations

import asyncio
import secrets
import string
import time
from dataclasses import dataclass, replace
from typing import Any

from gateway import credits, lineinfo, panel_secrets, whole_row
from gateway.catalogue import Catalogue, Kind, Operation, catalogue
from gateway.config import Upstream
from gateway.dialects.registry import upstream_face
from gateway.metrics import Metrics
from gateway.model import Call, Code, Failure, Outcome, Ref, Result
from gateway.record_locks import RecordBusy
from gateway.upstream import UpstreamClient, UpstreamUnavailable

# How a record addressed by something other than its id is found: (resource, ref kind) -> list operation.
LOOKUPS: dict[tuple[str, str], str] = {
    ("line", "credentials"): "line.list",
    ("mag", "mac"): "mag.list",
    ("reseller", "username"): "reseller.list",
    ("line", "username"): "line.list",
}
# The column of a list row that holds the id the resource's other operations take. MAG and Enigma2 list rows
# carry their line's id as `id` and the device's own id under its own name (XM get_mags, XC stb rows).
ID_COLUMNS: dict[str, str] = {"mag": "mag_id", "enigma": "device_id"}
LOOKUP_PAGE = 1000
PASSWORD_LENGTH = 10  # as MidnightStreamer makes them up
FAN_OUT_CONCURRENCY = 4


@dataclass(frozen=True)
class Plan:
    kind: str  # direct | compound | fan-out | unsupported
    detail: str = ""


def plan_for(
    op: Operation, ref_kind: str, dialect: str, cat: Catalogue | None = None, *, client: str | None = None
) -> Plan:
    """How `op`, addressed by `ref_kind`, runs on an upstream of `dialect` (for a client of `client`)."""
    cat = cat or catalogue()
    face = upstream_face(dialect)
    absolute_credits = client is not None and not upstream_face(client).CREDITS_BY_ADJUSTMENT
    if (
        absolute_credits
        and face.CREDITS_BY_ADJUSTMENT
        and op.name in credits.COMPOUND_OPERATIONS
        and (face.native(op, ref_kind) or face.native(op, "id"))
    ):
        return Plan("compound", f"{op.name}, then adjust credits by the difference")
    if face.native(op, ref_kind):
        return Plan("direct")
    if ref_kind == "id" and face.native(op, "ids"):
        return Plan("direct", "as a batch of one")
    if ref_kind == "ids" and face.native(op, "id"):
        return Plan("fan-out", f"one {op.name} per id")
    lookup_name = LOOKUPS.get((op.resource, ref_kind))
    lookup = cat.get(lookup_name) if lookup_name else None
    if lookup is not None and face.native(op, "id") and face.native(lookup, "none"):
        return Plan("compound", f"find the id with {lookup.name}, then {op.name}")
    return Plan("unsupported")


class Runner:
    """Executes plans for one request; every upstream exchange goes through `send`."""

    def __init__(
        self, upstream: Upstream, client: UpstreamClient, metrics: Metrics, *, request_id: str = ""
    ) -> None:
        self.upstream = upstream
        self.client = client
        self.metrics = metrics
        self.request_id = request_id
        self.face = upstream_face(upstream.dialect)
        self.found: dict[str, Any] | None = None  # the list row `resolve` last found its record in

    async def send(self, call: Call, op: Operation) -> Outcome:
        request = self.face.encode(call, op, self.upstream)
        started = time.perf_counter()
        try:
            answer = await self.client.send(self.upstream, request, request_id=self.request_id,
                                            read=op.kind is Kind.READ)  # fmt: skip
        except UpstreamUnavailable as exc:
            self.metrics.upstream_requests.labels(self.upstream.name, "unavailable").inc()
            # Not sent: the panel never saw the request, so another upstream may be tried, even for a write.
            return Failure(Code.UPSTREAM_UNAVAILABLE, str(exc), retryable=not exc.sent, retry_after=exc.retry_after)
        finally:
            self.metrics.upstream_latency.labels(self.upstream.name).observe(time.perf_counter() - started)
        # the panel's keys and password hashes go before anything else sees the answer (gateway.panel_secrets)
        outcome = panel_secrets.strip(op, self.face.decode(op, answer.status, answer.body))
        label = "ok" if isinstance(outcome, Result) else outcome.code.value.lower()
        self.metrics.upstream_requests.labels(self.upstream.name, label).inc()
        return outcome

    async def run(self, call: Call, op: Operation) -> Outcome:
        plan = plan_for(op, call.target.kind, self.upstream.dialect)
        if plan.kind == "unsupported":
            return Failure(
                Code.UNSUPPORTED,
                f"{op.name} addressed by {call.target.kind} is not supported by upstream "
                f"{self.upstream.name} ({self.upstream.dialect})",
                reason="unsupported",
            )
        if call.dialect not in ("", self.upstream.dialect):
            foreign = self.face.foreign_fields(op, call.args, self.upstream)
            if foreign:
                return Failure(
                    Code.UNSUPPORTED,
                    f"{', '.join(foreign)}: upstream {self.upstream.name} ({self.upstream.dialect}) has no place for"
                    " this value, nothing was sent",
                    reason="unsupported",
                )
        amount = call.args.get("credits")
        if op.name == "reseller.adjust_credits" and self.face.WHOLE_CREDITS and isinstance(amount, float):
            return Failure(Code.UNSUPPORTED, f"credits {amount}: upstream {self.upstream.name} moves whole credits"
                           " only, nothing was sent", reason="unsupported")  # fmt: skip
        if plan.kind == "fan-out":
            return await self._fan_out(call, op)
        if op.name == "reseller.create" and call.dialect not in ("", self.upstream.dialect):
            grouped = await credits.with_reseller_group(self, call)
            if isinstance(grouped, Failure):
                return grouped
            call = grouped
            if call.dialect == "midnight":
                call = _with_password(call)
                return _answer_password(await self._run_planned(call, op, plan), call)
        return await self._run_planned(call, op, plan)

    async def _run_planned(self, call: Call, op: Operation, plan: Plan) -> Outcome:
        if credits.needs_adjustment(call, op, self):
            if op.name == "reseller.create":
                return await credits.create_then_credit(self, call, op)
            return await credits.edit_to_balance(self, call, op)
        if plan.kind == "compound":
            found = await self.resolve(call.target, op)
            if isinstance(found, Failure):
                return found
            call = replace(call, target=Ref(id=found))
        elif call.target.kind == "id" and not self.face.native(op, "id"):
            call = replace(call, target=Ref(ids=(call.target.id or 0,)))
        if call.target.id is not None and (op.name in whole_row.EDITS or op.name == "reseller.adjust_credits"):
            outcome = await self._send_one_writer(call, op)
        else:
            outcome = await self.send(call, op)
        if isinstance(outcome, Failure):
            return await self._explain_credit_failure(call, op, outcome)
        return await self._complete_row(call, op, outcome)

    async def _send_one_writer(self, call: Call, op: Operation) -> Outcome:
        """An edit, or a credit move, holding its record: one writer per record at a time. Toward a panel that
        rebuilds an edited row from the request alone (XUI.one), the edit is sent whole: the record is read
        first and the client's fields go on top of its current values (gateway.whole_row)."""
        name = f"{self.upstream.name}:{op.resource}:{call.target.id}"
        try:
            async with self.client.locks.hold(name, wait=self.upstream.timeout):
                if self.face.WHOLE_ROW_EDITS and op.name in whole_row.EDITS:
                    read = catalogue().operations[whole_row.EDITS[op.name]]
                    current = await self.send(Call(read.name, target=call.target), read)
                    if isinstance(current, Failure):
                        return current
                    call = replace(call, args={**whole_row.current_args(op.resource, current.data), **call.args})
                return await self.send(call, op)
        except RecordBusy as busy:
            return Failure(Code.UPSTREAM_UNAVAILABLE, f"{busy}; nothing was sent, try again", retryable=True,
                           retry_after=1.0)  # fmt: skip

    async def resolve(self, ref: Ref, op: Operation) -> int | Failure:
        """The id of the record `ref` names, found with the resource's list operation."""
        lookup = catalogue().operations[LOOKUPS[(op.resource, ref.kind)]]
        needle = ref.username if ref.kind in ("credentials", "username") else ref.mac
        listing = await self.send(Call(lookup.name, {"search": {"value": needle}, "limit": LOOKUP_PAGE}), lookup)
        if isinstance(listing, Failure):
            return listing
        for row in listing.data if isinstance(listing.data, list) else []:
            if isinstance(row, dict) and _matches(row, ref):
                self.found = row
                try:
                    return int(row[ID_COLUMNS.get(op.resource, "id")])
                except (KeyError, TypeError, ValueError):
                    break
        what = "line" if ref.kind == "credentials" else op.resource
        return Failure(Code.NOT_FOUND, f"no {what} matches the given {ref.kind}")

    async def _fan_out(self, call: Call, op: Operation) -> Outcome:
        gate = asyncio.Semaphore(FAN_OUT_CONCURRENCY)

        async def one(record_id: int) -> Outcome:
            async with gate:
                return await self.send(replace(call, target=Ref(id=record_id)), op)

        ids = call.target.ids
        servers = call.args.get("servers")
        if isinstance(servers, list) and len(servers) > 1:
            # A panel that takes one server_id per call is asked once per (id, server): widening a set of
            # servers to "all of them" would start streams where the client did not ask.
            return await self._fan_out_servers(call, op, [int(s) for s in servers])
        outcomes = await asyncio.gather(*(one(i) for i in ids))
        failed = {i: o for i, o in zip(ids, outcomes, strict=True) if isinstance(o, Failure)}
        return _merge_fan_out(op, list(ids), failed)

    async def _fan_out_servers(self, call: Call, op: Operation, servers: list[int]) -> Outcome:
        gate = asyncio.Semaphore(FAN_OUT_CONCURRENCY)
        args = {k: v for k, v in call.args.items() if k != "servers"}

        async def one(record_id: int, server: int) -> Outcome:
            async with gate:
                return await self.send(
                    replace(call, target=Ref(id=record_id), args={**args, "server_id": server}), op
                )

        ids = call.target.ids
        pairs = [(i, s) for i in ids for s in servers]
        outcomes = await asyncio.gather(*(one(i, s) for i, s in pairs))
        failed: dict[int, Failure] = {}
        for (i, _), outcome in zip(pairs, outcomes, strict=True):
            if isinstance(outcome, Failure):
                failed.setdefault(i, outcome)
        return _merge_fan_out(op, list(ids), failed)

    async def _explain_credit_failure(self, call: Call, op: Operation, failure: Failure) -> Failure:
        """An XM panel answers a plain STATUS_FAILURE both for an unknown reseller and for a debit beyond the
        balance; a client of another dialect (XC v2 says NOT ENOUGH CREDITS, and its scripts rely on it) is told
        which, from the reseller's balance read after the refusal. Clients of the upstream's own dialect get the
        panel's answer unchanged."""
        credits = call.args.get("credits")
        get = catalogue().get("reseller.get")
        if (
            op.name != "reseller.adjust_credits"
            or call.dialect == self.upstream.dialect
            or failure.code not in (Code.NOT_FOUND, Code.FAILURE)
            or not isinstance(credits, int)
            or credits >= 0
            or call.target.id is None
            or get is None
            or not self.face.native(get, "id")
        ):
            return failure
        row = await self.send(Call(get.name, target=Ref(id=call.target.id)), get)
        if not isinstance(row, Result) or not isinstance(row.data, dict):
            return failure
        try:
            balance = float(row.data["credits"])
        except (KeyError, TypeError, ValueError):
            return failure
        if balance + credits < 0:
            return Failure(Code.INSUFFICIENT_CREDITS, f"the balance is {row.data['credits']}, not enough credits")
        return failure

    async def _complete_row(self, call: Call, op: Operation, outcome: Outcome) -> Outcome:
        """A created line or MAG comes back as its full row, as panels that return rows promise, when the
        upstream answered with less (XC v2 returns only id, username and password for a line, nothing for a
        MAG). A client of the upstream's own dialect expects what that panel answers, and gets it without the
        extra read."""
        if not isinstance(outcome, Result) or call.dialect == self.upstream.dialect:
            return outcome
        if op.name == "line.get":
            return await lineinfo.complete(self, call, outcome, self.found)
        if op.name == "mag.create" and outcome.data is None:
            get = catalogue().operations["mag.get"]
            mac = call.args.get("mac")
            if not isinstance(mac, str) or not self.face.native(get, "mac"):
                return outcome
            row = await self.send(Call(get.name, target=Ref(mac=mac)), get)
            return row if isinstance(row, Result) and isinstance(row.data, dict) and row.data else outcome
        # only an Xtream-Masters client is answered the created line's row; the others answer id and credentials
        if op.name != "line.create" or not isinstance(outcome.data, dict) or call.dialect != "xtream_masters":
            return outcome
        created: dict[str, Any] = outcome.data
        if set(created) - {"id", "username", "password"}:
            return outcome
        get = catalogue().operations["line.get"]
        username, password = created.get("username"), created.get("password")
        if not (isinstance(username, str) and isinstance(password, str)):
            return outcome
        if self.face.native(get, "credentials"):  # XC v2's user/info
            ref = Ref(username=username, password=password)
        elif self.face.native(get, "username"):  # MidnightStreamer's line/info
            ref = Ref(username=username)
        else:
            return outcome
        row = await self.send(Call(get.name, target=ref), get)
        if isinstance(row, Result) and isinstance(row.data, dict):
            return Result(data={**row.data, **created})
        return outcome


def _with_password(call: Call) -> Call:
    """MidnightStreamer's resellers/new makes up a password when none is given and answers it; a panel that
    stores resellers' passwords hashed (Xtream-Masters) answers none, so the gateway makes it up instead."""
    password = call.args.get("password")
    if isinstance(password, str) and password:
        return call
    made = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(PASSWORD_LENGTH))
    return replace(call, args={**call.args, "password": made})


def _answer_password(outcome: Outcome, call: Call) -> Outcome:
    """The created reseller's answer with the password it was given, as MidnightStreamer answers it."""
    if not isinstance(outcome, Result) or not isinstance(outcome.data, dict):
        return outcome
    shown = outcome.data.get("password")
    if isinstance(shown, str) and shown and not shown.startswith("$"):  # a plain password the panel answered
        return outcome
    return replace(outcome, data={**outcome.data, "password": call.args.get("password")})


def _merge_fan_out(op: Operation, ids: list[int], failed: dict[int, Failure]) -> Outcome:
    """One outcome for a batch: success, the common failure when every id failed alike, or PARTIAL_FAILURE
    naming the ids that failed."""
    if not failed:
        return Result(data=None, extra={"ids": ids})
    codes = {f.code for f in failed.values()}
    if len(failed) == len(ids) and len(codes) == 1:
        return next(iter(failed.values()))
    detail = ", ".join(f"{i}: {f.code.value}" for i, f in failed.items())
    done = [i for i in ids if i not in failed]
    return Failure(Code.PARTIAL_FAILURE, f"{op.name} done for {done}, failed for {detail}")


def _matches(row: dict[str, Any], ref: Ref) -> bool:
    if ref.kind == "credentials":
        return row.get("username") == ref.username and row.get("password") == ref.password
    if ref.kind == "username":
        return row.get("username") == ref.username
    return str(row.get("mac", "")).upper() == (ref.mac or "").upper()


async def execute(
    call: Call,
    op: Operation,
    upstream: Upstream,
    client: UpstreamClient,
    metrics: Metrics,
    *,
    request_id: str = "",
) -> Outcome:
    """Run `call` on `upstream` by the plan its dialect allows."""
    return await Runner(upstream, client, metrics, request_id=request_id).run(call, op)

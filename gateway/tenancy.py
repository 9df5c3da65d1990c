"""Reseller tenancy: a key bound to a reseller sees and touches only that reseller's lines and devices.

- creates are forced to the reseller (`member_id`), whatever the client sent;
- a record owned by anyone else answers "not found", exactly as a missing one does (no existence leak);
- lists are fetched with the panel's owner filter, then filtered and paged again here, so `start`, `limit`
  and the totals are right over the reseller's own records even against a panel that ignores the filter;
- registered users (sub-resellers) are the reseller's own tree, as the Reseller API's hasPermissions('user')
  has it: another reseller, or the panel's admin, is "not found"; a reseller's own account is read, never
  written; credits are given from its own balance only (never set or made); a sub-reseller is made in one of
  the groups its group may make (`subresellers`) and owned by the reseller.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gateway import routing
from gateway.catalogue import Kind, Operation, catalogue
from gateway.dialects.common import json_array
from gateway.dialects.registry import upstream_face
from gateway.exchange import Exchange, Next
from gateway.model import Call, Code, Failure, Outcome, Page, Reason, Ref, Refused, Result
from gateway.paging import PAGING_ARGS, cut
from gateway.plans.purchase_terms import Buyer, cost, intval
from gateway.plans.shape import shape_of

OWNED_RESOURCES = ("line", "mag", "enigma")
LIST_FETCH_LIMIT = 10_000  # one reseller's records in one read; the gateway pages them itself
# Reads of rows about lines (`user_id`), which the panel's owner filter does not reach
LINE_LOGS = ("connection.list", "log.activity")
MAX_DEPTH = 16  # a reseller tree deeper than this is not walked further (nor a loop in owner_id)


def owner_of(row: Any) -> str | None:
    """The owning reseller of a line or device row (a MAG row nests its line under `user`)."""
    if not isinstance(row, dict):
        return None
    owner = row.get("member_id")
    if owner is None and isinstance(row.get("user"), dict):
        owner = row["user"].get("member_id")
    return None if owner is None else str(owner)


def parent_of(row: Any) -> str | None:
    """The reseller above a registered user's row (`owner_id`; a MidnightStreamer row's owner reads `member_id`)."""
    if not isinstance(row, dict):
        return None
    owner = row.get("owner_id", row.get("member_id"))
    return None if owner is None else str(owner)


def _not_found(ex: Exchange) -> Refused:
    assert ex.op is not None
    what = {"line": "line", "mag": "MAG device", "enigma": "Enigma2 device"}[ex.op.resource]
    return Refused(Failure(Code.NOT_FOUND, f"no such {what}", reason=Reason.TENANCY))


async def tenancy(ex: Exchange, next: Next) -> Outcome:
    """Pipeline step around forwarding: the call rewritten or refused for a reseller-bound key, then the
    reseller's own rows of a list kept and paged."""
    await enforce(ex)
    outcome = await next(ex)
    reseller = ex.key.reseller_id if ex.key is not None else None
    if reseller is not None and ex.op is not None and ex.op.name == "package.list":
        outcome = await _offered(ex, reseller, outcome)
    if reseller is not None and ex.op is not None and ex.op.name in LINE_LOGS:
        return await _own_lines_rows(ex, reseller, outcome)
    return filter_list(ex, outcome)


async def _own_lines_rows(ex: Exchange, reseller: int, outcome: Outcome) -> Outcome:
    """Rows about lines (live connections, activity), kept for the reseller's own lines and devices, then paged:
    the Reseller API's table.php shows a reseller these for its lines only (`lines.member_id IN reports`)."""
    page = ex.page
    if page is None or not isinstance(outcome, Result) or not isinstance(outcome.data, list):
        return outcome
    own: set[int] = set()
    for kind in OWNED_RESOURCES:
        listing = catalogue().operations[f"{kind}.list"]
        wanted = {"owner": reseller, "start": 0, "limit": LIST_FETCH_LIMIT}
        found = await routing.run_with_failover(ex, Call(listing.name, wanted), listing)
        if isinstance(found, Failure):
            if found.code is Code.UNSUPPORTED:
                continue
            raise Refused(found)
        rows = found.data if isinstance(found.data, list) else []
        own.update(intval(row.get("id")) for row in rows if owner_of(row) == str(reseller))
    ex.shared = None  # this reseller's rows, not the answer every key shares
    kept = [row for row in outcome.data if isinstance(row, dict) and intval(row.get("user_id")) in own]
    return cut(kept, page, outcome.extra)


async def _offered(ex: Exchange, reseller: int, outcome: Outcome) -> Outcome:
    """The packages a reseller may sell, at its price (the Reseller API's getPackages: its group's packages, each
    at its override of the official price): an admin API answers every package at the official price, so a shop
    would show what it cannot sell, at prices it is not charged."""
    if not isinstance(outcome, Result) or not isinstance(outcome.data, list):
        return outcome
    try:
        own = await _read_user(ex, reseller)
    except Refused as refused:
        if refused.failure.code is Code.UNSUPPORTED:
            return outcome  # a panel without registered users: nothing to price by
        raise
    buyer = Buyer(own or {}, {})
    group = intval(buyer.row.get("member_group_id"))
    as_int = ex.face.NAME == "xui_reseller"  # getPackages() writes intval(); an admin API's rows carry MySQL text
    rows = [{**row, "official_credits": (price if as_int else str(price))} for row in outcome.data
            if isinstance(row, dict) and group in [intval(g) for g in json_array(row.get("groups"))]
            for price in (cost(row, buyer, False),)]  # fmt: skip
    ex.shared = None  # a reseller's own answer, not the cached one every key shares
    return replace(outcome, data=rows)


async def enforce(ex: Exchange) -> None:
    """Rewrite or refuse the call for a reseller-bound key."""
    assert ex.key is not None and ex.call is not None and ex.op is not None and ex.upstream is not None
    reseller = ex.key.reseller_id
    op, call = ex.op, ex.call
    if reseller is not None and op.name == "account.info":
        # The panel answers user_info with the account of the key the gateway holds (its admin): a reseller's
        # own account is its users row, read by id. The answer has the same shape, without `permissions`.
        own = catalogue().operations["reseller.get"]
        ex.op, ex.call = own, replace(call, operation=own.name, args={}, target=Ref(id=reseller))
        return
    if reseller is not None and op.name == "reseller.transfer_credits" and call.target.id == reseller:
        # XC_VM's adjust_credits to the caller itself writes its balance twice, adding the amount: credits made
        # out of nothing (measured). Never passed on.
        raise Refused(Failure(Code.FORBIDDEN, "credits cannot be transferred to oneself", reason=Reason.TENANCY))
    if reseller is not None and op.resource == "reseller":
        await _enforce_tree(ex, reseller)
        return
    if reseller is not None and op.name in LINE_LOGS:
        ex.page = Page.of(call.args)
        args = {k: v for k, v in call.args.items() if k not in PAGING_ARGS}
        ex.call = replace(call, args={**args, "start": 0, "limit": LIST_FETCH_LIMIT})
        return
    if reseller is None or op.resource not in OWNED_RESOURCES:
        return
    verb = op.name.split(".", 1)[1]
    pair = call.args.get("pair_id")
    if isinstance(pair, int) and pair > 0:
        # a paired device takes its line's row from the line it is paired with (syncDevices(): expiry, bouquets,
        # owner): only the reseller's own line, or a box rides on another reseller's paid subscription
        await _own_line(ex, reseller, pair)
    if verb in ("create", "create_from_package"):
        # a sale is made by, and charged to, the key's reseller (gateway.plans.purchase reads the buyer here)
        ex.call = replace(call, args={**call.args, "member_id": reseller})
        return
    if verb == "list":
        ex.page = Page.of(call.args)
        args = {k: v for k, v in call.args.items() if k not in PAGING_ARGS}
        ex.call = replace(call, args={**args, "owner": reseller, "start": 0, "limit": LIST_FETCH_LIMIT})
        return
    # An addressed record: look it up first and refuse unless it is the reseller's own.
    get = catalogue().operations[f"{op.resource}.get"]
    found = await routing.run_with_failover(ex, Call(get.name, target=call.target), get)
    if isinstance(found, Failure):
        if found.code is Code.NOT_FOUND:
            raise _not_found(ex)
        raise Refused(found)
    if owner_of(found.data) != str(reseller):
        raise _not_found(ex)
    if "member_id" in call.args or verb == "renew":
        # A reseller cannot hand its line to someone else; a renewal is paid by the key's reseller.
        ex.call = replace(call, args={**call.args, "member_id": reseller})


async def _own_line(ex: Exchange, reseller: int, line: int) -> None:
    get = catalogue().operations["line.get"]
    found = await routing.run_with_failover(ex, Call(get.name, target=Ref(id=line)), get)
    if isinstance(found, Failure) and found.code is not Code.NOT_FOUND:
        raise Refused(found)
    if isinstance(found, Failure) or owner_of(found.data) != str(reseller):
        raise Refused(Failure(Code.NOT_FOUND, "pair_id: no such line", reason=Reason.TENANCY))


async def _enforce_tree(ex: Exchange, reseller: int) -> None:
    """A reseller-bound key's call about registered users: only the reseller's own tree, as the Reseller API
    allows it (toward an admin API nothing else would stop it: `edit_user` of the panel's admin, or of the
    reseller itself into the admin group)."""
    assert ex.call is not None and ex.op is not None
    op, call = ex.op, ex.call
    verb = op.name.split(".", 1)[1]
    assert ex.upstream is not None
    if shape_of(op, call.target.kind, ex.upstream.dialect).kind == "unsupported":
        return  # refused by its plan, saying why, before anything is sent (nor looked up here)
    makes = op.name == "reseller.adjust_credits" and upstream_face(ex.upstream.dialect).native(op, "id")
    if makes or (verb in ("create", "edit") and "credits" in call.args):
        # (an upstream without the action refuses it itself, saying why: a Reseller API)
        why = "a reseller gives credits from its own balance only (reseller.transfer_credits), never sets or makes them"
        raise Refused(Failure(Code.FORBIDDEN, why, reason=Reason.TENANCY))
    if verb == "list":
        ex.page = Page.of(call.args)
        args = {k: v for k, v in call.args.items() if k not in PAGING_ARGS}
        ex.call = replace(call, args={**args, "owner": reseller, "start": 0, "limit": LIST_FETCH_LIMIT})
        return
    args = dict(call.args)
    if verb == "transfer_credits":
        args["owner"] = reseller  # the giver is the key's reseller
    if (verb == "create" or "owner_id" in args) and _carries(ex, "owner_id", reseller):
        args["owner_id"] = reseller  # a sub-reseller is the reseller's own
    if verb == "create" or (verb == "edit" and "member_group_id" in args):
        group = await _sub_group(ex, reseller, args.get("member_group_id"))
        if group is not None:
            args["member_group_id"] = group
    if op.target.value == "id":
        target = call.target.id
        if target == reseller and op.kind is not Kind.READ and verb != "transfer_credits":
            raise Refused(Failure(Code.FORBIDDEN, "a reseller cannot change its own account", reason=Reason.TENANCY))
        if target != reseller and not await _below(ex, reseller, target):
            raise Refused(Failure(Code.NOT_FOUND, "no such reseller", reason=Reason.TENANCY))
    ex.call = replace(call, args=args)


def _carries(ex: Exchange, name: str, value: Any) -> bool:
    """Whether the upstream has a place for field `name` of the call (a MidnightStreamer reseller has no owner to
    set: the panel's key owns what it makes)."""
    assert ex.op is not None and ex.upstream is not None
    return name not in upstream_face(ex.upstream.dialect).foreign_fields(ex.op, {name: value}, ex.upstream)


async def _read_user(ex: Exchange, user: int | None) -> dict[str, Any] | None:
    """A registered user's row, None when the panel has none for it (or will not show it)."""
    get = catalogue().operations["reseller.get"]
    found = await routing.run_with_failover(ex, Call(get.name, target=Ref(id=user)), get)
    if isinstance(found, Failure):
        if found.code in (Code.NOT_FOUND, Code.FAILURE, Code.NO_PERMISSIONS):
            return None
        raise Refused(found)
    return found.data if isinstance(found.data, dict) else None


async def _below(ex: Exchange, reseller: int, target: int | None) -> bool:
    """Whether user `target` is in `reseller`'s tree: owner_id up the chain leads to it."""
    current, depth = target, 0
    while current is not None and current > 0 and depth < MAX_DEPTH:
        row = await _read_user(ex, current)
        parent = intval(parent_of(row)) if row is not None else 0
        if parent == reseller:
            return True
        if parent == current:
            return False
        current, depth = parent, depth + 1
    return False


async def _sub_group(ex: Exchange, reseller: int, asked: Any) -> int | None:
    """The group a sub-reseller may be put in: the one asked for when the reseller's group may make it, its first
    such group when none is asked for (processUser); None where the upstream cannot say (a Reseller API, which
    decides itself)."""
    group_get = catalogue().get("group.get")
    if group_get is None:
        return None
    try:
        own = await _read_user(ex, reseller)
    except Refused as refused:
        if refused.failure.code is Code.UNSUPPORTED:
            return None  # a panel without registered users to read (MidnightStreamer): without groups too
        raise
    found = await routing.run_with_failover(ex, Call(group_get.name, target=Ref(id=intval((own or {}).get(
        "member_group_id")))), group_get)  # fmt: skip
    if isinstance(found, Failure) and found.code is Code.UNSUPPORTED:
        return None
    row = found.data if isinstance(found, Result) and isinstance(found.data, dict) else {}
    allowed = [intval(g) for g in json_array(row.get("subresellers"))]
    if asked is None:
        if not allowed:
            raise Refused(Failure(Code.INVALID_SUBRESELLER, "this reseller's group may not make sub-resellers",
                                  reason=Reason.TENANCY))  # fmt: skip
        return allowed[0]
    if asked not in allowed:
        raise Refused(Failure(Code.FORBIDDEN, f"member_group_id may only be one of {allowed}", reason=Reason.TENANCY))
    return int(asked)


def rewrites_only(reseller: int | None, op: Operation) -> bool:
    """Whether `enforce` for `op` (as it leaves it) only rewrote the call, a pure function of key and call: not a
    lookup of an addressed record's owner, which must be asked again each time (gateway.hitpath)."""
    if reseller is not None and op.resource == "reseller":
        return op.name == "reseller.list"
    if reseller is not None and op.name in ("package.list", *LINE_LOGS):
        return False  # priced for the reseller, or kept to its lines, after the read (_offered, _own_lines_rows)
    if reseller is None or op.resource not in OWNED_RESOURCES:
        return True
    return op.name.split(".", 1)[1] in ("list", "create", "create_from_package")


def filter_list(ex: Exchange, outcome: Outcome) -> Outcome:
    """Keep the reseller's rows only, then page them as asked."""
    page, key = ex.page, ex.key
    if page is None or key is None or not isinstance(outcome, Result) or not isinstance(outcome.data, list):
        return outcome
    reseller = str(key.reseller_id)
    rows: list[Any] = outcome.data

    owner = parent_of if ex.op is not None and ex.op.resource == "reseller" else owner_of

    def paged() -> Result:
        assert page is not None
        return cut([row for row in rows if owner(row) == reseller], page, outcome.extra)

    # a cache hit's list is shared by every request for it: its page is then the same each time
    return paged() if ex.shared is None else ex.shared.page(outcome, (reseller, page), paged)

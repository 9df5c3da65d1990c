"""Reseller tenancy: a key bound to a reseller sees and touches only that reseller's lines and devices.

- creates are forced to the reseller (`member_id`), whatever the client sent;
- a record owned by anyone else answers "not found", exactly as a missing one does (no existence leak);
- lists are fetched with the panel's owner filter, then filtered and paged again here, so `start`, `limit`
  and the totals are right over the reseller's own records even against a panel that ignores the filter.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gateway import routing
from gateway.catalogue import Operation, catalogue
from gateway.exchange import Exchange, Next
from gateway.model import Call, Code, Failure, Outcome, Page, Reason, Ref, Refused, Result
from gateway.paging import PAGING_ARGS, cut

OWNED_RESOURCES = ("line", "mag", "enigma")
LIST_FETCH_LIMIT = 10_000  # one reseller's records in one read; the gateway pages them itself


def owner_of(row: Any) -> str | None:
    """The owning reseller of a line or device row (a MAG row nests its line under `user`)."""
    if not isinstance(row, dict):
        return None
    owner = row.get("member_id")
    if owner is None and isinstance(row.get("user"), dict):
        owner = row["user"].get("member_id")
    return None if owner is None else str(owner)


def _not_found(ex: Exchange) -> Refused:
    assert ex.op is not None
    what = {"line": "line", "mag": "MAG device", "enigma": "Enigma2 device"}[ex.op.resource]
    return Refused(Failure(Code.NOT_FOUND, f"no such {what}", reason=Reason.TENANCY))


async def tenancy(ex: Exchange, next: Next) -> Outcome:
    """Pipeline step around forwarding: the call rewritten or refused for a reseller-bound key, then the
    reseller's own rows of a list kept and paged."""
    await enforce(ex)
    return filter_list(ex, await next(ex))


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
    if reseller is not None and op.name == "reseller.transfer_credits":
        ex.call = replace(call, args={**call.args, "owner": reseller})  # the giver is the key's reseller
        return
    if reseller is None or op.resource not in OWNED_RESOURCES:
        return
    verb = op.name.split(".", 1)[1]
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


def rewrites_only(reseller: int | None, op: Operation) -> bool:
    """Whether `enforce` for `op` (as it leaves it) only rewrote the call, a pure function of key and call: not a
    lookup of an addressed record's owner, which must be asked again each time (gateway.hitpath)."""
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

    def paged() -> Result:
        assert page is not None
        return cut([row for row in rows if owner_of(row) == reseller], page, outcome.extra)

    # a cache hit's list is shared by every request for it: its page is then the same each time
    return paged() if ex.shared is None else ex.shared.page(outcome, (reseller, page), paged)

"""Pages cut by the gateway: a client whose panel pages its lists (Xtream-Masters' `start`, `limit`,
`show_columns`, `hide_columns`, `recordsTotal`) talking to a panel that answers whole lists (XC v2's
`reg_user/list`, MidnightStreamer's `resellers/list`), and reseller keys' lists after tenancy filtering.

A list Result cut to a Page (pure), and the pipeline step for whole lists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.dialects.registry import upstream_face
from gateway.model import Code, Failure, Outcome, Page, Result

if TYPE_CHECKING:
    from gateway.exchange import Exchange, Next

PAGING_ARGS = ("start", "limit", "show_columns", "hide_columns")


def _columns(row: Any, page: Page) -> Any:
    if not isinstance(row, dict):
        return row
    if page.show_columns:
        return {k: v for k, v in row.items() if k in page.show_columns}
    if page.hide_columns:
        return {k: v for k, v in row.items() if k not in page.hide_columns}
    return row


def _found(row: Any, page: Page) -> bool:
    """MySQL's `LIKE '%value%'` under a case-insensitive collation, over the searched columns."""
    if not isinstance(row, dict):
        return False
    needle = page.search.casefold()
    values = [row.get(c) for c in page.search_columns] if page.search_columns else list(row.values())
    return any(v is not None and needle in str(v).casefold() for v in values)


def cut(rows: list[Any], page: Page, extra: dict[str, Any]) -> Result:
    """`rows` (all of them) searched and cut to `page`, with the totals the panel would answer (over the rows
    the search kept, as table.php counts them)."""
    if page.search:
        rows = [row for row in rows if _found(row, page)]
    start = max(page.start, 0)
    shown = [_columns(row, page) for row in rows[start : start + max(page.limit, 0)]]
    return Result(data=shown, total=len(rows), filtered=min(len(rows), page.limit), extra=extra)


def _column(row: Any, *names: str) -> Any:
    return next((row[n] for n in names if isinstance(row, dict) and row.get(n) is not None), None)


def _reg_users_where(rows: list[Any], args: dict[str, Any]) -> list[Any] | Failure:
    """What table.php's reg_users WHERE keeps of a whole list: `filter` -1 active, -2 disabled, else the member
    group; `owner` (its `reseller`) the owning reseller. A list whose rows do not carry the column is refused
    (UNSUPPORTED) rather than answered unfiltered."""
    wanted: list[tuple[str, tuple[str, ...], str]] = []
    flt, owner = args.get("filter"), args.get("owner")
    if isinstance(flt, int) and flt in (-1, -2):
        wanted.append(("filter", ("status",), "1" if flt == -1 else "0"))
    elif isinstance(flt, int):
        wanted.append(("filter", ("member_group_id", "group_id"), str(flt)))
    if isinstance(owner, int):
        wanted.append(("owner", ("owner_id", "member_id"), str(owner)))
    if not wanted:
        return rows
    for name, columns, _ in wanted:
        if rows and all(_column(row, *columns) is None for row in rows):
            return Failure(Code.UNSUPPORTED, f"{name}: the upstream's reseller list does not say {columns[0]}")
    return [row for row in rows if all(str(_column(row, *cols)) == value for _, cols, value in wanted)]


async def page_whole_list(ex: Exchange, next: Next) -> Outcome:
    """Pipeline step: a list the client's panel would have paged, answered whole by an upstream that does not
    page, is cut to the client's page here (tenancy pages a reseller's list itself: `ex.page`)."""
    return page_whole(ex, await next(ex))


def page_whole(ex: Exchange, outcome: Outcome) -> Outcome:
    """What page_whole_list does with the answer (a remembered cache hit calls it too: gateway.hitpath)."""
    op, call, upstream = ex.op, ex.call, ex.upstream
    if ex.page is not None or op is None or call is None or upstream is None:
        return outcome
    if upstream_face(upstream.dialect).PAGES_LISTS:  # first: a verbatim answer stays undecoded (gateway.verbatim)
        return outcome
    if not isinstance(outcome, Result) or not isinstance(outcome.data, list) or outcome.total is not None:
        return outcome
    page = ex.face.list_page(op, call.args)
    if page is None:
        return outcome
    rows = outcome.data
    if op.name == "reseller.list":
        kept = _reg_users_where(rows, call.args)
        if isinstance(kept, Failure):
            return kept
        if kept is not rows:
            rows, ex.shared = kept, None  # a filtered list of its own, not the shared entry's page

    def paged() -> Result:
        assert page is not None
        return cut(rows, page, outcome.extra)

    # a cache hit's list is shared by every request for it: its page is then the same each time
    return paged() if ex.shared is None else ex.shared.page(outcome, ("page", page), paged)

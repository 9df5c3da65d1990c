"""XC v2's `user/info` on a panel of another dialect: the line's live connections and what its bouquets hold.

An XC v2 panel answers `user/info` with the line row plus `active_cons` (its live connections), `channel_ids`
(the streams, movies and radios of its bouquets) and `series_ids`; reseller scripts read those to show a line's
state. An Xtream-Masters line row has neither: its connections are in the list row the line was found in (the
lookup by username and password, `active_connections`), and its bouquets' contents are in the panel's bouquet
list. So for an XC v2 client the gateway reads the bouquets once more and fills the three in; clients of
the upstream's own dialect get the panel's answer unchanged.
"""

from __future__ import annotations

from typing import Any

from gateway.catalogue import catalogue
from gateway.dialects.common import json_array
from gateway.dialects.registry import dialect
from gateway.model import Call, Outcome, Result
from gateway.plans.commands import Plan, Send, Toward

STREAM_COLUMNS = ("bouquet_channels", "bouquet_movies", "bouquet_radios")


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("inf")


def bouquet_contents(line_bouquets: Any, bouquets: list[Any]) -> dict[str, list[Any]]:
    """`channel_ids` and `series_ids` of a line, as XC v2 computes them: its bouquets in id order, the streams
    (channels, movies, radios) and the series of each, first occurrence kept."""
    by_id = {str(b.get("id")): b for b in bouquets if isinstance(b, dict)}
    streams: list[Any] = []
    series: list[Any] = []
    for bouquet_id in sorted(json_array(line_bouquets), key=_number):
        bouquet = by_id.get(str(bouquet_id))
        if bouquet is None:
            continue
        for column in STREAM_COLUMNS:
            streams.extend(json_array(bouquet.get(column)))
        series.extend(json_array(bouquet.get("bouquet_series")))
    return {"channel_ids": _unique(streams), "series_ids": _unique(series)}


def _unique(values: list[Any]) -> list[Any]:
    seen: set[str] = set()
    out = []
    for value in values:
        if str(value) not in seen:
            seen.add(str(value))
            out.append(value)
    return out


def complete(call: Call, toward: Toward, outcome: Outcome, listed: dict[str, Any] | None) -> Plan:
    """The line row of a `line.get` with what an XC v2 client's `user/info` answers beyond it. `listed` is the
    list row the line was found in, when it was looked up by username and password."""
    if (
        not toward.foreign(call)  # (a call of the gateway's own has no client dialect)
        or not dialect(call.dialect).answers_line_extras
        or not isinstance(outcome, Result)
        or not isinstance(outcome.data, dict)
    ):
        return outcome
    row = dict(outcome.data)
    if "active_cons" not in row:
        active = row.get("active_connections", (listed or {}).get("active_connections"))
        if active is not None:
            row["active_cons"] = str(active)
    listing = catalogue().get("bouquet.list")
    if "channel_ids" not in row and listing is not None and toward.face.native(listing, "none"):
        bouquets = yield Send(Call(listing.name), listing)
        if isinstance(bouquets, Result) and isinstance(bouquets.data, list):
            row.update(bouquet_contents(row.get("bouquet"), bouquets.data))
    return Result(data=row, total=outcome.total, filtered=outcome.filtered, extra=outcome.extra)

"""gateway.plans.lineinfo and the array columns it reads: XC v2's user/info extras from another panel's rows."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.dialects.common import json_array
from gateway.plans.lineinfo import bouquet_contents


@pytest.mark.parametrize(
    ("value", "expected"),
    [("[1,2,3]", [1, 2, 3]), ([4, 5], [4, 5]), ({"0": 7, "2": 9}, [7, 9]), ("[", []), ("[" * 5000, []),
     ("", []), (None, []), (12, []), ("{\"a\":1}", [])],
)  # fmt: skip
def test_json_array_reads_what_panels_store_and_nothing_else(value: Any, expected: list[Any]) -> None:
    assert json_array(value) == expected


def test_bouquet_contents_in_bouquet_id_order_first_occurrence_kept() -> None:
    bouquets = [
        {"id": "10", "bouquet_channels": "[5,6]", "bouquet_movies": "[]", "bouquet_radios": "[7]",
         "bouquet_series": "[2]"},
        {"id": "2", "bouquet_channels": "[6,1]", "bouquet_movies": "[30]", "bouquet_radios": "[]",
         "bouquet_series": "[2,3]"},
        "not a row",
    ]  # fmt: skip
    got = bouquet_contents("[10,2,99]", bouquets)  # 99: a bouquet the panel no longer has
    assert got == {"channel_ids": [6, 1, 30, 5, 7], "series_ids": [2, 3]}
    assert bouquet_contents(None, bouquets) == {"channel_ids": [], "series_ids": []}

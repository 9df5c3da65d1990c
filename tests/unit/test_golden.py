"""Every dialect's golden files (tests/unit/golden.py says what a case is and how to regenerate them)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlencode

import pytest

from gateway.dialects.registry import DIALECTS
from tests.unit.golden import CLIENT_KEY, HARNESSES, UPSTREAM_SECRET, Harness, load

UPDATE = os.environ.get("PANELGATE_UPDATE_GOLDEN") == "1"
CASES = [(name, path) for name in DIALECTS for path in HARNESSES[name].cases]
IDS = [f"{name}/{path.stem}" for name, path in CASES]


def test_every_dialect_has_a_harness_and_its_cases() -> None:
    assert set(HARNESSES) == set(DIALECTS)
    for name in DIALECTS:
        assert len(HARNESSES[name].cases) >= 20, f"{name} has too few golden cases"


@pytest.mark.parametrize(("name", "path"), CASES, ids=IDS)
def test_golden(name: str, path: Path) -> None:
    case = load(path)
    actual = HARNESSES[name].run(case)
    if UPDATE:
        case["expected"] = actual
        path.write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return
    assert "expected" in case, f"{path.name} has no expected part: run with PANELGATE_UPDATE_GOLDEN=1"
    assert actual == case["expected"], f"{name}/{path.name}: translator output differs from the golden file"


@pytest.mark.parametrize(("name", "path"), CASES, ids=IDS)
def test_no_case_leaks_a_key(name: str, path: Path) -> None:
    """The upstream request carries the upstream's secret once, under the panel's own name, marked secret, and
    never the client's key; nothing the client gets back carries either (a panel's echo holds its key)."""
    harness: Harness = HARNESSES[name]
    actual = harness.run(load(path))
    if "upstream" in actual:
        form = actual["upstream"]["form"]
        key_name = harness.dialect.upstream_key
        assert [pair for pair in form if pair[1] == UPSTREAM_SECRET] == [[key_name, UPSTREAM_SECRET]]
        assert [k for k, _ in form].count(key_name) == 1
        assert key_name in actual["upstream"]["secret_fields"]
        assert CLIENT_KEY not in json.dumps(actual["upstream"])
    if "render" in actual:
        shown = json.dumps(actual["render"])
        assert UPSTREAM_SECRET not in shown and CLIENT_KEY not in shown
    if "call" in actual:
        assert CLIENT_KEY not in json.dumps(actual["call"])


# Cases whose call survives the trip to the panel's words and back unchanged (a false presence flag, which an
# Xtream-Masters panel is sent by leaving it out, does not; nor does what only a client sends, like a page).
ROUND_TRIPS = {
    "xtream_masters": ("adjust_credits", "create_mag", "get_lines_paging", "get_users_by_owner"),
    "xtream_codes_v2": ("user_create_full", "stb_create", "stb_edit", "reg_user_credits_by_id", "stream_start"),
    "midnight": ("line_new_full", "resellers_update_by_username", "mag_update", "resellers_new_with_credits"),
    "xui_reseller": ("create_line_package", "create_line_trial", "edit_line_with_package", "adjust_credits",
                     "create_mag_package", "get_lines_paging"),
}


@pytest.mark.parametrize("name", DIALECTS)
def test_what_is_encoded_parses_back_to_the_same_call(name: str) -> None:
    """A dialect's upstream face and client face speak the same language: the upstream form, read back by the
    client face, is the call it came from."""
    harness = HARNESSES[name]
    for case_name in ROUND_TRIPS[name]:
        expected = harness.case(case_name)["expected"]
        up = expected["upstream"]
        path, _, query = up["path"].partition("?")
        body = urlencode([(k, v) for k, v in up["form"] if k != harness.dialect.upstream_key])
        inp = {"query": query, "body": body, "endpoint": path.removeprefix("/api/")}
        again = harness.run({"kind": "request", "input": inp})
        assert "call" in again, f"{name}/{case_name}: the client face refuses its own upstream form: {again}"
        for part in ("operation", "target", "args"):
            assert again["call"][part] == expected["call"][part], f"{name}/{case_name}: {part}"

"""Properties of the MidnightStreamer translator that every golden case must have, whatever the files say
(the cases themselves run in tests/unit/test_golden.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.catalogue import catalogue
from gateway.model import Code, Failure
from tests.unit.golden import HARNESSES, load

HARNESS = HARNESSES["midnight"]


@pytest.mark.parametrize("path", HARNESS.cases, ids=[p.stem for p in HARNESS.cases])
def test_every_case_answers_in_ms_shapes(path: Path) -> None:
    actual = HARNESS.run(load(path))
    if "render" in actual:
        render = actual["render"]
        if render["status"] == 404:
            assert "404 Page Not Found" in render["body"]
        else:
            assert render["status"] == 200 and render["content_type"] == "text/html"
            assert isinstance(render["body"], dict) and isinstance(render["body"]["result"], bool)
            if render["body"]["result"] is False:
                assert isinstance(render["body"]["error"], str) and render["body"]["error"]


def test_data_fields_never_send_canonical_names() -> None:
    actual = HARNESS.run(HARNESS.case("line_new_full"))
    names = [k for k, _ in actual["upstream"]["form"]]
    for canonical in ("max_connections", "is_restreamer", "exp_date", "member_id", "mac", "admin_enabled"):
        assert f"data[{canonical}]" not in names
    assert "data[expire_date]" in names and "data[reseller_id]" in names and "data[restreamer]" in names


def test_banned_is_admin_enabled_the_other_way_round_both_ways() -> None:
    actual = HARNESS.run(HARNESS.case("line_update_banned"))
    assert actual["call"]["args"]["admin_enabled"] is False
    assert ["data[banned]", "1"] in actual["upstream"]["form"]
    decoded = HARNESS.run(HARNESS.case("decode_line_info"))
    row = decoded["outcome"]["result"]["data"]
    assert "banned" not in row and row["admin_enabled"] in ("0", "1")
    assert decoded["render"]["body"]["data"]["banned"] == ("0" if row["admin_enabled"] == "1" else "1")


def test_decode_invalid_api_key_is_never_an_auth_failure_for_the_client() -> None:
    actual = HARNESS.run(HARNESS.case("decode_invalid_api_key"))
    assert actual["outcome"]["failure"]["code"] == "UPSTREAM_ERROR"
    assert actual["render"]["body"]["error"] != "Invalid API key."


def test_decode_deeply_nested_body_is_an_upstream_error() -> None:
    op = catalogue().operations["reseller.list"]
    outcome = HARNESS.dialect.upstream.decode(op, 200, b"[" * 100_000)
    assert isinstance(outcome, Failure) and outcome.code is Code.UPSTREAM_ERROR

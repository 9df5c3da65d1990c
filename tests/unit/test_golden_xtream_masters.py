"""Properties of the Xtream-Masters translator beyond its golden files (the cases themselves run in
tests/unit/test_golden.py)."""

from __future__ import annotations

import dataclasses
import json

from gateway.catalogue import catalogue
from gateway.model import Code, Failure
from tests.unit.golden import CLIENT_KEY, HARNESSES

HARNESS = HARNESSES["xtream_masters"]
CLIENT, UPSTREAM_FACE = HARNESS.dialect.client, HARNESS.dialect.upstream


def test_encoded_form_carries_the_upstream_key_not_the_clients() -> None:
    request = HARNESS.request({"query": f"api_key={CLIENT_KEY}&action=get_line", "body": f"id=5&api_key={CLIENT_KEY}"})
    assert CLIENT.credentials(request).api_key == CLIENT_KEY
    call = CLIENT.parse(request)
    assert "api_key" not in call.args
    op = catalogue().by_xm_action["get_line"]
    other = dataclasses.replace(HARNESS.upstream, api_key="ANOTHER-UPSTREAM-SECRET", access_code="othercode")
    for upstream in (HARNESS.upstream, other):
        up = UPSTREAM_FACE.encode(call, op, upstream)
        form = dict(up.form)
        assert form["api_key"] == upstream.api_key
        assert [k for k, _ in up.form].count("api_key") == 1
        assert CLIENT_KEY not in repr(up.form)
        assert up.path == f"/{upstream.access_code}/admin/index.php"
        assert form["action"] == "get_line"
        assert form["id"] == "5"


def test_create_line_presence_flags_in_the_upstream_form() -> None:
    # The panel turns a flag on when its key is merely present, so a false flag must not be sent at all.
    case = HARNESS.case("create_line_full")
    assert "is_trial=0" in case["input"]["body"]
    assert "is_restreamer=1" in case["input"]["body"]
    actual = HARNESS.run(case)
    form = actual["upstream"]["form"]
    names = [k for k, _ in form]
    assert "is_trial" not in names
    assert ["is_restreamer", "1"] in form
    assert ["exp_date", "2030-01-31"] in form
    assert ["bouquets_selected", "[1,2,5]"] in form
    assert [v for k, v in form if k == "allowed_ips[]"] == ["1.2.3.4", "10.0.0.0/8"]
    assert actual["call"]["args"]["is_trial"] is False
    assert actual["call"]["args"]["is_restreamer"] is True


def test_flags_read_by_value_are_sent_off_and_lists_xui_needs_are_sent_empty() -> None:
    status = HARNESS.run(HARNESS.case("create_user_status_off"))["upstream"]["form"]
    assert ["status", "0"] in status and "use_credits" not in [k for k, _ in status]
    package = HARNESS.run(HARNESS.case("create_package_minimal"))["upstream"]["form"]
    assert ["bouquets_selected", "[]"] in package and ["groups_selected", "[]"] in package


def test_invalid_api_key_from_upstream_is_never_an_auth_failure_for_the_client() -> None:
    actual = HARNESS.run(HARNESS.case("decode_upstream_invalid_api_key"))
    assert actual["outcome"]["failure"]["code"] == "UPSTREAM_ERROR"
    assert actual["render"]["body"].get("error") != "Invalid API key."


def test_bare_list_actions_render_bare() -> None:
    case = HARNESS.case("decode_get_bouquets_bare_list")
    actual = HARNESS.run(case)
    assert isinstance(actual["render"]["body"], list)
    assert actual["render"]["body"] == json.loads(case["input"]["body"])


def test_decode_deeply_nested_body_is_an_upstream_error() -> None:
    op = catalogue().by_xm_action["get_lines"]
    outcome = UPSTREAM_FACE.decode(op, 200, b"[" * 100_000)
    assert isinstance(outcome, Failure)
    assert outcome.code is Code.UPSTREAM_ERROR

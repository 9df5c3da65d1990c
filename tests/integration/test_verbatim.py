"""A panel's answer passed through undecoded (gateway.verbatim), end to end through real sockets: the client of the
panel's own dialect gets the panel's bytes; every step that reads the answer still sees it decoded."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway import jsonio
from gateway.app import build_app
from gateway.catalogue import catalogue
from gateway.dialects.xtream_masters import client as xm_client
from gateway.dialects.xtream_masters import upstream as xm_upstream
from gateway.model import Result
from gateway.verbatim import VerbatimResult
from tests.conftest import ACCESS_CODE, KEYS, UPSTREAM_KEY, Stack, make_config

PATH = f"/{ACCESS_CODE}/admin/index.php"
NOTES = "a/b </script>"  # the panel writes `\/` (PHP's json_encode); the gateway's rendering would not


async def _gateway(stack: Stack, key: str = "admin", **form: str) -> bytes:
    resp = await stack.client.post(PATH, data={"api_key": KEYS[key], **form})
    assert resp.status == 200
    return await resp.read()


async def _direct(stack: Stack, **form: str) -> bytes:
    async with stack.client.session.post(stack.sim_server.make_url(PATH), data={"api_key": UPSTREAM_KEY, **form}) as r:
        assert r.status == 200
        return await r.read()


async def test_an_admin_read_answers_the_panels_own_bytes(stack: Stack) -> None:
    created = json.loads(await _gateway(stack, action="create_line", username="verbatim1", password="pw-verbatim1",
                                        admin_notes=NOTES))  # fmt: skip
    assert created["status"] == "STATUS_SUCCESS"
    line_id = str(created["data"]["id"])
    every = json.loads(await _direct(stack, action="get_lines", limit="1000"))["recordsTotal"]
    forms = [{"action": "get_line", "id": line_id}, {"action": "get_lines", "limit": "1000"},
             {"action": "get_lines", "limit": every}]  # a page as long as the list: table.php writes the int limit
    for form in forms:
        through = await _gateway(stack, **form)
        assert b"a\\/b <\\/script>" in through, "decoded and rendered again: the panel's spelling is lost"
        assert through == await _direct(stack, **form)
    assert json.loads(through)["data"][-1]["admin_notes"] == NOTES
    assert json.loads(through)["recordsFiltered"] == int(every)


async def test_an_answer_with_escaped_letters_is_decoded_for_its_secrets_walk(stack: Stack) -> None:
    # `\u` may spell a secret's name (gateway.panel_secrets.cannot_hold): such an answer is walked, so decoded
    notes = "a/b \u00e9"
    created = json.loads(await _gateway(stack, action="create_line", username="verbatim2", password="pw-verbatim2",
                                        admin_notes=notes))  # fmt: skip
    form = {"action": "get_line", "id": str(created["data"]["id"])}
    direct = await _direct(stack, **form)
    through = await _gateway(stack, **form)
    assert b"a\\/b \\u00e9" in direct and b"a/b \\u00e9" in through
    assert json.loads(through) == json.loads(direct)


async def test_a_resellers_list_is_still_decoded_and_filtered(stack: Stack) -> None:
    whole = json.loads(await _direct(stack, action="get_lines", limit="1000"))["data"]
    owners = {str(row["member_id"]) for row in whole}
    assert len(owners) > 1, "the seed must hold lines of several owners for this to test anything"
    body = json.loads(await _gateway(stack, key="reseller", action="get_lines", limit="1000"))
    assert body["data"] and {str(row["member_id"]) for row in body["data"]} < owners


async def test_another_dialects_client_gets_the_answer_rendered_in_its_own(stack: Stack) -> None:
    direct = json.loads(await _direct(stack, action="get_users"))
    resp = await stack.client.post("/api.php", data={"api_key": KEYS["admin"], "action": "reg_user", "sub": "list"})
    assert resp.status == 200
    body = json.loads(await resp.read())
    assert isinstance(body, list) and b"STATUS_SUCCESS" not in await resp.read()
    assert sorted(str(row["id"]) for row in body) == sorted(str(row["id"]) for row in direct["data"])


def _odd_panel(answer: bytes) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=answer, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", PATH, handle)
    return app


ROW = b'{"id":"1","username":"u1","admin_notes":"a\\/b"}'  # `\/`: rendering again spells it `/`


@pytest.mark.parametrize("answer", [
    b'{"status":"STATUS_FAILURE","status":"STATUS_SUCCESS","data":' + ROW + b"}",  # two statuses: the last wins
    b'{"status":"STATUS_SUCCESS","data":' + ROW + b',"status":"STATUS_FAILURE"}',  # ... here a failure
    b'{"status":"STATUS_SUCCESS","data":' + ROW[:-1] + b',"n":123456789012345678901234567890}}',  # past 64 bits
    b' {"status":"STATUS_SUCCESS","data":' + ROW + b"}",  # not an object's first byte
    b'{"status":"STATUS_SUCCESS","data":' + ROW[:-1] + b',"x":NaN}}',  # the standard library's extension
    b'{"status":"STATUS_SUCCESS","data":' + ROW[:-1] + b',"x":"\\ud800"}}',  # a lone surrogate
    b'{"status":"STATUS_SUCCESS","data":' + ROW[:-1] + b',"x":"\xff"}}',  # not UTF-8
    b'{"status":"STATUS_SUCCESS","data":' + ROW,  # cut short
    b'{"status":"STATUS_SUCCESS ","data":' + ROW + b"}",  # not the success word
    b'[{"status":"STATUS_SUCCESS","data":' + ROW + b"}]",  # a list
    # rendering the decoded answer would change its top level (a review, helper-20): decoded, so it does
    b'{"status":"STATUS_SUCCESS","data":' + ROW + b',"recordsTotal":"5"}',  # recordsFiltered added
    b'{"status":"STATUS_SUCCESS","data":' + ROW + b',"recordsTotal":5,"recordsFiltered":5}',  # counts as strings
    b'{"status":"STATUS_SUCCESS","data":' + ROW + b',"recordsTotal":"05","recordsFiltered":"05"}',  # "5"
    b'{"status":"STATUS_SUCCESS","data":' + ROW + b',"recordsTotal":"7","recordsFiltered":"5"}',  # 5, a number
    b'{"status":"STATUS_SUCCESS","data":' + ROW + b',"recordsTotal":"x","recordsFiltered":true}',  # dropped
    b'{"status":"STATUS_SUCCESS","data":null,"x":"a\\/b"}',  # data: null left out
    b'{"status":"STATUS_SUCCESS","data":' + ROW + b',"data":{"id":"2","admin_notes":"a\\/b"}}',  # the last
    # nested as deep as simdjson reads, with a run of 19 digits: jsonio reads it with the standard library,
    # which cannot go that deep (an upstream error, as before, not an answer nothing could decode)
    b'{"status":"STATUS_SUCCESS","data":' + b"[" * 1010 + b'"1234567890123456789"' + b"]" * 1010 + b"}",
])  # fmt: skip
async def test_answers_that_need_decoding_are_decoded_as_before(
    aiohttp_server: Any, aiohttp_client: Any, policies_dir: Any, tmp_path: Any, answer: bytes
) -> None:
    panel: TestServer = await aiohttp_server(_odd_panel(answer))
    client = await aiohttp_client(build_app(make_config(str(panel.make_url("")).rstrip("/"), policies_dir, tmp_path)))
    resp = await client.post(PATH, data={"api_key": KEYS["admin"], "action": "get_line", "id": "1"})
    op = catalogue().by_xm_action["get_line"]
    expected = xm_client.render(xm_upstream.decode(op, 200, answer), op)
    assert (resp.status, await resp.read()) == (expected.status, expected.body)
    assert expected.body != answer


def test_a_verbatim_result_decodes_when_read_and_is_replaced_by_a_plain_result() -> None:
    op = catalogue().by_xm_action["get_line"]
    answer = b'{"status":"STATUS_SUCCESS","data":' + ROW + b',"recordsTotal":"1","recordsFiltered":"1"}'
    result = xm_upstream.verbatim(op, 200, answer)
    assert isinstance(result, VerbatimResult) and result.untouched
    assert xm_client.render(result, op).body == answer
    assert result.data == {"id": "1", "username": "u1", "admin_notes": "a/b"} and not result.untouched
    assert (result.total, result.filtered, result.extra) == (1, 1, {})
    assert xm_client.render(result, op).body == jsonio.dumps({"status": "STATUS_SUCCESS", "data": result.data,
                                                              "recordsTotal": "1", "recordsFiltered": "1"})  # fmt: skip
    fresh = xm_upstream.verbatim(op, 200, answer)
    changed = replace(fresh, data={"id": "2"})
    assert type(changed) is Result and changed.data == {"id": "2"} and changed.total == 1
    assert xm_client.render(changed, op).body != answer
    assert xm_upstream.verbatim(op, 500, answer) is None


@pytest.mark.parametrize("inner", [b'"1234567890123456789"', b'"12"', b"123", b'{"a":"1234567890123456789"}'])
def test_whatever_verbatim_takes_decodes_as_a_success_at_any_depth(inner: bytes) -> None:
    """simdjson reads up to 1,024 levels, orjson as many, the standard library (jsonio's choice for a long digit
    run) fewer than Python's recursion limit: what verbatim takes must decode, or a step reading it would fail."""
    op = catalogue().by_xm_action["get_line"]
    taken = 0
    for depth in (*range(1, 40), *range(390, 410), *range(900, 1030)):
        answer = b'{"status":"STATUS_SUCCESS","data":' + b"[" * depth + inner + b"]" * depth + b"}"
        result = xm_upstream.verbatim(op, 200, answer)
        if result is not None:
            taken += 1
            assert isinstance(result, VerbatimResult) and isinstance(result.decoded(), Result), depth
    assert taken >= 39, "the shallow answers must be taken"

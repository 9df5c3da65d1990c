"""The panel's secrets leave every answer, at any depth and in any case; rows without any are not copied."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from gateway.catalogue import catalogue
from gateway.dialects.xtream_masters.upstream import decode as xm_decode
from gateway.model import Failure, Result
from gateway.panel_secrets import cannot_hold, strip


def _data(action: str, data: Any) -> Any:
    outcome = strip(catalogue().by_xm_action[action], Result(data=data))
    assert isinstance(outcome, Result)
    return outcome.data


def test_clean_rows_are_the_same_objects() -> None:
    rows = [{"id": str(i), "username": f"u{i}", "password": "pw", "enabled": 1, "exp_date": None} for i in range(30)]
    assert _data("get_lines", rows) is rows


def test_a_secret_column_goes_in_any_case_on_every_row_with_the_same_names() -> None:
    rows = [{"id": str(i), "API_KEY": "k", "username": f"u{i}"} for i in range(5)]
    assert _data("get_lines", rows) == [{"id": str(i), "username": f"u{i}"} for i in range(5)]


def test_the_same_column_names_are_judged_by_what_is_secret_for_the_resource() -> None:
    names = {"id": "1", "username": "r1", "password": "$6$rounds=5000$salt$hash"}
    lines = _data("get_lines", [dict(names)])  # a line's password is its customer's: it stays
    assert lines == [names]
    users = _data("get_users", [dict(names)])  # a reseller's stored hash does not, with the same column names
    assert users == [{"id": "1", "username": "r1"}]


def test_a_secret_nested_in_a_clean_row_goes() -> None:
    rows = [{"id": "1", "owner": {"id": "2", "api_key": "k"}}, {"id": "2", "owner": [{"apikey": "k", "x": 1}]}]
    assert _data("get_lines", rows) == [{"id": "1", "owner": {"id": "2"}}, {"id": "2", "owner": [{"x": 1}]}]


def test_column_names_that_are_not_strings_are_walked() -> None:
    rows = [{1: "a", "api_pass": "k"}, {1: "a"}]
    assert _data("get_lines", rows) == [{1: "a"}, {1: "a"}]


# --- the walk skipped for an answer that cannot spell a secret name (panel_secrets.cannot_hold) ---------------

KEY_POOL = ["id", "username", "password", "notes", "api_key", "API_KEY", "Api_Pass", "apikey", "aPi_PaSsWoRd",
            "rapid", "x_api", "api", "owner", "apis", "stream_icon"]  # fmt: skip


def _escaped(text: str, rng: random.Random) -> str:
    """`text` (a JSON text) with some letters written as `\\u00XX`, as any encoder may."""
    return "".join(f"\\u{ord(c):04x}" if c.isalpha() and rng.random() < 0.2 else c for c in text)


def _answer(rng: random.Random) -> bytes:
    def row() -> dict[str, Any]:
        names = rng.sample(KEY_POOL, rng.randint(1, 6))
        if rng.random() < 0.1:
            names.append("api_\u212aey")  # KELVIN SIGN: api_key once lowered
        out: dict[str, Any] = {n: rng.choice(["1", "v", "rapid", None]) for n in names}
        if rng.random() < 0.2:
            out["nested"] = {rng.choice(KEY_POOL): "x"}
        return out

    if rng.random() < 0.2:  # a refusal echoing what the panel says it was sent
        doc: dict[str, Any] = {"status": "STATUS_FAILURE", "error": "no", "data": row()}
    else:
        doc = {"status": "STATUS_SUCCESS", "data": [row() for _ in range(rng.randint(0, 4))], rng.choice(KEY_POOL): "x"}
    text = json.dumps(doc, ensure_ascii=rng.random() < 0.5)
    if rng.random() < 0.3:
        text = _escaped(text, rng)
    # the standard library's parser (jsonio's fallback) reads UTF-16 and UTF-32 too, which spell ASCII with NULs
    return text.encode(rng.choice(["utf-8"] * 6 + ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be", "utf-16"]))


@pytest.mark.parametrize("action", ["get_lines", "user_info", "get_users", "get_rtmp_ips", "get_streams"])
def test_an_answer_that_cannot_hold_a_secret_holds_none(action: str) -> None:
    op = catalogue().by_xm_action[action]
    rng = random.Random(action)
    skipped = 0
    for _ in range(3000):
        raw = _answer(rng)
        decoded = xm_decode(op, 200, raw)
        if cannot_hold(op, raw):
            skipped += 1
            assert strip(op, decoded) is decoded, raw  # the walk would have taken nothing out
    assert skipped > 50 or op.resource in ("account", "reseller", "rtmp_ip")


def test_what_makes_an_answer_walked() -> None:
    op = catalogue().by_xm_action["get_lines"]
    assert cannot_hold(op, b'{"status":"STATUS_SUCCESS","data":[{"id":"1","username":"u"}]}')
    assert not cannot_hold(op, b'{"data":[{"Api_Key":"k"}]}')
    assert not cannot_hold(op, b'{"data":[{"\\u0061pi_key":"k"}]}')  # an escape could spell it
    assert not cannot_hold(op, '{"data":[{"n":"\u00e9"}]}'.encode())  # past ASCII
    assert not cannot_hold(op, b'{"data":[{"url":"http://x/api/1"}]}')  # "api" anywhere: walked, to be safe
    assert not cannot_hold(catalogue().by_xm_action["get_users"], b'{"data":[{"id":"1"}]}')  # secrets of its own
    assert not cannot_hold(op, '{"data":[{"api_key":"k"}]}'.encode("utf-16-le"))  # ASCII bytes, NUL-spelled


def test_a_refusals_echo_loses_the_secrets_too() -> None:
    op = catalogue().by_xm_action["create_line"]
    raw = b'{"status":"STATUS_FAILURE","error":"x","data":{"username":"u","owner":{"API_KEY":"k","id":"2"}}}'
    outcome = strip(op, xm_decode(op, 200, raw))
    assert isinstance(outcome, Failure)
    assert outcome.echo == {"username": "u", "owner": {"id": "2"}}

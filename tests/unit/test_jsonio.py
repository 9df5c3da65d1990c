"""gateway.jsonio: orjson's speed, the standard library's results."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import jsonio


def standard(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode()


@pytest.mark.parametrize(
    "value",
    [
        {"status": "STATUS_SUCCESS", "data": [{"id": "1", "username": "ahmed01", "exp_date": None}]},
        {"name": "Zoë \u2013 ñandú 📺", "notes": "\u2028"},  # non-ASCII: escaped as PHP's json_encode does
        {1: "int key", "x": [True, False, None]},  # orjson refuses non-string keys
        {"big": 2**70, "neg": -(2**65)},  # orjson refuses integers past 64 bits
        ["a/b", 'quote"', "back\\slash", "\x00\x1f"],
        (1, 2, 3),
    ],
)
def test_dumps_matches_the_standard_library(value: Any) -> None:
    assert jsonio.dumps(value) == standard(value)


def test_dumps_refuses_what_the_standard_library_refuses() -> None:
    with pytest.raises(TypeError):
        jsonio.dumps({"s": {1, 2}})


@pytest.mark.parametrize(
    "text",
    [b'{"a":1,"a":2}', b"[NaN, Infinity]", b'["\\ud800"]', b"123456789012345678901234567890",
     b'[-9223372036854775809, 18446744073709551616, 1e400]', '{"é":"ü"}'.encode()],
)  # fmt: skip
def test_loads_accepts_what_the_standard_library_accepts(text: bytes) -> None:
    got, expected = jsonio.loads(text), json.loads(text)
    assert repr(got) == repr(expected)  # repr: NaN != NaN


@pytest.mark.parametrize("text", [b"", b"{", b"[1,]", b"\xff\xfe", b"[" * 100_000])
def test_loads_fails_as_the_standard_library_does(text: bytes) -> None:
    with pytest.raises((ValueError, RecursionError)):
        json.loads(text)
    with pytest.raises((ValueError, RecursionError)):
        jsonio.loads(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@given(json_values)
def test_round_trip_agrees_with_the_standard_library(value: Any) -> None:
    out = jsonio.dumps(value)
    assert out.isascii()
    assert json.loads(out) == json.loads(standard(value)) == jsonio.loads(standard(value))


def test_nan_and_infinity_render_as_json_null() -> None:
    """The standard library wrote `NaN`, which is not JSON; orjson writes null, which every client reads."""
    assert jsonio.dumps({"x": float("nan"), "y": [float("inf")]}) == b'{"x":null,"y":[null]}'

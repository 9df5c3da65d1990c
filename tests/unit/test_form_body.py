"""gateway.upstream.form_body: the body of a panel call, byte for byte what urlencode writes."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.upstream import form_body

_TEXT = st.text(alphabet=st.sampled_from(list("aZ09_.-~ +&=%[]/:?#@!*'()é€\x00\t\r\n") + ["\U0001f600"]), max_size=12)


@given(st.lists(st.tuples(_TEXT, _TEXT), max_size=6))
@settings(max_examples=2000, deadline=None, database=None, derandomize=True)
def test_form_body_is_urlencode(pairs: list[tuple[str, str]]) -> None:
    assert form_body(pairs) == urlencode(pairs).encode("ascii")


@pytest.mark.parametrize(
    "pairs",
    [
        [("api_key", "k_1.2~3-4"), ("action", "get_lines"), ("limit", "25")],
        [("user_data[username]", "a b"), ("note", "x&y=z")],
        [("empty", ""), ("", "v")],
        [("n", 5), ("b", b"raw bytes")],  # not what encoders give it, still what urlencode writes
    ],
)
def test_form_body_examples(pairs: list[tuple[str, object]]) -> None:
    assert form_body(pairs) == urlencode(pairs).encode("ascii")  # type: ignore[arg-type]

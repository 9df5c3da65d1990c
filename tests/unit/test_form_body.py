"""gateway.upstream.form_body: the body of a panel call, byte for byte what urlencode writes."""

from __future__ import annotations

from enum import Enum
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.upstream import form_body

# every ASCII character (the unreserved ones and all the others quote_plus escapes), and some past ASCII
_CHARACTERS = [chr(c) for c in range(128)] + ["é", "€", "\U0001f600"]
_TEXT = st.text(alphabet=st.sampled_from(_CHARACTERS), max_size=12)


def _urlencoded(pairs: Any) -> bytes | str:
    try:
        return urlencode(pairs).encode("ascii")
    except (TypeError, ValueError) as exc:
        return type(exc).__name__


def _ours(pairs: Any) -> bytes | str:
    try:
        return form_body(pairs)
    except (TypeError, ValueError) as exc:
        return type(exc).__name__


@given(st.lists(st.tuples(_TEXT, _TEXT), max_size=6))
@settings(max_examples=3000, deadline=None, database=None, derandomize=True)
def test_form_body_is_urlencode(pairs: list[tuple[str, str]]) -> None:
    assert form_body(pairs) == urlencode(pairs).encode("ascii")


@pytest.mark.parametrize("character", _CHARACTERS)
def test_each_character_as_name_and_value(character: str) -> None:
    for pairs in ([(character, "v")], [("k", character)], [(f"a{character}b", f"{character}{character}")]):
        assert form_body(pairs) == urlencode(pairs).encode("ascii")


class _Shown(str):
    def __str__(self) -> str:
        return "shown"


class _Formatted(str):
    def __format__(self, spec: str) -> str:
        return "formatted"


class _Kind(str, Enum):  # noqa: UP042 - str() and format() of this mixin differ: what the test is for
    LINE = "line"


@pytest.mark.parametrize(
    "pairs",
    [
        [("api_key", "k_1.2~3-4"), ("action", "get_lines"), ("limit", "25")],
        [("user_data[username]", "a b"), ("note", "x&y=z")],
        [("empty", ""), ("", "v")],
        [("n", 5), ("b", b"raw bytes"), (5, "v"), (b"k", "v")],  # not what encoders give it, still urlencode's
        [(_Shown("name"), _Shown("value"))],  # a str subclass is written as urlencode writes it
        [(_Formatted("name"), "v"), ("k", _Formatted("value"))],
        [("kind", _Kind.LINE), (_Kind.LINE, "x")],
        [],
    ],
)
def test_form_body_examples(pairs: list[tuple[Any, Any]]) -> None:
    assert form_body(pairs) == urlencode(pairs).encode("ascii")


@pytest.mark.parametrize("make", [lambda: [["a", "b"]], lambda: ["ab"], lambda: iter([("a", "b")]),
                                  lambda: {"ab": "x"}, lambda: {"a": "b"}, lambda: (("a", "b"),)])  # fmt: skip
def test_anything_but_a_list_of_tuples_is_urlencodes(make: Any) -> None:
    assert _ours(make()) == _urlencoded(make())

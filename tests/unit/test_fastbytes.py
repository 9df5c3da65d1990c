"""gateway.fastbytes gives exactly what `bytes` gives: the literal rewriting's proof rests on these counts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import fastbytes

# few distinct bytes, so needles occur, overlap themselves (`\\/\\/\\/`) and sit at both ends
_ALPHABET = st.sampled_from([b":", b"/", b"\\", b"a", b"\x00", b"\xff"])
_PIECES = st.lists(_ALPHABET, max_size=12).map(b"".join)
# a random head, a piece repeated (often past the 512 bytes where replace() splits), a random tail
_TEXTS = st.tuples(_PIECES, _PIECES, st.integers(0, 300), _PIECES).map(lambda t: t[0] + t[1] * t[2] + t[3])
_NEEDLES = st.lists(_ALPHABET, min_size=1, max_size=5).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(text=_TEXTS, needle=_NEEDLES, new=st.binary(max_size=6))
def test_count_contains_replace_are_the_bytes_methods(text: bytes, needle: bytes, new: bytes) -> None:
    assert fastbytes.count(text, needle) == text.count(needle)
    assert fastbytes.contains(text, needle) == (needle in text)
    assert fastbytes.replace(text, needle, new) == (text.replace(needle, new), text.count(needle))


def test_self_overlapping_needles_in_a_large_text_count_left_to_right() -> None:
    text = b"x" + b"\\/" * 100_000 + b"\\"  # `\\/\\/` overlaps itself at every other byte
    for needle in (b"\\/\\/", b"/\\/", b"\\/\\/\\/", b"\\"):
        assert fastbytes.count(text, needle) == text.count(needle)
        assert fastbytes.replace(text, needle, b"#") == (text.replace(needle, b"#"), text.count(needle))


def test_an_empty_needle_is_what_bytes_makes_of_it() -> None:
    for text in (b"", b"abc", b"a" * 1000):
        assert fastbytes.count(text, b"") == text.count(b"")
        assert fastbytes.contains(text, b"")
        assert fastbytes.replace(text, b"", b"-") == (text.replace(b"", b"-"), len(text) + 1)


def test_nothing_to_replace_returns_the_text_itself() -> None:
    text = b"http://a.example/" * 100
    assert fastbytes.replace(text, b"http://b.example", b"http://gw")[0] is text

"""gateway.fastbytes gives exactly what `bytes` gives, on every StringZilla backend this machine has: the literal
rewriting's proof that no panel host is left rests on these counts."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import stringzilla as sz
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import fastbytes

BACKENDS = tuple(sz.__capabilities__)  # what this CPU runs (serial, then each instruction set up to the best)

# few distinct bytes, so needles occur, overlap themselves (`\\/\\/\\/`) and sit at both ends
_ALPHABET = st.sampled_from([b":", b"/", b"\\", b"a", b"\x00", b"\xff"])
_PIECES = st.lists(_ALPHABET, max_size=12).map(b"".join)
# a random head, a piece repeated (often past the 512 bytes where replace() splits), a random tail
_TEXTS = st.tuples(_PIECES, _PIECES, st.integers(0, 300), _PIECES).map(lambda t: t[0] + t[1] * t[2] + t[3])
_NEEDLES = st.lists(_ALPHABET, min_size=1, max_size=5).map(b"".join)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """StringZilla dispatching to one backend only, then to all of them again."""
    sz.reset_capabilities([request.param])
    try:
        yield request.param
    finally:
        sz.reset_capabilities(list(BACKENDS))


def _same(text: bytes, needle: bytes, new: bytes) -> None:
    assert fastbytes.count(text, needle) == text.count(needle)
    assert fastbytes.contains(text, needle) == (needle in text)
    assert fastbytes.replace(text, needle, new) == (text.replace(needle, new), text.count(needle))


def test_this_machine_uses_the_simd_path() -> None:
    assert fastbytes.SIMD and len(BACKENDS) > 1  # the tests below would otherwise test bytes against itself


@settings(max_examples=300, deadline=None)
@given(text=_TEXTS, needle=_NEEDLES, new=st.binary(max_size=6))
def test_count_contains_replace_are_the_bytes_methods(text: bytes, needle: bytes, new: bytes) -> None:
    _same(text, needle, new)


def test_every_backend_on_texts_around_its_blocks(backend: str) -> None:
    rng = random.Random(backend)
    needles = (b":/", b":\\/", b"\\/\\/", b"\\/\\/\\/", b"http:\\/\\/127.0.0.1:8080\\/", b"a", b"\x00\xff")
    for size in (0, 1, 31, 32, 33, 64, 65, 511, 512, 4096, 65535, 65537, (1 << 20) + 13):
        text = bytearray(rng.randbytes(size).translate(bytes(b":/\\a\x00\xff"[i % 6] for i in range(256))))
        for needle in needles:  # placed where vector blocks of 16, 32 and 64 bytes meet, and at the very end
            for at in (0, 15, 16, 31, 32, 47, 48, 63, 64, size // 2, size - len(needle)):
                if 0 <= at <= size - len(needle):
                    text[at : at + len(needle)] = needle
        for needle in needles:
            _same(bytes(text), needle, b"#")
    assert fastbytes.agrees()


def test_self_overlapping_needles_in_a_large_text_count_left_to_right(backend: str) -> None:
    text = b"x" + b"\\/" * 100_000 + b"\\"  # `\\/\\/` overlaps itself at every other byte
    for needle in (b"\\/\\/", b"/\\/", b"\\/\\/\\/", b"\\"):
        _same(text, needle, b"#")


def test_an_empty_needle_is_what_bytes_makes_of_it() -> None:
    for text in (b"", b"abc", b"a" * 1000):
        _same(text, b"", b"-")


def test_nothing_to_replace_returns_the_text_itself() -> None:
    text = b"http://a.example/" * 100
    assert fastbytes.replace(text, b"http://b.example", b"http://gw")[0] is text


def test_a_library_that_miscounts_is_caught_and_bytes_used(monkeypatch: pytest.MonkeyPatch) -> None:
    real = sz.count
    monkeypatch.setattr(sz, "count", lambda text, needle: max(0, real(text, needle) - 1))  # one short: a leak
    assert not fastbytes.agrees()
    monkeypatch.setattr(fastbytes, "SIMD", False)
    _same(b"http://panel:80/a http://panel:80/b", b"http://panel:80", b"http://gw")

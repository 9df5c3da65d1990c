"""Substring counts, searches and replacements in large byte strings at SIMD speed (StringZilla).

The literal rewriting of player lists (gateway.clientside.literal) proves itself by counting: every `://` in a
10 MB `get_live_streams`, every origin it replaced, every foreign one. CPython's `bytes.count` compares a byte at
a time for a short needle (`:\\/` took ~7 ms on such a list, and the proof counts several), while StringZilla
does the same with vector instructions (~0.5 ms here). The answers are `bytes`' own: non-overlapping matches,
left to right (tests/unit/test_fastbytes.py holds every backend this machine has to it).

A count one short could pass a panel's URL as proven replaced, so at import the library is checked against
`bytes` on texts built to straddle its vector blocks; if it disagrees (a backend of a CPU the tests never ran on),
`bytes`' own methods are used instead, with a warning.
"""

from __future__ import annotations

import logging
import random

import stringzilla as sz

# below this, one C call of `bytes.replace` costs less than building StringZilla's list of slices
_SPLIT_FROM = 512
_CHECK_NEEDLES = (b":/", b":\\/", b"://", b"\\/\\/", b"http:\\/\\/panel.example:8080\\/", b"\\u", b"\n", b"aa",
                  b"//", b"/\\/", b"\\/", b"/\\", b"\\\\", b"\\", b"%3A//", b"%3a//")
# random bytes mapped onto a few symbols, so that the needles occur, overlap and straddle blocks by themselves
_CHECK_ALPHABET = bytes(b"ab:/\\u\n\x00\xff"[i % 9] for i in range(256))


def _sz_count(text: bytes, needle: bytes) -> int:
    return int(sz.count(text, needle))


def _sz_replace(text: bytes, old: bytes, new: bytes) -> tuple[bytes, int]:
    if len(text) < _SPLIT_FROM:
        found = _sz_count(text, old)
        return (text.replace(old, new) if found else text), found
    parts = sz.split(text, old)
    found = len(parts) - 1
    return (new.join(parts) if found else text), found


def agrees() -> bool:
    """Whether StringZilla gives `bytes`' answers on texts built around its block sizes (16 to 64 bytes)."""
    rng = random.Random(20261203)
    for size in (0, 1, 15, 16, 17, 63, 64, 65, 127, 4095, 4097, 65537):
        text = bytearray(rng.randbytes(size).translate(_CHECK_ALPHABET))
        for needle in _CHECK_NEEDLES:
            for at in (0, 15, 31, 32, 63, 64, size - len(needle)):
                if 0 <= at <= size - len(needle):
                    text[at : at + len(needle)] = needle
        data = bytes(text)
        for needle in _CHECK_NEEDLES:
            if _sz_count(data, needle) != data.count(needle) or bool(sz.contains(data, needle)) != (needle in data):
                return False
            if _sz_replace(data, needle, b"#") != (data.replace(needle, b"#"), data.count(needle)):
                return False
    return True


SIMD = agrees()
if not SIMD:
    logging.getLogger("panelgate").warning("stringzilla %s disagrees with bytes on this CPU (%s): player lists are "
                                           "rewritten with bytes' own, slower methods", sz.__version__,
                                           ",".join(sz.__capabilities__))  # fmt: skip


def count(text: bytes, needle: bytes) -> int:
    """`text.count(needle)`."""
    return _sz_count(text, needle) if SIMD and needle else text.count(needle)


def contains(text: bytes, needle: bytes) -> bool:
    """`needle in text`."""
    return bool(sz.contains(text, needle)) if SIMD and needle else needle in text


def replace(text: bytes, old: bytes, new: bytes) -> tuple[bytes, int]:
    """(`text.replace(old, new)`, how many `old` it replaced); `text` itself when none."""
    if SIMD and old:
        return _sz_replace(text, old, new)
    found = text.count(old)
    return (text.replace(old, new) if found else text), found

"""Substring counts, searches and replacements in large byte strings at SIMD speed (StringZilla).

The literal rewriting of player lists (gateway.clientside.literal) proves itself by counting: every `://` in a
10 MB `get_live_streams`, every origin it replaced, every foreign one. CPython's `bytes.count` compares a byte at
a time for a short needle (`:\\/` took ~7 ms on such a list, and the proof counts several), while StringZilla
does the same with vector instructions (~0.5 ms here). The answers are `bytes`' own: non-overlapping matches,
left to right (tests/unit/test_fastbytes.py holds both to it).
"""

from __future__ import annotations

import stringzilla as sz

# below this, one C call of `bytes.replace` costs less than building StringZilla's list of slices
_SPLIT_FROM = 512


def count(text: bytes, needle: bytes) -> int:
    """`text.count(needle)`."""
    return int(sz.count(text, needle)) if needle else text.count(needle)


def contains(text: bytes, needle: bytes) -> bool:
    """`needle in text`."""
    return bool(sz.contains(text, needle)) if needle else True


def replace(text: bytes, old: bytes, new: bytes) -> tuple[bytes, int]:
    """(`text.replace(old, new)`, how many `old` it replaced); `text` itself when none."""
    if not old:
        return text.replace(old, new), len(text) + 1
    if len(text) < _SPLIT_FROM:
        found = count(text, old)
        return (text.replace(old, new) if found else text), found
    parts = sz.split(text, old)
    found = len(parts) - 1
    return (new.join(parts) if found else text), found

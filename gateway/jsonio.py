"""JSON on the hot paths (answers rendered, panel answers parsed, cache entries), with orjson.

orjson parses and renders several times faster than the standard library (a 25-row `get_lines` page: 66 us to
render and 50 us to parse with `json`, 6 and 22 us with orjson), and the two were a fifth of an uncached call's
time (bench/notes.md). What the standard library did is kept where it shows:

- answers stay ASCII, non-ASCII text escaped as `\\uXXXX` (as the panels' PHP `json_encode` writes it): an
  answer that comes out otherwise is rendered again by the standard library;
- whatever orjson refuses (non-string keys, integers past 64 bits, lone surrogates, very deep nesting) goes
  through the standard library, so nothing accepted before is refused now; parsing NaN or Infinity, too;
- orjson reads an integer past 64 bits as a float: text with a run of 19 digits or more is parsed by the
  standard library, so a panel's long number stays the exact int it was.

Floats may print differently in the exponent (`1.5e-7` rather than `1.5e-07`): the same number. A NaN or an
infinity renders as `null` (the standard library wrote `NaN`, which is not JSON and no client can read).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# digits to "0", all else to " ": then a long run of digits is a plain substring search (a regex took 120 us on
# a 10 KB answer, more than orjson saves)
_DIGIT_MASK = bytes(ord("0") if chr(i).isdigit() and i < 128 else ord(" ") for i in range(256))
_LONG_RUN = b"0" * 19


def dumps(value: Any) -> bytes:
    """Compact ASCII JSON, as `json.dumps(value, separators=(",", ":")).encode()` gives it."""
    try:
        out = orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _standard(value)
    return out if out.isascii() else _standard(value)


def needs_standard_library(data: bytes) -> bool:
    """Whether `loads` reads `data` with the standard library (a run of 19 digits: maybe an integer orjson would
    turn into a float), whose nesting depth is bounded by Python's recursion limit."""
    return _LONG_RUN in data.translate(_DIGIT_MASK)


def loads(data: bytes) -> Any:
    """What `json.loads(data)` gives (its ValueError/RecursionError included)."""
    if needs_standard_library(data):
        return json.loads(data)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _standard(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode()

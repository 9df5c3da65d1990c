"""PHP's reading of request parameters, as the simulated panel sees them ($_GET + $_POST, POST wins).

Private to the simulators on purpose: the gateway has its own, stricter parser, and a simulator that shared
it could not catch a disagreement between the two.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_MAX_DEPTH = 64


def _split_name(name: str) -> tuple[str, list[str | None]] | None:
    """`a[b][]` -> ("a", ["b", None]), with PHP's mangling of the base name. None when PHP drops the pair."""
    name = name.lstrip(" ")
    bracket = name.find("[")
    if bracket <= 0:
        base = name if bracket < 0 else ""
        if not base:
            return None
        return _mangle(base), []
    base, rest = name[:bracket], name[bracket:]
    path: list[str | None] = []
    pos = 0
    while pos < len(rest) and rest[pos] == "[" and len(path) < _MAX_DEPTH:
        close = rest.find("]", pos)
        if close < 0:
            if not path:  # an unmatched '[' in the base name becomes '_' and the rest is kept verbatim
                return _mangle(base) + "_" + rest[1:], []
            break
        inner = rest[pos + 1 : close]
        path.append(inner if inner else None)
        pos = close + 1
    return _mangle(base), path


def _mangle(base: str) -> str:
    return re.sub(r"[. ]", "_", base)


def _set(container: dict[str, Any], path: list[str | None], value: Any) -> None:
    node = container
    for i, key in enumerate(path):
        last = i == len(path) - 1
        if key is None:
            ints = [int(k) for k in node if k.lstrip("-").isdigit()]
            key = str(max(ints) + 1 if ints else 0)
        if last:
            node[key] = value
        else:
            child = node.get(key)
            if not isinstance(child, dict):
                child = {}
                node[key] = child
            node = child


def _listify(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    out = {k: _listify(v) for k, v in value.items()}
    if list(out) == [str(i) for i in range(len(out))]:
        return list(out.values())
    return out


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Decoded (name, value) pairs in order -> nested params; later duplicates win, like PHP."""
    root: dict[str, Any] = {}
    for name, value in pairs:
        split = _split_name(name)
        if split is None:
            continue
        base, path = split
        _set(root, [base, *path], value)
    return {k: _listify(v) for k, v in root.items()}


def merge_request(get: dict[str, Any], post: dict[str, Any]) -> dict[str, Any]:
    """$_REQUEST with request_order "GP": a top-level key in the body replaces the query's."""
    return {**get, **post}

"""PHP-style request parameters: `a[b][]=1` nesting and name mangling, with ambiguity refused.

Panels run PHP, so clients build bodies with `http_build_query` and expect PHP's reading of them. The gateway
reads them the same way, but where PHP silently picks one value (a duplicated key, a key in both query and
body) the gateway refuses: an attacker must not be able to show one value to the gateway and another to
the panel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

MAX_PARAMS = 1000  # PHP's max_input_vars
MAX_DEPTH = 8  # PHP allows 64; nothing in the panel APIs nests past 2

Params = dict[str, Any]
_PHP_SPACE = " \t\n\v\f\r"  # C isspace()
# A name PHP keeps as it is, neither mangled nor nested: most names, read without split_key's work.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_\-]+").fullmatch


class FormError(ValueError):
    """The parameters cannot be read unambiguously; `param` names the offending parameter."""

    def __init__(self, message: str, param: str = "") -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class _Key:
    base: str
    path: tuple[str | None, ...]  # None is an append (`[]`)


def _plain(raw: bytes) -> bool:
    """Bytes that `_decode` gives back as they are: ASCII without an escape, a `+` or a NUL."""
    return raw.isascii() and b"%" not in raw and b"+" not in raw and b"\x00" not in raw


def _decode(raw: bytes, what: str) -> str:
    try:
        text = unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormError(f"{what} is not valid UTF-8", what) from exc
    if "\x00" in text:
        raise FormError(f"{what} contains a NUL byte", what)
    return text


def split_key(name: str) -> _Key:
    """Split `a[b][]` into base `a` and path ('b', None), mangling the base the way PHP does.

    A name that starts with `[` has an empty base: PHP drops the pair, and so does parse_pairs.
    """
    name = name.lstrip(" ")
    bracket = name.find("[")
    if bracket == 0:
        return _Key(base="", path=())
    if bracket < 0 or "]" not in name[bracket:]:
        base, rest = name, ""
    else:
        base, rest = name[:bracket], name[bracket:]
    # PHP turns ' ' and '.' (and an unmatched '[') in the base name into '_'.
    base = base.replace(" ", "_").replace(".", "_").replace("[", "_")
    path: list[str | None] = []
    pos = 0
    while pos < len(rest) and rest[pos] == "[":
        close = rest.find("]", pos)
        if close < 0:
            break  # PHP ignores a trailing unmatched segment
        segment = rest[pos + 1 : close]
        # PHP skips one whitespace character after '[': `a[ ]` is an append like `a[]`.
        path.append(None if segment == "" or (len(segment) == 1 and segment in _PHP_SPACE) else segment)
        if len(path) > MAX_DEPTH:
            # Checked inside the loop so a megabyte of `[][][]...` costs no more than nine segments.
            raise FormError(f"parameter {base!r} nests deeper than {MAX_DEPTH} levels", base)
        pos = close + 1  # PHP drops anything after the last well-formed segment
    return _Key(base=base, path=tuple(path))


def _assign(container: dict[str, Any], key: _Key, value: str, shown: str) -> None:
    if not key.path:
        if key.base in container:
            raise FormError(f"parameter {shown!r} is given more than once", key.base)
        container[key.base] = value
        return
    node: Any = container
    segments: list[str | None] = [key.base, *key.path]
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if isinstance(node, list):
            if segment is not None:
                raise FormError(f"parameter {shown!r} mixes list and named keys", key.base)
            if last:
                node.append(value)
                return
            child: Any = [] if segments[i + 1] is None else {}
            node.append(child)
            node = child
            continue
        assert isinstance(node, dict)
        if segment is None:
            raise FormError(f"parameter {shown!r} mixes list and named keys", key.base)
        if last:
            if segment in node:
                raise FormError(f"parameter {shown!r} is given more than once", key.base)
            node[segment] = value
            return
        want_list = segments[i + 1] is None
        existing = node.get(segment)
        if existing is None:
            existing = [] if want_list else {}
            node[segment] = existing
        elif isinstance(existing, str) or isinstance(existing, list) != want_list:
            raise FormError(f"parameter {shown!r} is given both as a value and as an array", key.base)
        node = existing


def parse_pairs(pairs: list[tuple[str, str]]) -> Params:
    """Build PHP-style nested params from decoded (name, value) pairs, refusing duplicates."""
    if len(pairs) > MAX_PARAMS:
        raise FormError(f"more than {MAX_PARAMS} parameters")
    out: Params = {}
    for name, value in pairs:
        if _PLAIN_NAME(name):
            if name in out:
                raise FormError(f"parameter {name!r} is given more than once", name)
            out[name] = value
            continue
        if not name.lstrip(" "):
            continue
        key = split_key(name)
        if not key.base:
            continue
        _assign(out, key, value, name)
    return out


def parse_urlencoded(raw: bytes | str) -> Params:
    """Parse a query string or an application/x-www-form-urlencoded body the PHP way."""
    if isinstance(raw, str):
        # A str is read as the text it shows: characters as UTF-8, surrogate-escaped raw bytes as themselves.
        try:
            data = raw.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise FormError("the parameters are not valid UTF-8") from None
    else:
        data = raw
    pairs: list[tuple[str, str]] = []
    for chunk in data.split(b"&"):
        if not chunk:
            continue
        name, _, value = chunk.partition(b"=")
        key = name.decode("ascii") if _plain(name) else _decode(name, "a parameter name")
        pairs.append((key, value.decode("ascii") if _plain(value) else _decode(value, f"parameter {key!r}")))
    return parse_pairs(pairs)


def merge(query: Params, body: Params) -> Params:
    """Merge GET and POST like PHP's $_REQUEST, but refuse a name present in both with different values."""
    merged = dict(query)
    for name, value in body.items():
        if name in merged and merged[name] != value:
            raise FormError(f"parameter {name!r} differs between the query string and the body", name)
        merged[name] = value
    return merged


def flatten(params: Params) -> list[tuple[str, str]]:
    """The inverse of parse: PHP http_build_query pairs (`a[]`, `a[b]`) for an upstream request body."""
    out: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}[{k}]", v)
        elif isinstance(value, list | tuple):
            # `a[]` for items that are one pair; an explicit index for an item that spans several pairs
            # (`a[0][x]=1&a[0][y]=2`), because `a[][x]=1&a[][y]=2` would give PHP two items.
            index = 0
            for v in value:
                start = len(out)
                walk(f"{prefix}[]", v)
                added = len(out) - start
                if added > 1:
                    del out[start:]
                    walk(f"{prefix}[{index}]", v)
                if added:
                    index += 1
        elif value is None:
            return
        elif isinstance(value, bool):
            out.append((prefix, "1" if value else "0"))
        else:
            out.append((prefix, str(value)))

    for name, value in params.items():
        walk(name, value)
    return out

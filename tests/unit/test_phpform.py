"""gateway.phpform: PHP's reading of request parameters, with every ambiguity refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import phpform
from gateway.phpform import FormError, flatten, merge, parse_pairs, parse_urlencoded, split_key
from gateway.sim import xm_params

# --- nesting -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a=1&b=2", {"a": "1", "b": "2"}),
        ("a[]=1&a[]=2", {"a": ["1", "2"]}),
        ("a[b]=1&a[c]=2", {"a": {"b": "1", "c": "2"}}),
        ("a[b][]=1&a[b][]=2&a[c]=3", {"a": {"b": ["1", "2"], "c": "3"}}),
        ("a[][x]=1&a[][x]=2", {"a": [{"x": "1"}, {"x": "2"}]}),
        ("a[][]=1&a[][]=2", {"a": [["1"], ["2"]]}),
        ("search[value]=joe&start=0", {"search": {"value": "joe"}, "start": "0"}),
        ("a[b][c][d]=deep", {"a": {"b": {"c": {"d": "deep"}}}}),
        ("a[b[c]=1", {"a": {"b[c": "1"}}),  # the index ends at the first ']'
        ("a[b]c=1", {"a": {"b": "1"}}),  # PHP drops what follows the last well-formed segment
        ("a[b][c=1", {"a": {"b": "1"}}),  # ... including a trailing unmatched segment
        ("a[ ]=1&a[ ]=2", {"a": ["1", "2"]}),  # PHP skips one blank after '[': an append
        ("a[%09]=1", {"a": ["1"]}),
        ("a[ x]=1", {"a": {" x": "1"}}),  # ... but only when ']' follows it
        ("a[0]=x&a[1]=y", {"a": {"0": "x", "1": "y"}}),  # explicit indices stay keys; fields.* read them as lists
        ("", {}),
        ("&&a=1&&", {"a": "1"}),
        ("a", {"a": ""}),
        ("a=&b=", {"a": "", "b": ""}),
        ("a=1=2", {"a": "1=2"}),
    ],
)
def test_nesting(raw: str, expected: dict[str, Any]) -> None:
    assert parse_urlencoded(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a.b=1", {"a_b": "1"}),
        ("a b=1", {"a_b": "1"}),
        ("a+b=1", {"a_b": "1"}),  # '+' is a space, and a space becomes '_'
        ("a%20b=1", {"a_b": "1"}),
        ("  a=1", {"a": "1"}),  # leading blanks are dropped, not mangled
        ("a[b=1", {"a_b": "1"}),  # an unmatched '[' becomes '_'
        ("a.b[c=1", {"a_b_c": "1"}),
        ("a[b.c d=1", {"a_b_c_d": "1"}),  # PHP 8 mangles the rest of an unmatched name too
        ("a.b[c.d]=1", {"a_b": {"c.d": "1"}}),  # only the base of a well-formed name is mangled
        ("[a]=1&b=2", {"b": "2"}),  # an empty base name: PHP drops the pair
        ("[=1", {}),
        ("%5Ba%5D=1", {}),
        ("a%5Bb%5D=1", {"a": {"b": "1"}}),  # brackets may be percent-encoded
    ],
)
def test_name_mangling(raw: str, expected: dict[str, Any]) -> None:
    assert parse_urlencoded(raw) == expected


def test_split_key() -> None:
    assert split_key("a.b[c][]") == phpform._Key(base="a_b", path=("c", None))
    assert split_key("[x]").base == ""


# --- decoding ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("q=a+b", {"q": "a b"}),
        ("q=a%2Bb", {"q": "a+b"}),
        ("q=%26%3D%25", {"q": "&=%"}),
        ("q=%zz%2", {"q": "%zz%2"}),  # invalid escapes are kept verbatim, as PHP does
        ("q=%C3%A9t%C3%A9", {"q": "été"}),
        ("q=%E2%82%AC", {"q": "€"}),
        ("q=€", {"q": "€"}),  # a str is read as the text it shows
        ("q=%5B1%2C2%5D", {"q": "[1,2]"}),
    ],
)
def test_decoding(raw: str, expected: dict[str, Any]) -> None:
    assert parse_urlencoded(raw) == expected


def test_bytes_and_str_agree() -> None:
    raw = "a[b][]=%C3%A9&c=d+e"
    assert parse_urlencoded(raw) == parse_urlencoded(raw.encode()) == {"a": {"b": ["é"]}, "c": "d e"}


@pytest.mark.parametrize(
    "raw",
    [b"q=%FF", b"q=\xff", b"q=%C3", b"%FF=1", b"q=%ED%A0%80", b"q=a%00b", b"a%00b=1", b"a[%00]=1"],
)
def test_invalid_utf8_and_nul_refused(raw: bytes) -> None:
    with pytest.raises(FormError):
        parse_urlencoded(raw)


def test_str_with_lone_surrogate_refused() -> None:
    with pytest.raises(FormError):
        parse_urlencoded("q=\ud800")


# --- ambiguity ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        ("action=a&action=b", "action"),
        ("id=1&id=1", "id"),  # even identical duplicates: refusing is simpler than deciding which is meant
        ("action=get_lines&action[]=x", "action"),
        ("a[b]=1&a[b]=2", "a"),
        ("a[b]=1&a[b]=1", "a"),
        ("a=1&a[]=2", "a"),  # a value, then an array
        ("a[]=2&a=1", "a"),  # an array, then a value
        ("a[b]=1&a[b][c]=2", "a"),
        ("a[b][c]=2&a[b]=1", "a"),
        ("a[]=1&a[x]=2", "a"),  # a list, then named keys
        ("a[x]=1&a[]=2", "a"),
        ("a[x][]=1&a[x][y]=2", "a"),
        ("a.b=1&a_b=2", "a_b"),  # mangling can make two names one
        ("a b=1&a.b=2", "a_b"),
    ],
)
def test_ambiguity_refused(raw: str, param: str) -> None:
    with pytest.raises(FormError) as info:
        parse_urlencoded(raw)
    assert info.value.param == param


def test_action_array_is_a_list_not_a_string() -> None:
    # The parser reports the shape; the dialect then refuses a non-string action.
    assert parse_urlencoded("action[]=x") == {"action": ["x"]}
    assert parse_urlencoded("action[x]=y") == {"action": {"x": "y"}}


# --- limits ------------------------------------------------------------------------------------------------


def test_depth_limit() -> None:
    ok = "a" + "[x]" * phpform.MAX_DEPTH + "=1"
    assert parse_urlencoded(ok)["a"]
    with pytest.raises(FormError):
        parse_urlencoded("a" + "[x]" * (phpform.MAX_DEPTH + 1) + "=1")
    with pytest.raises(FormError):
        parse_urlencoded("a" + "[]" * (phpform.MAX_DEPTH + 1) + "=1")


def test_depth_limit_is_cheap_for_a_huge_name() -> None:
    # A body-sized name of `[][][]...` must be refused without walking all of it (it used to be quadratic).
    raw = b"a" + b"[]" * 500_000 + b"=1"
    started = time.perf_counter()
    with pytest.raises(FormError):
        parse_urlencoded(raw)
    assert time.perf_counter() - started < 1.0


def test_count_limit() -> None:
    at_limit = "&".join(f"p{i}=1" for i in range(phpform.MAX_PARAMS))
    assert len(parse_urlencoded(at_limit)) == phpform.MAX_PARAMS
    with pytest.raises(FormError):
        parse_urlencoded(at_limit + "&extra=1")
    with pytest.raises(FormError):
        parse_pairs([("a[]", "1")] * (phpform.MAX_PARAMS + 1))


# --- merge -------------------------------------------------------------------------------------------------


def test_merge_accepts_agreement_and_union() -> None:
    query = parse_urlencoded("api_key=k&action=get_lines&a[]=1")
    body = parse_urlencoded("action=get_lines&a[]=1&limit=5")
    assert merge(query, body) == {"api_key": "k", "action": "get_lines", "a": ["1"], "limit": "5"}
    assert merge({}, body) == body
    assert merge(query, {}) == query


@pytest.mark.parametrize(
    ("query", "body", "param"),
    [
        ("action=get_lines", "action=delete_line", "action"),
        ("action=get_lines", "action[]=get_lines", "action"),
        ("a[x]=1", "a[y]=2", "a"),  # PHP's $_REQUEST would replace, not merge: refuse instead
        ("a[]=1", "a[]=1&a[]=2", "a"),
        ("id=1", "id=01", "id"),
    ],
)
def test_merge_refuses_disagreement(query: str, body: str, param: str) -> None:
    with pytest.raises(FormError) as info:
        merge(parse_urlencoded(query), parse_urlencoded(body))
    assert info.value.param == param


def test_merge_does_not_modify_its_inputs() -> None:
    query = {"a": "1"}
    body = {"b": "2"}
    merge(query, body)
    assert query == {"a": "1"}
    assert body == {"b": "2"}


# --- flatten -----------------------------------------------------------------------------------------------

ROUND_TRIP_SHAPES: list[dict[str, Any]] = [
    {},
    {"a": "1"},
    {"a": ""},
    {"api_key": "k", "action": "create_line", "username": "joe & co", "note": "a+b=c%d é"},
    {"allowed_ips": ["1.2.3.4", "5.6.7.8"]},
    {"search": {"value": "x y"}},
    {"a": {"b": ["1", "2"], "c": {"d": "3"}}},
    {"a": [{"x": "1"}, {"x": "2"}]},
    {"a": [["1"], ["2"]]},
    {"a": {"b[c": "1"}},
    {"a": {"0": "x", "1": "y"}},
]


@pytest.mark.parametrize("params", ROUND_TRIP_SHAPES)
def test_flatten_is_the_inverse_of_parse(params: dict[str, Any]) -> None:
    encoded = urlencode(flatten(params))
    assert parse_urlencoded(encoded) == params
    assert flatten(parse_urlencoded(encoded)) == flatten(params)


@pytest.mark.parametrize("raw", ["a[][x]=1&a[][y]=2&b=3", "x[a][]=1&x[a][]=2&x[b]=%26", "u[]=&v="])
def test_parse_then_flatten_then_parse(raw: str) -> None:
    parsed = parse_urlencoded(raw)
    assert parse_urlencoded(urlencode(flatten(parsed))) == parsed


def _php_listify(value: Any) -> Any:
    """PHP's own view: an array with keys 0..n-1 is a list (what json_encode prints as [...])."""
    if isinstance(value, dict):
        out = {k: _php_listify(v) for k, v in value.items()}
        return list(out.values()) if list(out) == [str(i) for i in range(len(out))] else out
    if isinstance(value, list):
        return [_php_listify(v) for v in value]
    return value


@pytest.mark.parametrize(
    "params",
    [
        *ROUND_TRIP_SHAPES,
        {"a": [{"x": "1", "y": "2"}, {"x": "3", "y": "4"}]},  # items spanning several pairs need an index
        {"a": ["s", {"x": "1", "y": "2"}, {"z": "3"}]},
        {"a": [["1", "2"], ["3"]]},
        {"a": [None, {"x": "1", "y": "2"}]},
    ],
)
def test_flatten_is_read_back_the_same_by_php(params: dict[str, Any]) -> None:
    # gateway.sim.xm_params models PHP's own parse_str independently of the gateway's parser.
    pairs = flatten(params)
    php = xm_params.parse_pairs(pairs)
    assert php == {k: _php_listify(v) for k, v in _without_none(params).items()}


def _without_none(value: Any) -> Any:
    """flatten() skips None: what PHP reads back has no trace of it."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value if v is not None]
    return value


def test_flatten_values() -> None:
    assert flatten({"n": 5, "t": True, "f": False, "none": None, "tup": ("a", "b")}) == [
        ("n", "5"),
        ("t", "1"),
        ("f", "0"),
        ("tup[]", "a"),
        ("tup[]", "b"),
    ]


# --- against PHP itself ------------------------------------------------------------------------------------

PHP = shutil.which("php")

# Inputs the gateway accepts; for each it must read exactly what PHP reads.
PHP_TABLE = [
    "a=1&b=2",
    "a.b=1",
    "a b=1",
    "+a=1",
    "a[b=1",
    "a.b[c=1",
    "a[b.c d=1",
    "a.b[c.d]=1",
    "[a]=1&b=2",
    "a[b[c]=1",
    "a[b]c=1",
    "a[b][c=1",
    "a[]=1&a[]=2",
    "a[ ]=1&a[ ]=2",
    "a[%09]=1",
    "a[ x]=1",
    "a[][x]=1&a[][x]=2",
    "a[x][]=1&a[x][]=2&a[y]=3",
    "a[0]=x&a[1]=y",
    "a%5Bb%5D=1",
    "q=a+b%2Bc",
    "q=%zz%2",
    "q=%C3%A9",
    "&&a=1&&",
    "a",
    "a=1=2",
    "search[value]=x&show_columns=id,username",
]


def _php_parse_str(raw: str) -> Any:
    assert PHP is not None
    proc = subprocess.run(
        [PHP, "-r", "parse_str(stream_get_contents(STDIN), $o); echo json_encode($o);"],
        input=raw.encode(),
        capture_output=True,
        check=True,
        timeout=30,
    )
    return json.loads(proc.stdout)


@pytest.mark.skipif(
    PHP is None,
    reason="php-cli is not installed (apt-cache policy php-cli: installable as 2:8.2+93 on bookworm); "
    "gateway.sim.xm_params stands in for PHP in test_flatten_is_read_back_the_same_by_php",
)
@pytest.mark.parametrize("raw", PHP_TABLE)
def test_matches_php_parse_str(raw: str) -> None:
    ours = {k: _php_listify(v) for k, v in parse_urlencoded(raw).items()}
    theirs = _php_parse_str(raw)
    assert ours == (theirs or {})


# --- the plain fast paths read what the general path reads ---------------------------------------------------


def _general(raw: bytes) -> Any:
    """parse_urlencoded through `_decode` and `split_key` for every pair: the reading before the fast paths
    (every pair decoded first, then assigned)."""
    out: dict[str, Any] = {}
    try:
        pairs = []
        for chunk in raw.split(b"&"):
            if chunk:
                name, _, value = chunk.partition(b"=")
                key = phpform._decode(name, "a parameter name")
                pairs.append((key, phpform._decode(value, f"parameter {key!r}")))
        for key, text in pairs:
            split = split_key(key) if key.lstrip(" ") else None
            if split is not None and split.base:
                phpform._assign(out, split, text, key)
    except FormError as exc:
        return ("refused", str(exc), exc.param)
    return out


def _fast(raw: bytes) -> Any:
    try:
        return parse_urlencoded(raw)
    except FormError as exc:
        return ("refused", str(exc), exc.param)


_PIECES = st.sampled_from(["a", "b", "id", "x-1", "_", "0", "=", "&", "&", "[", "]", "[]", " ", ".", "+", "%",
                           "%41", "%5B", "%00", "\x00", "é", "\xff", "%zz", "\t"])  # fmt: skip


@given(st.lists(_PIECES, max_size=14).map("".join))
@settings(max_examples=3000, deadline=None, database=None, derandomize=True)
def test_fast_paths_read_as_the_general_path(text: str) -> None:
    raw = text.encode("utf-8", "surrogateescape").replace("\xff".encode(), b"\xff")
    assert _fast(raw) == _general(raw)


@pytest.mark.parametrize("raw", [b"a=1&a=2", b"a[]=1&a=2", b"a=1&a[]=2", b"a=1&a%5B%5D=2", b"id=5&id=5"])
def test_plain_duplicates_refused_like_any_other(raw: bytes) -> None:
    assert _fast(raw) == _general(raw)
    assert _fast(raw)[0] == "refused"

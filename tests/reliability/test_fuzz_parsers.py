"""Property-based fuzzing (hypothesis) of every dialect's request parsing through the real app, and of the config
loader.

Requests: never a 500 or an unhandled exception, always an answer in the client's own dialect, and a request the
gateway refused (its audit entry has a refusal reason) never reached a panel (the panels remember the
X-Request-Id of every request they saw). Config: only ConfigError, never another exception.
"""

from __future__ import annotations

import contextlib
import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.catalogue import catalogue
from gateway.config import Config, ConfigError, load_config, parse_config
from gateway.dialects.midnight import vocabulary as midnight
from gateway.dialects.xtream_codes_v2 import vocabulary as xtream_codes_v2
from gateway.keys import digest_of
from tests.conftest import ACCESS_CODE, REPO
from tests.reliability.conftest import KEYS
from tests.reliability.threaded import Answer, ThreadedStack

FUZZ = settings(max_examples=120, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip


@pytest.fixture(scope="module")
def threaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedStack]:
    stack = ThreadedStack(tmp_path_factory.mktemp("fuzz")).start()
    try:
        yield stack
    finally:
        stack.stop()


# --- strategies ---------------------------------------------------------------------------------------------

TEXT = st.text(max_size=24)
NASTY = st.sampled_from(["", "0", "-1", "1e9", "99999999999", "[1,2", "[[[[[[[[[[", "null", "%00", "\x00", "a[b]",
                         "00:1A:79:00:00:01", "2030-13-45", "' OR 1=1 --", "\u202e", "\ud7ff",
                         "\uff11\uff12"])  # fmt: skip
VALUE = st.one_of(TEXT, NASTY)
XM_ACTIONS = sorted(op.xm_action for op in catalogue().operations.values() if op.xm_action)
XM_NAMES = ["id", "username", "password", "exp_date", "bouquets_selected", "max_connections", "is_trial",
            "is_restreamer", "limit", "start", "filter", "mac", "member_id", "credits", "allowed_ips[]",
            "search[value]", "show_columns", "hide_columns", "server_id", "id[]", "a[b][c]", "[x]", "a.b c",
            "x[][][][][][][][][][]", "action[]", "package", "enabled"]  # fmt: skip
XC_PAIRS = sorted(xtream_codes_v2.ACTIONS)
XC_NAMES = ["username", "password", "mac", "stream_ids[]", "stream_ids", "servers[]", "amount", "id",
            "user_data[username]", "user_data[password]", "user_data[exp_date]", "user_data[bouquet]",
            "user_data[max_connections]", "user_data[mac]", "user_data", "user_data[a][b]", "sub[]"]  # fmt: skip
MS_ENDPOINTS = sorted(midnight.ENDPOINTS)
MS_NAMES = ["username", "id", "mac_address", "credits", "data[username]", "data[password]", "data[name]",
            "data[expire_date]", "data[max_allowed_connections]", "data[credits]", "data", "data[x][y]",
            "data[mac_address]", "data[restreamer]", "data[banned]"]  # fmt: skip


def names(known: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(known), TEXT)


def pairs(known: list[str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    return st.lists(st.tuples(names(known), VALUE), max_size=8)


KEY = st.sampled_from(["valid", "valid", "valid", "wrong", "none"])


def encode(items: list[tuple[str, str]]) -> bytes:
    return "&".join(f"{quote(k, safe='[]')}={quote(v, safe='')}" for k, v in items).encode()


@st.composite
def bodies(draw: st.DrawFn, items: list[tuple[str, str]]) -> tuple[bytes, str]:
    """The form as PHP would send it, or something else in its place: raw bytes, JSON, multipart."""
    kind = draw(st.sampled_from(["form", "form", "form", "raw", "json", "multipart", "latin1"]))
    if kind == "raw":
        return draw(st.binary(max_size=200)), "application/x-www-form-urlencoded"
    if kind == "json":
        return json.dumps(dict(items)).encode(), "application/json"
    if kind == "latin1":
        return encode(items), "application/x-www-form-urlencoded; charset=iso-8859-1"
    if kind == "multipart":
        boundary = "fuzzb0undary"
        parts = b"".join(
            b"--" + boundary.encode() + b'\r\nContent-Disposition: form-data; name="' + k.encode("utf-8", "replace")
            + b'"\r\n\r\n' + v.encode("utf-8", "replace") + b"\r\n" for k, v in items
        ) + b"--" + boundary.encode() + b"--\r\n"  # fmt: skip
        return parts, f"multipart/form-data; boundary={boundary}"
    return encode(items), "application/x-www-form-urlencoded"


def with_key(items: list[tuple[str, str]], key: str, dialect: str) -> list[tuple[str, str]]:
    if key == "none":
        return items
    return [*items, ("api_key", KEYS[dialect] if key == "valid" else "pg_wrong_key_" + dialect)]


def send(threaded: ThreadedStack, method: str, path: str, query: list[tuple[str, str]],
         body: list[tuple[str, str]], data: st.DataObject) -> tuple[Answer, str]:  # fmt: skip
    request_id = uuid.uuid4().hex
    target = path + ("?" + encode(query).decode() if query else "")
    if method == "GET":
        return threaded.http("GET", target, request_id=request_id), request_id
    raw, ctype = data.draw(bodies(body))
    return threaded.http("POST", target, raw, {"Content-Type": ctype}, request_id=request_id), request_id


def check_common(threaded: ThreadedStack, answer: Answer, request_id: str) -> None:
    assert answer.status != 500, answer
    assert b"internal gateway error" not in answer.body, answer
    entry = threaded.audit().get(request_id)
    if entry is not None and entry["reason"]:
        assert not threaded.reached_panel(request_id), f"refused ({entry['reason']}) but sent upstream: {entry}"


@FUZZ
@given(data=st.data(), action=st.one_of(st.sampled_from(XM_ACTIONS), TEXT), params=pairs(XM_NAMES), key=KEY,
       method=st.sampled_from(["GET", "POST"]), split=st.booleans())  # fmt: skip
def test_fuzz_xtream_masters_face(threaded: ThreadedStack, data: st.DataObject, action: str,
                                  params: list[tuple[str, str]], key: str, method: str,
                                  split: bool) -> None:  # fmt: skip
    items = with_key([("action", action), *params], key, "xm")
    query, body = (items[:1], items[1:]) if split else ([], items)
    answer, request_id = send(threaded, method, f"/{ACCESS_CODE}/admin/index.php",
                              items if method == "GET" else query, body, data)  # fmt: skip
    check_common(threaded, answer, request_id)
    assert answer.status == 200, answer
    doc = answer.json()
    assert isinstance(doc, list) or (isinstance(doc, dict) and str(doc.get("status", "")).startswith("STATUS_")), doc


@FUZZ
@given(data=st.data(), pair=st.one_of(st.sampled_from(XC_PAIRS), st.tuples(TEXT, TEXT)), params=pairs(XC_NAMES),
       key=KEY, method=st.sampled_from(["GET", "POST"]))  # fmt: skip
def test_fuzz_xtream_codes_v2_face(threaded: ThreadedStack, data: st.DataObject, pair: tuple[str, str],
                                   params: list[tuple[str, str]], key: str, method: str) -> None:  # fmt: skip
    query = [("action", pair[0]), ("sub", pair[1])]
    body = with_key(params, key, "xc")
    answer, request_id = send(threaded, method, "/api.php", query + body if method == "GET" else query, body, data)
    check_common(threaded, answer, request_id)
    assert answer.status == 200, answer
    if not answer.body:  # XC v2 answers an unknown action with an empty page
        return
    doc = answer.json()
    if pair in (("server", "list"), ("reg_user", "list"), ("stream", "online"), ("stream", "offline")):
        assert isinstance(doc, list | dict), doc  # the panel's own list or map, passed through
    else:
        assert isinstance(doc, dict) and "result" in doc, doc


@FUZZ
@given(data=st.data(), endpoint=st.one_of(st.sampled_from(MS_ENDPOINTS), st.tuples(TEXT, TEXT)),
       params=pairs(MS_NAMES), key=KEY, in_path=st.booleans())  # fmt: skip
def test_fuzz_midnight_face(threaded: ThreadedStack, data: st.DataObject, endpoint: tuple[str, str],
                            params: list[tuple[str, str]], key: str, in_path: bool) -> None:  # fmt: skip
    group, verb = (quote(part, safe="") or "x" for part in endpoint)
    braces = any(c in "".join(endpoint) for c in "{}")
    path = f"/api/{group}/{verb}"
    if in_path and key == "valid":
        path, body = f"{path}/{KEYS['ms']}", params
    else:
        body = with_key(params, key, "ms")
    answer, request_id = send(threaded, "POST", path, [], body, data)
    check_common(threaded, answer, request_id)
    if answer.status == 404:  # an unknown endpoint: CodeIgniter's 404 page, as the panel answers
        if not braces:
            assert b"404 Page Not Found" in answer.body, answer
        # else: aiohttp's router matches no `{`/`}` in a segment, and answers its own plain 404 page
        assert not threaded.reached_panel(request_id)
        return
    assert answer.status == 200, answer
    doc = answer.json()
    assert isinstance(doc, dict) and "result" in doc, doc


# --- the config loader --------------------------------------------------------------------------------------

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=True), TEXT,
                    st.sampled_from(["${HOME}", "${NOPE}", "${X:-1}", "http://", "redis://", "sha256:", "0.0.0.0/0",
                                     "xtream_masters", "midnight", "admin", "-1", "1e400"]))  # fmt: skip
DOCS = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(TEXT, st.integers(-5, 5), st.booleans(), st.none()), inner, max_size=4),
), max_leaves=12)  # fmt: skip


def valid_config(policies: Path) -> dict[str, Any]:
    return {
        "listen": {"host": "127.0.0.1", "port": 8080},
        "policies_dir": str(policies),
        "upstreams": {
            "main": {"dialect": "xtream_masters", "url": "http://panel:8000", "access_code": "abc", "api_key": "k"},
            "old": {"dialect": "xtream_codes_v2", "url": "http://old:25461", "api_pass": "p"},
            "ms": {"dialect": "midnight", "url": "http://ms", "api_key": "k2", "timeout": 3},
        },
        "pools": {"both": ["main"]},
        "access_codes": {"abc": "main"},
        "keys": [{"id": "a", "digest": digest_of("x"), "policy": "admin", "upstream": ["both", "old"],
                  "allowed_ips": ["10.0.0.0/8"], "rate": {"per_second": 5, "burst": 10}, "reseller_id": 3}],
        "cache": {"backend": "memory", "ttl": {"default": 30, "line.*": 5}},
        "redis": {"url": "redis+sentinel://:pw@s1:26379,s2/mymaster/1", "timeout": 0.25, "prefixes": {"cache": "c:"}},
        "health": {"interval": 5, "failures": 3, "cooldown": 2},
        "client_side": {"blocked_ips": ["1.2.3.4"], "max_streams_per_line": 2},
        "auth_throttle": {"per_minute": 10, "burst": 10},
    }  # fmt: skip


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += paths(v, (*prefix, i))
    return out


# Known bugs of gateway/config.py (not this suite's file), each pinned by a strict xfail test below: a YAML
# mapping with keys of mixed types, or a list where a pool member or access-code target is expected, raises
# TypeError instead of ConfigError. The fuzz tests tolerate exactly these and nothing else.
KNOWN_CONFIG_BUGS = ("'<' not supported between instances of", "unhashable type")


def only_config_errors(data: Any, base: Path) -> Config | None:
    try:
        return parse_config(data, base_dir=base, env={"X": "1"})
    except ConfigError:
        return None
    except TypeError as exc:
        if not str(exc).startswith(KNOWN_CONFIG_BUGS):
            raise
        return None


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import shutil

    target = tmp_path_factory.mktemp("cfg") / "policies"
    shutil.copytree(REPO / "policies", target)
    return target


CONFIG_FUZZ = settings(FUZZ, max_examples=40)  # each example reads the policy files


@CONFIG_FUZZ
@given(doc=DOCS)
def test_fuzz_config_documents(policies: Path, doc: Any) -> None:
    only_config_errors(doc, policies.parent)


@CONFIG_FUZZ
@given(data=st.data())
def test_fuzz_config_mutations(policies: Path, data: st.DataObject) -> None:
    """A valid config with one value (anywhere) replaced by anything: still only ConfigError."""
    doc = valid_config(policies)
    assert only_config_errors(copy.deepcopy(doc), policies.parent) is not None
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths(doc)[1:]))
        node: Any = doc
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = data.draw(DOCS)
    only_config_errors(doc, policies.parent)


@FUZZ
@given(text=st.one_of(TEXT, st.text(alphabet=":-{}[]#&*!|>'\"%@` \n\tab1", max_size=60)))
def test_fuzz_config_files(policies: Path, text: str) -> None:
    path = policies.parent / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    with contextlib.suppress(ConfigError):
        load_config(path, env={})


def test_a_yaml_bomb_is_refused_not_expanded(policies: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    assert yaml.safe_load(bomb) is not None  # aliases share objects: loading is cheap; the keys are unknown
    path = policies.parent / "bomb.yaml"
    path.write_text(bomb)
    with pytest.raises(ConfigError):
        load_config(path, env={})


def test_config_with_mixed_key_types_is_a_config_error(policies: Path) -> None:
    doc: dict[Any, Any] = {**valid_config(policies), 1: "x", "typo": "y"}
    with pytest.raises(ConfigError):
        parse_config(doc, base_dir=policies.parent, env={})


def test_config_with_a_list_as_pool_member_is_a_config_error(policies: Path) -> None:
    doc = {**valid_config(policies), "pools": {"both": [["main"]]}}
    with pytest.raises(ConfigError):
        parse_config(doc, base_dir=policies.parent, env={})


def test_config_with_a_list_as_access_code_target_is_a_config_error(policies: Path) -> None:
    doc = {**valid_config(policies), "access_codes": {"abc": ["main"]}}
    with pytest.raises(ConfigError):
        parse_config(doc, base_dir=policies.parent, env={})


def test_found_by_fuzzing_a_control_character_in_a_parameter_name(threaded: ThreadedStack) -> None:
    """Was an internal error: aiohttp's FormData refused to encode the name toward the panel. No action takes such
    a parameter, so it is now refused by name before anything is sent."""
    answer = threaded.http("POST", f"/{ACCESS_CODE}/admin/index.php", f"api_key={KEYS['xm']}&action=get_lines"
                           "&%1F=1".encode(), {"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    body = answer.json()
    assert body["status"] == "STATUS_INVALID_INPUT" and "is not a parameter of get_lines" in body["error"], answer


def test_found_by_fuzzing_a_bad_multipart_part_header(threaded: ThreadedStack) -> None:
    """Was an internal error: aiohttp's InvalidHeader from a part header is not a ValueError."""
    body = (b'--b\r\nContent-Disposition: form-data; name="\x19\xf1"\r\n\r\nx\r\n--b--\r\n')
    answer = threaded.http("POST", "/api.php?action=server&sub=list", body,
                           {"Content-Type": "multipart/form-data; boundary=b"})  # fmt: skip
    assert answer.json() == {"result": False, "error": "PARAMETER ERROR",
                             "message": "malformed request body: InvalidHeader"}  # fmt: skip

"""Golden files for the MidnightStreamer translator (gateway/dialects/midnight.py, pure functions).

Every tests/golden/midnight/<case>.json is one case, a JSON document
``{"description": ..., "kind": ..., "input": {...}, "expected": {...}}`` of one of three kinds:

- ``request``: ``input`` is ``{"method", "endpoint", "url_key"?, "query", "body", "api_key_header"?}``; the
  endpoint is ``group/verb`` of ``/api/{group}/{verb}[/{url_key}]``; query and body are urlencoded strings, read
  with gateway.phpform.parse_urlencoded into a RawRequest. ``expected`` holds ``credentials`` and either ``call``
  (what parse() returns) and ``upstream`` (what encode() builds against the UPSTREAM below), or ``refused`` (the
  Failure parse()/credentials() raised) and ``render`` (what the client gets back).
- ``response``: ``input`` is ``{"action", "status", "body"}`` (action: a ``group/verb`` endpoint), a panel answer
  as text; ``expected`` holds ``outcome`` (what decode() returns) and ``render`` (that outcome rendered).
- ``render``: ``input`` is ``{"action", "outcome"}``, a canonical outcome; ``expected`` holds ``render``.

To regenerate the expected parts after a deliberate change to the translator, run

    PANELGATE_UPDATE_GOLDEN=1 python -m pytest tests/unit/test_golden_midnight.py

then read the diff of tests/golden/ before committing it: the golden files are the review. To add a case, write
a file with ``description``, ``kind`` and ``input`` only and run the same command.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from gateway.catalogue import Operation, catalogue
from gateway.config import Upstream
from gateway.dialects.base import RawRequest, Rendered
from gateway.dialects.midnight import codec as ms
from gateway.model import Code, Failure, Outcome, Refused, Result
from gateway.phpform import parse_urlencoded

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "midnight"
UPDATE = os.environ.get("PANELGATE_UPDATE_GOLDEN") == "1"
CASES = sorted(GOLDEN.glob("*.json"))

CLIENT_KEY = "pg_CLIENT-KEY-never-upstream"
UPSTREAM_SECRET = "UPSTREAM-SECRET"
UPSTREAM = Upstream(name="main", dialect="midnight", url="http://panel.test:8000", api_key=UPSTREAM_SECRET)


# --- running one case --------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """JSON's view of a value (tuples become lists), so it compares equal to what a golden file holds."""
    return json.loads(json.dumps(value, default=str))


def _op(action: str | None) -> Operation | None:
    if action is None:
        return None
    entry = ms.ENDPOINTS.get((action.split("/", 1)[0], action.split("/", 1)[-1]))
    assert entry is not None, f"no MidnightStreamer endpoint {action!r}"
    return catalogue().operations[entry[0]]


def _failure(f: Failure) -> dict[str, Any]:
    return {"code": f.code.value, "message": f.message, "echo": f.echo, "reason": f.reason}


def _outcome(o: Outcome) -> dict[str, Any]:
    if isinstance(o, Result):
        return {"result": {"data": o.data, "total": o.total, "filtered": o.filtered, "extra": o.extra}}
    return {"failure": _failure(o)}


def _from_outcome(doc: dict[str, Any]) -> Outcome:
    if "result" in doc:
        r = doc["result"]
        return Result(data=r.get("data"), total=r.get("total"), filtered=r.get("filtered"), extra=r.get("extra", {}))
    f = doc["failure"]
    return Failure(Code(f["code"]), f.get("message", ""), echo=f.get("echo"), reason=f.get("reason", ""))


def _rendered(r: Rendered) -> dict[str, Any]:
    text = r.body.decode("utf-8")
    try:
        body = json.loads(text)
    except ValueError:
        body = text
    return {"status": r.status, "content_type": r.content_type, "body": body}


def _request(inp: dict[str, Any]) -> RawRequest:
    group, _, verb = inp["endpoint"].partition("/")
    match = {"group": group, "verb": verb}
    if inp.get("url_key"):
        match["key"] = inp["url_key"]
    return RawRequest(
        method=inp.get("method", "POST"),
        path="/api/" + "/".join(match.values()),
        query=parse_urlencoded(inp.get("query", "")),
        body=parse_urlencoded(inp.get("body", "")),
        match=match,
        api_key_header=inp.get("api_key_header"),
    )


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    kind, inp = case["kind"], case["input"]
    out: dict[str, Any] = {}
    if kind == "request":
        request = _request(inp)
        try:
            out["credentials"] = _plain(dataclasses.asdict(ms.credentials(request)))
            call = ms.parse(request)
        except Refused as refused:
            out["refused"] = _plain(_failure(refused.failure))
            out["render"] = _rendered(ms.render(refused.failure, None, http_status_codes=False))
            return out
        call_doc = dataclasses.asdict(call)
        call_doc.pop("credentials", None)
        out["call"] = _plain(call_doc)
        op = _op(call.raw_action)
        assert op is not None and op.name == call.operation
        up = ms.encode(call, op, UPSTREAM)
        out["upstream"] = {
            "method": up.method,
            "path": up.path,
            "form": [list(pair) for pair in up.form],
            "secret_fields": sorted(up.secret_fields),
        }
    elif kind == "response":
        op = _op(inp["action"])
        assert op is not None
        outcome = ms.decode(op, inp["status"], inp["body"].encode("utf-8"))
        out["outcome"] = _plain(_outcome(outcome))
        out["render"] = _rendered(ms.render(outcome, op, http_status_codes=False))
    elif kind == "render":
        op = _op(inp.get("action"))
        out["render"] = _rendered(ms.render(_from_outcome(inp["outcome"]), op, http_status_codes=False))
    else:
        raise AssertionError(f"unknown case kind {kind!r}")
    return out


def _load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


# --- the golden comparison ---------------------------------------------------------------------------------


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden(path: Path) -> None:
    case = _load(path)
    actual = run_case(case)
    if UPDATE:
        case["expected"] = actual
        path.write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return
    assert "expected" in case, f"{path.name} has no expected part: run with PANELGATE_UPDATE_GOLDEN=1"
    assert actual == case["expected"], f"{path.name}: translator output differs from the golden file"


# --- properties every case must have, whatever the golden files say ----------------------------------------


def _case(name: str) -> dict[str, Any]:
    return _load(GOLDEN / f"{name}.json")


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_no_case_leaks_a_key(path: Path) -> None:
    actual = run_case(_load(path))
    if "upstream" in actual:
        form = actual["upstream"]["form"]
        assert form[0] == ["api_key", UPSTREAM_SECRET]
        assert [k for k, _ in form].count("api_key") == 1
        assert actual["upstream"]["secret_fields"] == ["api_key"]
        assert CLIENT_KEY not in json.dumps(actual["upstream"])
    if "render" in actual:
        shown = json.dumps(actual["render"])
        assert UPSTREAM_SECRET not in shown and CLIENT_KEY not in shown
    if "call" in actual:
        assert CLIENT_KEY not in json.dumps(actual["call"])


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_every_case_answers_in_ms_shapes(path: Path) -> None:
    actual = run_case(_load(path))
    if "render" in actual:
        render = actual["render"]
        if render["status"] == 404:
            assert "404 Page Not Found" in render["body"]
        else:
            assert render["status"] == 200 and render["content_type"] == "text/html"
            assert isinstance(render["body"], dict) and isinstance(render["body"]["result"], bool)
            if render["body"]["result"] is False:
                assert isinstance(render["body"]["error"], str) and render["body"]["error"]


def test_encode_round_trips_through_parse() -> None:
    """What the upstream face sends, read back by the client face, is the same canonical call."""
    for name in ("line_new_full", "resellers_update_by_username", "mag_update", "resellers_new_with_credits"):
        case = _case(name)
        call = ms.parse(_request(case["input"]))
        op = _op(call.raw_action)
        assert op is not None
        up = ms.encode(call, op, UPSTREAM)
        body = "&".join(f"{k}={v}" for k, v in up.form)
        again = ms.parse(_request({"endpoint": up.path.removeprefix("/api/"), "body": body}))
        assert again.operation == call.operation and again.target == call.target, name
        assert again.args == call.args, name


def test_data_fields_never_send_canonical_names() -> None:
    actual = run_case(_case("line_new_full"))
    names = [k for k, _ in actual["upstream"]["form"]]
    for canonical in ("max_connections", "is_restreamer", "exp_date", "member_id", "mac", "admin_enabled"):
        assert f"data[{canonical}]" not in names
    assert "data[expire_date]" in names and "data[reseller_id]" in names and "data[restreamer]" in names


def test_decode_invalid_api_key_is_never_an_auth_failure_for_the_client() -> None:
    actual = run_case(_case("decode_invalid_api_key"))
    assert actual["outcome"]["failure"]["code"] == "UPSTREAM_ERROR"
    assert actual["render"]["body"]["error"] != "Invalid API key."


def test_decode_deeply_nested_body_is_an_upstream_error() -> None:
    op = catalogue().operations["reseller.list"]
    outcome = ms.decode(op, 200, b"[" * 100_000)
    assert isinstance(outcome, Failure) and outcome.code is Code.UPSTREAM_ERROR

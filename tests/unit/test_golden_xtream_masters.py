"""Golden files for the Xtream-Masters translator (gateway/dialects/xtream_masters.py, pure functions).

Every tests/golden/xtream_masters/<case>.json is one case, a JSON document
``{"description": ..., "kind": ..., "input": {...}, "expected": {...}}`` of one of three kinds:

- ``request``: ``input`` is ``{"method", "query", "body", "api_key_header"?}``; query and body are urlencoded
  strings, read with gateway.phpform.parse_urlencoded into a RawRequest. ``expected`` holds ``credentials`` and
  either ``call`` (what parse() returns) and ``upstream`` (what encode() builds against the UPSTREAM below), or
  ``refused`` (the Failure parse()/credentials() raised) and ``render`` (what the client gets back).
- ``response``: ``input`` is ``{"action", "status", "body"}``, a panel answer as text; ``expected`` holds
  ``outcome`` (what decode() returns) and ``render`` (that outcome rendered to the client).
- ``render``: ``input`` is ``{"action", "outcome"}``, a canonical outcome; ``expected`` holds ``render``.

To regenerate the expected parts after a deliberate change to the translator, run

    PANELGATE_UPDATE_GOLDEN=1 python -m pytest tests/unit/test_golden_xtream_masters.py

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
from gateway.dialects.xtream_masters import codec as xm
from gateway.model import Code, Failure, Outcome, Refused, Result
from gateway.phpform import parse_urlencoded

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "xtream_masters"
UPDATE = os.environ.get("PANELGATE_UPDATE_GOLDEN") == "1"
CASES = sorted(GOLDEN.glob("*.json"))

ACCESS_CODE = "panelcode"
CLIENT_KEY = "pg_CLIENT-KEY-never-upstream"
UPSTREAM_SECRET = "UPSTREAM-SECRET"
UPSTREAM = Upstream(
    name="main",
    dialect="xtream_masters",
    url="http://panel.test:8000",
    access_code=ACCESS_CODE,
    api_key=UPSTREAM_SECRET,
)


# --- running one case --------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """JSON's view of a value (tuples become lists), so it compares equal to what a golden file holds."""
    return json.loads(json.dumps(value, default=str))


def _op(action: str | None) -> Operation | None:
    if action is None:
        return None
    op = catalogue().by_xm_action.get(action)
    assert op is not None, f"no catalogued operation for xm action {action!r}"
    return op


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
    body = json.loads(text) if r.content_type == "application/json" else text
    return {"status": r.status, "content_type": r.content_type, "body": body}


def _request(inp: dict[str, Any]) -> RawRequest:
    return RawRequest(
        method=inp.get("method", "POST"),
        path=f"/{ACCESS_CODE}/admin/index.php",
        query=parse_urlencoded(inp.get("query", "")),
        body=parse_urlencoded(inp.get("body", "")),
        match={"code": ACCESS_CODE},
        api_key_header=inp.get("api_key_header"),
    )


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    kind, inp = case["kind"], case["input"]
    out: dict[str, Any] = {}
    if kind == "request":
        request = _request(inp)
        try:
            out["credentials"] = _plain(dataclasses.asdict(xm.credentials(request)))
            call = xm.parse(request)
        except Refused as refused:
            out["refused"] = _plain(_failure(refused.failure))
            out["render"] = _rendered(xm.render(refused.failure, None, http_status_codes=False))
            return out
        call_doc = dataclasses.asdict(call)
        call_doc.pop("credentials", None)
        out["call"] = _plain(call_doc)
        op = _op(call.raw_action)
        assert op is not None
        up = xm.encode(call, op, UPSTREAM)
        out["upstream"] = {
            "method": up.method,
            "path": up.path,
            "form": [list(pair) for pair in up.form],
            "secret_fields": sorted(up.secret_fields),
        }
    elif kind == "response":
        op = _op(inp["action"])
        assert op is not None
        outcome = xm.decode(op, inp["status"], inp["body"].encode("utf-8"))
        out["outcome"] = _plain(_outcome(outcome))
        out["render"] = _rendered(xm.render(outcome, op, http_status_codes=False))
    elif kind == "render":
        op = _op(inp.get("action"))
        out["render"] = _rendered(xm.render(_from_outcome(inp["outcome"]), op, http_status_codes=False))
    else:
        raise AssertionError(f"unknown case kind {kind!r}")
    return out


def _load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


# --- the golden comparison ---------------------------------------------------------------------------------


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 15


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
    case = _load(path)
    actual = run_case(case)
    if "upstream" in actual:
        form = actual["upstream"]["form"]
        assert form[0] == ["api_key", UPSTREAM_SECRET]
        assert [k for k, _ in form].count("api_key") == 1
        assert "api_key" in actual["upstream"]["secret_fields"]
        assert CLIENT_KEY not in json.dumps(form)
    # Nothing the client gets back carries either key: the panel's echo includes the upstream's key.
    if "render" in actual:
        shown = json.dumps(actual["render"])
        assert UPSTREAM_SECRET not in shown
        assert CLIENT_KEY not in shown
    if "call" in actual:
        assert CLIENT_KEY not in json.dumps(actual["call"])


def test_encoded_form_carries_the_upstream_key_not_the_clients() -> None:
    request = _request({"query": f"api_key={CLIENT_KEY}&action=get_line", "body": f"id=5&api_key={CLIENT_KEY}"})
    assert xm.credentials(request).api_key == CLIENT_KEY
    call = xm.parse(request)
    assert "api_key" not in call.args
    op = catalogue().by_xm_action["get_line"]
    other = dataclasses.replace(UPSTREAM, api_key="ANOTHER-UPSTREAM-SECRET", access_code="othercode")
    for upstream in (UPSTREAM, other):
        up = xm.encode(call, op, upstream)
        form = dict(up.form)
        assert form["api_key"] == upstream.api_key
        assert [k for k, _ in up.form].count("api_key") == 1
        assert CLIENT_KEY not in repr(up.form)
        assert up.path == f"/{upstream.access_code}/admin/index.php"
        assert form["action"] == "get_line"
        assert form["id"] == "5"


def test_create_line_presence_flags_in_the_upstream_form() -> None:
    # The panel turns a flag on when its key is merely present, so a false flag must not be sent at all.
    case = _case("create_line_full")
    assert "is_trial=0" in case["input"]["body"]
    assert "is_restreamer=1" in case["input"]["body"]
    actual = run_case(case)
    form = actual["upstream"]["form"]
    names = [k for k, _ in form]
    assert "is_trial" not in names
    assert ["is_restreamer", "1"] in form
    assert ["exp_date", "2030-01-31"] in form
    assert ["bouquets_selected", "[1,2,5]"] in form
    assert [v for k, v in form if k == "allowed_ips[]"] == ["1.2.3.4", "10.0.0.0/8"]
    assert actual["call"]["args"]["is_trial"] is False
    assert actual["call"]["args"]["is_restreamer"] is True


def test_invalid_api_key_from_upstream_is_never_an_auth_failure_for_the_client() -> None:
    actual = run_case(_case("decode_upstream_invalid_api_key"))
    assert actual["outcome"]["failure"]["code"] == "UPSTREAM_ERROR"
    assert actual["render"]["body"].get("error") != "Invalid API key."


def test_bare_list_actions_render_bare() -> None:
    actual = run_case(_case("decode_get_bouquets_bare_list"))
    assert isinstance(actual["render"]["body"], list)
    assert actual["render"]["body"] == json.loads(_case("decode_get_bouquets_bare_list")["input"]["body"])


def test_decode_deeply_nested_body_is_an_upstream_error() -> None:
    op = catalogue().by_xm_action["get_lines"]
    outcome = xm.decode(op, 200, b"[" * 100_000)
    assert isinstance(outcome, Failure)
    assert outcome.code is Code.UPSTREAM_ERROR

"""One golden-file harness for every dialect's translator (its client and upstream faces, pure functions).

Every tests/golden/<dialect>/<case>.json is one case, a JSON document
``{"description": ..., "kind": ..., "input": {...}, "expected": {...}}`` of one of three kinds:

- ``request``: ``input`` is ``{"method", "query", "body", "api_key_header"?}`` plus what the dialect's path holds
  (see each Harness's ``request``); query and body are urlencoded strings, read with
  gateway.phpform.parse_urlencoded into a RawRequest. ``expected`` holds ``credentials`` and either ``call``
  (what parse() returns) and ``upstream`` (what encode() builds against the harness's upstream), or ``refused``
  (the Failure parse()/credentials() raised) and ``render`` (what the client gets back).
- ``response``: ``input`` is ``{"action", "status", "body"}``, a panel answer as text (``action`` in the
  dialect's own words); ``expected`` holds ``outcome`` (what decode() returns) and ``render`` (that outcome
  rendered to the client).
- ``render``: ``input`` is ``{"action", "outcome"}``, a canonical outcome; ``expected`` holds ``render``.

To regenerate the expected parts after a deliberate change to a translator, run

    PANELGATE_UPDATE_GOLDEN=1 python -m pytest tests/unit/test_golden.py

then read the diff of tests/golden/ before committing it: the golden files are the review. To add a case, write
a file with ``description``, ``kind`` and ``input`` only and run the same command.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.catalogue import Operation, catalogue
from gateway.dialects.base import Dialect, RawRequest, Rendered
from gateway.dialects.midnight.vocabulary import ENDPOINTS
from gateway.dialects.registry import dialect
from gateway.dialects.xtream_codes_v2.vocabulary import ACTIONS
from gateway.dialects.xui_reseller.vocabulary import ACTIONS as XR_ACTIONS
from gateway.dialects.xui_reseller.vocabulary import RENEWALS
from gateway.model import Code, Failure, Outcome, Reason, Refused, Result
from gateway.phpform import parse_urlencoded
from gateway.upstream_settings import Upstream

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
ACCESS_CODE = "panelcode"
CLIENT_KEY = "pg_CLIENT-KEY-never-upstream"
UPSTREAM_SECRET = "UPSTREAM-SECRET"


@dataclass(frozen=True)
class Harness:
    """How one dialect's cases are read: the request a case's input stands for, the operation its action names,
    and the upstream its calls are encoded for."""

    dialect: Dialect
    upstream: Upstream
    request: Callable[[dict[str, Any]], RawRequest]
    operation: Callable[[str], Operation]

    @property
    def cases(self) -> list[Path]:
        return sorted((GOLDEN / self.dialect.name).glob("*.json"))

    def case(self, name: str) -> dict[str, Any]:
        return load(GOLDEN / self.dialect.name / f"{name}.json")

    def run(self, case: dict[str, Any]) -> dict[str, Any]:
        """What the translator makes of a case, in the golden file's terms."""
        client, upstream = self.dialect.client, self.dialect.upstream
        kind, inp = case["kind"], case["input"]
        out: dict[str, Any] = {}
        if kind == "request":
            request = self.request(inp)
            try:
                out["credentials"] = plain(dataclasses.asdict(client.credentials(request)))
                call = client.parse(request)
            except Refused as refused:
                out["refused"] = plain(failure_doc(refused.failure))
                out["render"] = rendered(client.render(refused.failure, None, http_status_codes=False))
                return out
            call_doc = dataclasses.asdict(call)
            call_doc.pop("credentials", None)
            out["call"] = plain(call_doc)
            op = catalogue().operations[call.operation]
            up = upstream.encode(call, op, self.upstream)
            out["upstream"] = {"method": up.method, "path": up.path, "form": [list(pair) for pair in up.form],
                               "secret_fields": sorted(up.secret_fields)}  # fmt: skip
        elif kind == "response":
            op = self.operation(inp["action"])
            outcome = upstream.decode(op, inp["status"], inp["body"].encode("utf-8"))
            out["outcome"] = plain(outcome_doc(outcome))
            out["render"] = rendered(client.render(outcome, op, http_status_codes=False))
        elif kind == "render":
            op = self.operation(inp["action"]) if inp.get("action") else None
            out["render"] = rendered(client.render(from_outcome_doc(inp["outcome"]), op, http_status_codes=False))
        else:
            raise AssertionError(f"unknown case kind {kind!r}")
        return out


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def plain(value: Any) -> Any:
    """JSON's view of a value (tuples become lists), so it compares equal to what a golden file holds."""
    return json.loads(json.dumps(value, default=str))


def failure_doc(f: Failure) -> dict[str, Any]:
    doc = {"code": f.code.value, "message": f.message, "echo": f.echo, "reason": str(f.reason)}
    if f.subject:
        doc["subject"] = f.subject
    return doc


def outcome_doc(o: Outcome) -> dict[str, Any]:
    if isinstance(o, Result):
        return {"result": {"data": o.data, "total": o.total, "filtered": o.filtered, "extra": o.extra}}
    return {"failure": failure_doc(o)}


def from_outcome_doc(doc: dict[str, Any]) -> Outcome:
    if "result" in doc:
        r = doc["result"]
        return Result(data=r.get("data"), total=r.get("total"), filtered=r.get("filtered"), extra=r.get("extra", {}))
    f = doc["failure"]
    return Failure(Code(f["code"]), f.get("message", ""), echo=f.get("echo"), reason=Reason(f.get("reason", "")),
                   subject=f.get("subject", ""))


def rendered(r: Rendered) -> dict[str, Any]:
    text = r.body.decode("utf-8")
    try:
        body = json.loads(text)
    except ValueError:
        body = text
    return {"status": r.status, "content_type": r.content_type, "body": body}


def _params(inp: dict[str, Any], path: str, match: dict[str, str]) -> RawRequest:
    return RawRequest(
        method=inp.get("method", "POST"),
        path=path,
        query=parse_urlencoded(inp.get("query", "")),
        body=parse_urlencoded(inp.get("body", "")),
        match=match,
        api_key_header=inp.get("api_key_header"),
    )


def _xm_request(inp: dict[str, Any]) -> RawRequest:
    return _params(inp, f"/{ACCESS_CODE}/admin/index.php", {"code": ACCESS_CODE})


def _xm_operation(action: str) -> Operation:
    op = catalogue().by_xm_action.get(action)
    assert op is not None, f"no catalogued operation for xm action {action!r}"
    return op


def _xc_request(inp: dict[str, Any]) -> RawRequest:
    """`path_key`, when given, is the key in a `/k/{key}/api.php` path."""
    if inp.get("path_key"):
        return _params(inp, f"/k/{inp['path_key']}/api.php", {"key": inp["path_key"]})
    return _params(inp, "/api.php", {})


def _xc_operation(action: str) -> Operation:
    entry = ACTIONS.get((action.split("/", 1)[0], action.split("/", 1)[-1]))
    assert entry is not None, f"no XC v2 action {action!r}"
    return catalogue().operations[entry[0]]


def ms_request(inp: dict[str, Any]) -> RawRequest:
    """`endpoint` is `group/verb` of `/api/{group}/{verb}[/{url_key}]`."""
    group, _, verb = inp["endpoint"].partition("/")
    match = {"group": group, "verb": verb}
    if inp.get("url_key"):
        match["key"] = inp["url_key"]
    return _params(inp, "/api/" + "/".join(match.values()), match)


def ms_operation(action: str) -> Operation:
    entry = ENDPOINTS.get((action.split("/", 1)[0], action.split("/", 1)[-1]))
    assert entry is not None, f"no MidnightStreamer endpoint {action!r}"
    return catalogue().operations[entry[0]]


def xr_request(inp: dict[str, Any]) -> RawRequest:
    """The Reseller API's own path, `/{code}/`."""
    return _params(inp, f"/{ACCESS_CODE}/", {"code": ACCESS_CODE})


def xr_operation(action: str) -> Operation:
    """A Reseller API action; `edit_line+package` is edit_line naming a package (a renewal)."""
    name, _, renewal = action.partition("+")
    operation = RENEWALS[name] if renewal else XR_ACTIONS[name][0]
    return catalogue().operations[operation]


def _upstream(name: str, **extra: Any) -> Upstream:
    return Upstream(name="main", dialect=name, url="http://panel.test:8000", api_key=UPSTREAM_SECRET, **extra)


HARNESSES: dict[str, Harness] = {
    "xtream_masters": Harness(dialect("xtream_masters"), _upstream("xtream_masters", access_code=ACCESS_CODE),
                              _xm_request, _xm_operation),
    "xtream_codes_v2": Harness(dialect("xtream_codes_v2"), _upstream("xtream_codes_v2"), _xc_request, _xc_operation),
    "midnight": Harness(dialect("midnight"), _upstream("midnight"), ms_request, ms_operation),
    "xui_reseller": Harness(dialect("xui_reseller"), _upstream("xui_reseller", access_code=ACCESS_CODE), xr_request,
                            xr_operation),
}  # fmt: skip

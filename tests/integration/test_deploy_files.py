"""deploy/: the Grafana dashboard and the Prometheus alert rules read only metrics the gateway really exports, and
the rules pass promtool (its syntax check, and the unit tests beside them) where promtool is installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient

from tests.conftest import REPO

DEPLOY = REPO / "deploy"
DASHBOARD = DEPLOY / "grafana" / "panelgate-dashboard.json"
RULES = DEPLOY / "prometheus" / "panelgate-alerts.yaml"
RULE_TESTS = DEPLOY / "prometheus" / "panelgate-alerts.test.yaml"
NAMED = re.compile(r"\b(panelgate_[a-z0-9_]+)\b")
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")


async def _exported(admin_client: TestClient[Any, Any]) -> set[str]:
    """Every series name the operator listener's /metrics declares (a histogram's three series included)."""
    text = await (await admin_client.get("/metrics")).text()
    names: set[str] = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        names.add(name)
        if kind == "histogram":
            names.update(name + suffix for suffix in HISTOGRAM_SERIES)
    return names


def _dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "panelgate" and dashboard["panels"]
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    queries += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    assert all(panel["title"] and panel["targets"] for panel in dashboard["panels"])
    return queries


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


async def test_the_dashboard_reads_only_exported_metrics(admin_client: TestClient[Any, Any]) -> None:
    exported = await _exported(admin_client)
    named = {name for query in _dashboard_queries() for name in NAMED.findall(query)}
    assert named and named <= exported, sorted(named - exported)
    # the operator-facing families all have a panel
    for family in ("panelgate_upstream_breaker_open", "panelgate_cache_fallback", "panelgate_refusals_total",
                   "panelgate_provider_busy_total", "panelgate_idempotent_requests_total"):  # fmt: skip
        assert family in named


async def test_the_alert_rules_read_only_exported_metrics(admin_client: TestClient[Any, Any]) -> None:
    exported = await _exported(admin_client)
    rules = _rules()
    assert {r["alert"] for r in rules} == {"PanelgateUpstreamDown", "PanelgateBreakerOpen", "PanelgateCacheInFallback",
                                           "PanelgateRefusalSpike", "PanelgateSlotPoolExhausted"}  # fmt: skip
    for rule in rules:
        named = set(NAMED.findall(rule["expr"]))
        assert named and named <= exported, (rule["alert"], sorted(named - exported))
        assert rule["labels"]["severity"] in ("warning", "critical") and rule["annotations"]["summary"]


def test_promtool_checks_the_rules_and_runs_their_tests() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian's prometheus package): the rules' syntax and unit tests "
                    "are checked where it is; their metric names are checked above either way")  # fmt: skip
    for command in (["check", "rules", RULES.name], ["test", "rules", RULE_TESTS.name]):
        done = subprocess.run([promtool, *command], cwd=RULES.parent, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr

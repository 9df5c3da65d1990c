"""The audit log under logrotate: the file is renamed and the gateway told to reload (SIGHUP, `postrotate`); the
writes that follow are in the file at the configured path. Before, they went on into the renamed file, which the
next rotation compresses and deletes: the audit trail of every write after the first rotation was lost."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.app import LIVE
from gateway.state import swap_state
from tests.conftest import Stack


async def test_a_rotated_audit_log_is_reopened_on_reload(stack: Stack) -> None:
    assert (await stack.xm(action="create_line", username="rot1", password="pw123456"))["status"] == "STATUS_SUCCESS"
    rotated = stack.audit_path.with_name(stack.audit_path.name + ".1")
    stack.audit_path.rename(rotated)  # logrotate's rename, then its postrotate's SIGHUP
    live = stack.client.server.app[LIVE]
    await swap_state(live, stack.config)
    assert (await stack.xm(action="create_line", username="rot2", password="pw123456"))["status"] == "STATUS_SUCCESS"
    assert [json.loads(line)["operation"] for line in rotated.read_text().splitlines()] == ["line.create"]
    assert stack.audit_path.exists(), "the audit lines after the rotation went to the rotated file"
    lines = [json.loads(line) for line in Path(stack.audit_path).read_text().splitlines()]
    assert [(a["operation"], a["outcome"]) for a in lines] == [("line.create", "ok")]

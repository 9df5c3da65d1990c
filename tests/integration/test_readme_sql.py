"""README's "Moving off mysql_query": its examples run, as written, against a gateway in front of a simulated
panel, and answer what the README says they answer."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main
from tests.conftest import ACCESS_CODE, KEYS, REPO, Stack

SECTION = re.compile(r"^### Moving off `mysql_query`\n(.*?)^##", re.S | re.M)


def _examples() -> list[str]:
    found = SECTION.search((REPO / "README.md").read_text())
    assert found, "README has no section 'Moving off `mysql_query`'"
    block = re.search(r"```sh\n(.*?)```", found.group(1), re.S)
    assert block
    return [line for line in block.group(1).splitlines() if line and not line.startswith("API=")]


def _curl(line: str, env: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The URL and form fields of a `curl -s URL -d k=v ...` line, its variables read from `env`."""
    words = shlex.split(re.sub(r"\$([A-Z_]+)", lambda m: env[m.group(1)], line))
    assert words[:2] == ["curl", "-s"], line
    url, form, rest = words[2], {}, iter(words[3:])
    for flag in rest:
        assert flag == "-d", line
        name, _, value = next(rest).partition("=")
        form[name] = value
    return url, form


async def test_the_sql_migration_examples_work(stack: Stack, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    env = {"API": str(stack.client.make_url(f"/{ACCESS_CODE}/admin/index.php")), "ADMIN_KEY": KEYS["admin"],
           "RESELLER_KEY": KEYS["reseller"]}  # fmt: skip
    lines = _examples()
    answers: list[Any] = []
    for line in lines[:-1]:
        url, form = _curl(line, env)
        resp = await stack.client.session.post(url, data=form)
        answers.append(await resp.json(content_type=None))
    own, counted, account, edited, others, sql = answers
    owners = {row["member_id"] for row in own["data"]}
    assert own["status"] == "STATUS_SUCCESS" and owners == {"88"} and int(own["recordsTotal"]) == 20
    assert counted["status"] == "STATUS_SUCCESS" and counted["recordsTotal"] == own["recordsTotal"]
    assert len(counted["data"]) == 1 and counted["data"][0]["member_id"] == "88"
    assert account["status"] == "STATUS_SUCCESS" and account["data"]["id"] == "88"
    assert "api_key" not in account["data"]
    assert edited["status"] == "STATUS_SUCCESS" and edited["data"]["member_id"] == "88"
    missing = await stack.xm("reseller", action="get_line", id="99999")
    assert others == missing == {"status": "STATUS_FAILURE", "error": "no such line"}  # no existence leak
    assert sql["status"] == "STATUS_FORBIDDEN" and "sql.query is not allowed" in sql["error"]
    assert not any(action == "mysql_query" for action, _ in stack.sim.received)
    # the last one, `panelgate key new`: a key once, and an entry the config accepts
    command = shlex.split(lines[-1])
    assert command[:3] == ["panelgate", "key", "new"]
    assert main(command[1:]) == 0
    printed = capsys.readouterr().out
    entry = re.search(r"^  - (\{.*\})$", printed, re.M)
    assert entry and "reseller_id: 89" in entry.group(1) and "policy: reseller" in entry.group(1)

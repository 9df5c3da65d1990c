"""README's "Idempotent writes": its curl example runs, as written, against a gateway in front of a simulated panel,
and sent twice makes one line and answers the same twice (the second marked `Idempotent-Replayed: true`)."""

from __future__ import annotations

import re
import shlex

from tests.conftest import ACCESS_CODE, KEYS, REPO, Stack

SECTION = re.compile(r"^### Idempotent writes\n(.*?)^##", re.S | re.M)


def _example() -> str:
    found = SECTION.search((REPO / "README.md").read_text())
    assert found, "README has no section 'Idempotent writes'"
    block = re.search(r"```sh\n(.*?)```", found.group(1), re.S)
    assert block
    lines = [line.split("  #")[0].rstrip() for line in block.group(1).splitlines()]
    command = " ".join(line.removesuffix("\\").strip() for line in lines if line and not line.startswith("API="))
    return command


async def test_the_idempotency_example_makes_one_line(stack: Stack) -> None:
    env = {"API": str(stack.client.make_url(f"/{ACCESS_CODE}/admin/index.php")), "ADMIN_KEY": KEYS["admin"]}
    words = shlex.split(re.sub(r"\$([A-Z_]+)", lambda m: env[m.group(1)], _example()))
    assert words[:2] == ["curl", "-s"], words
    url, headers, form, rest = words[2], {}, {}, iter(words[3:])
    for flag in rest:
        value = next(rest)
        if flag == "-H":
            name, _, header = value.partition(":")
            headers[name] = header.strip()
        else:
            assert flag == "-d", flag
            name, _, field = value.partition("=")
            form[name] = field
    assert "Idempotency-Key" in headers and form["action"] == "create_line"
    stack.sim.reset_received()
    first = await stack.client.session.post(url, data=form, headers=headers)
    second = await stack.client.session.post(url, data=form, headers=headers)
    answers = [await first.json(content_type=None), await second.json(content_type=None)]
    assert answers[0]["status"] == "STATUS_SUCCESS", answers[0]
    assert answers[1] == answers[0]
    assert second.headers.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in first.headers
    assert [action for action, _ in stack.sim.received].count("create_line") == 1

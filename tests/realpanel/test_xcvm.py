"""The gateway against a real XUI.one panel (XC_VM running from its own PHP: ../shared/realpanel), opt-in.

`make realpanel PANEL_ENV=/path/to/panel.env` runs these (the env file up.sh writes); without it they skip.
Each test changes the panel only through rows it creates. The simulators are built to agree with this panel:
what passes here and against `XtreamMastersSim(flavour="xui_one")` alike is what the gateway can rely on.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.keys import digest_of
from tests.conftest import AiohttpClient, make_config

ENV_FILE = os.environ.get("PANELGATE_REALPANEL_ENV", "")
pytestmark = pytest.mark.skipif(not ENV_FILE, reason="no real panel: run `make realpanel PANEL_ENV=...panel.env`")
KEY = "pg_realpanel_admin_key_000000000000000000"


def _env() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in Path(ENV_FILE).read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


class Panel:
    """Direct calls to the real panel's admin API (the oracle), and a gateway in front of it."""

    def __init__(self, env: dict[str, str], gateway: TestClient[Any, Any], session: aiohttp.ClientSession) -> None:
        self.env, self.gateway, self.session = env, gateway, session
        self.code = env["XCVM_ADMIN_CODE"]

    async def direct(self, **params: str) -> Any:
        async with self.session.post(self.env["XCVM_ADMIN_API"],
                                     data={"api_key": self.env["XCVM_ADMIN_KEY"], **params}) as resp:  # fmt: skip
            text = await resp.text()
            return __import__("json").loads(text) if text else None

    async def through(self, path: str, **params: str) -> Any:
        resp = await self.gateway.post(path, data={"api_key": KEY, **params})
        assert resp.status == 200, await resp.text()
        return await resp.json(content_type=None)

    async def new_line(self) -> dict[str, Any]:
        """A line with something in every field an edit could lose."""
        name = "pg_" + secrets.token_hex(4)
        answer = await self.direct(action="create_line", username=name, password="pw_" + name,
                                   bouquets_selected="[1]", exp_date="2027-03-01 12:00:00", max_connections="2",
                                   is_trial="1", is_isplock="1", bypass_ua="1", allowed_ips="10.1.1.1",
                                   allowed_ua="VLC", admin_notes="an", reseller_notes="rn", contact="c@x",
                                   **{"access_output[]": ["1", "2"]})  # fmt: skip
        assert answer["status"] == "STATUS_SUCCESS", answer
        row: dict[str, Any] = answer["data"]
        return row


@pytest.fixture
async def panel(aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path) -> Any:
    env = _env()
    async with aiohttp.ClientSession() as session:
        info = await Panel(env, None, session).direct(action="user_info")  # type: ignore[arg-type]
        timezone = info["data"].get("timezone") or "Europe/London"  # the panel's settings.default_timezone
        upstream = {"dialect": "xtream_masters", "flavour": "xui_one", "url": env["XCVM_BASE"],
                    "access_code": env["XCVM_ADMIN_CODE"], "api_key": env["XCVM_ADMIN_KEY"], "timezone": timezone}
        config = make_config(env["XCVM_BASE"], policies_dir, tmp_path, upstream=upstream,
                             keys=[{"id": "real-admin", "digest": digest_of(KEY), "policy": "admin"}])  # fmt: skip
        yield Panel(env, await aiohttp_client(build_app(config)), session)


KEPT_ANYWAY = {"updated", "isp_desc", "as_number"}  # the panel clears the ISP lock on every edit


def _changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {k: (before.get(k), after.get(k)) for k in set(before) | set(after)
            if k not in KEPT_ANYWAY and before.get(k) != after.get(k)}  # fmt: skip


@pytest.mark.parametrize("face", ["xc", "ms", "xm"])
async def test_a_partial_edit_changes_only_what_it_named(panel: Panel, face: str) -> None:
    line = await panel.new_line()
    if face == "xc":
        answer = await panel.through("/api.php?action=user&sub=edit", username=line["username"],
                                     password=line["password"], **{"user_data[max_connections]": "3"})  # fmt: skip
        assert answer == {"result": True}, answer
    elif face == "ms":
        answer = await panel.through("/api/line/update", username=line["username"],
                                     **{"data[max_allowed_connections]": "3"})  # fmt: skip
        assert answer == {"result": True}, answer
    else:
        answer = await panel.through(f"/{panel.code}/", action="edit_line", id=str(line["id"]), max_connections="3")
        assert answer["status"] == "STATUS_SUCCESS", answer
    after = (await panel.direct(action="get_line", id=str(line["id"])))["data"]
    assert _changed(line, after) == {"max_connections": ("2", "3")}


async def test_user_info_never_answers_the_panels_key(panel: Panel) -> None:
    body = await panel.through(f"/{panel.code}/", action="user_info")
    assert body["status"] == "STATUS_SUCCESS" and "api_key" not in body["data"]
    assert panel.env["XCVM_ADMIN_KEY"] not in str(body)


@pytest.mark.parametrize("sent", ["2026-07-01", "2026-12-31 23:59:59", "@1767225600"])
async def test_dates_land_as_the_panel_itself_reads_them(panel: Panel, sent: str) -> None:
    name = "pg_" + secrets.token_hex(4)
    through = await panel.through(f"/{panel.code}/", action="create_line", username=name, password="pw_" + name,
                                  exp_date=sent)  # fmt: skip
    direct = await panel.direct(action="create_line", username=name + "d", password="pw_" + name,
                                bouquets_selected="[]", exp_date=sent)  # fmt: skip
    assert through["status"] == direct["status"] == "STATUS_SUCCESS", (through, direct)
    assert through["data"]["exp_date"] == direct["data"]["exp_date"]


async def test_a_bare_unix_time_is_refused_as_the_panel_refuses_it(panel: Panel) -> None:
    through = await panel.through(f"/{panel.code}/", action="create_line", username="pg_unix", exp_date="1767225600")
    direct = await panel.direct(action="create_line", username="pg_unix", bouquets_selected="[]",
                                exp_date="1767225600")  # fmt: skip
    assert through["status"] == direct["status"] == "STATUS_INVALID_DATE"

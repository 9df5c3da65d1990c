"""The simulated panel's XUI.one flavour against what the real panel (XC_VM) was measured to do.

Each expectation cites the measurement (../shared/realpanel: XC_VM on MariaDB, php-fpm and nginx), not a document.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.sim.xtream_masters import XtreamMastersSim
from gateway.sim.xui_one import RequestLimit, php_datetime

KEY = "sim-admin-key"
URL = "/admin/"

Client = TestClient[Any, Any]
ClientFactory = Callable[..., Awaitable[Client]]


async def _client(aiohttp_client: ClientFactory, **kwargs: Any) -> tuple[XtreamMastersSim, Client]:
    sim = XtreamMastersSim(flavour="xui_one", **kwargs)
    return sim, await aiohttp_client(sim.app())


async def _raw(client: Client, action: str, path: str = URL, **params: Any) -> tuple[int, str]:
    resp = await client.post(path, data={"api_key": KEY, "action": action, **params})
    return resp.status, await resp.text()


async def _call(client: Client, action: str, **params: Any) -> Any:
    status, text = await _raw(client, action, **params)
    assert status == 200 and text, (status, text)
    return json.loads(text)


async def test_the_admin_api_is_at_the_code_itself(aiohttp_client: ClientFactory) -> None:
    _, client = await _client(aiohttp_client)
    for path in ("/admin/", "/admin/index.php"):
        status, text = await _raw(client, "user_info", path)
        assert status == 200 and json.loads(text)["status"] == "STATUS_SUCCESS"
    status, text = await _raw(client, "user_info", "/admin/admin/index.php")
    assert status == 404 and "nginx" in text


async def test_edit_line_without_bouquets_is_an_empty_answer_and_writes_nothing(aiohttp_client: ClientFactory) -> None:
    sim, client = await _client(aiohttp_client)
    before = dict(sim.tables["lines"][1])
    assert await _raw(client, "edit_line", id="1", max_connections="3") == (200, "")
    assert sim.tables["lines"][1] == before
    assert await _raw(client, "create_line", username="nobq", password="pw") == (200, "")


async def test_edit_line_replaces_the_row_from_the_request(aiohttp_client: ClientFactory) -> None:
    """Measured (FACTS 5): only max_connections and bouquets sent; username and password regenerated, the flags,
    expiry, outputs, IPs and user agents reset, the notes and the owner kept."""
    _, client = await _client(aiohttp_client)
    full = {"username": "q5_line", "password": "q5_pass", "bouquets_selected": "[1]", "exp_date": "2027-03-01",
            "max_connections": "4", "is_restreamer": "1", "is_trial": "1", "is_isplock": "1", "bypass_ua": "1",
            "access_output[]": ["1", "2"], "allowed_ips": "1.2.3.4", "allowed_ua": "VLC", "admin_notes": "an",
            "reseller_notes": "rn", "contact": "c@x", "enabled": "0"}  # fmt: skip
    created = await _call(client, "create_line", **full)
    line_id = created["data"]["id"]
    edited = (await _call(client, "edit_line", id=line_id, max_connections="3", bouquets_selected="[1]"))["data"]
    assert edited["username"] != "q5_line" and len(edited["username"]) == 10
    assert edited["password"] != "q5_pass" and edited["max_connections"] == "3"
    assert edited["exp_date"] is None and edited["enabled"] == "1"
    assert [edited[f] for f in ("is_restreamer", "is_trial", "is_isplock", "bypass_ua")] == ["0"] * 4
    assert (edited["allowed_outputs"], edited["allowed_ips"], edited["allowed_ua"]) == ("[]", "[]", "[]")
    assert (edited["admin_notes"], edited["reseller_notes"], edited["contact"]) == ("an", "rn", "c@x")


async def test_a_whole_row_edit_keeps_everything(aiohttp_client: ClientFactory) -> None:
    sim, client = await _client(aiohttp_client)
    row = sim.tables["lines"][3]
    whole = {"username": row["username"], "password": row["password"], "bouquets_selected": row["bouquet"],
             "max_connections": "2", "enabled": row["enabled"], "admin_enabled": row["admin_enabled"],
             "exp_date": f"@{row['exp_date']}"}  # fmt: skip
    edited = (await _call(client, "edit_line", id="3", **whole))["data"]
    assert (edited["username"], edited["password"], edited["exp_date"]) == (row["username"], row["password"],
                                                                             row["exp_date"])  # fmt: skip
    assert edited["max_connections"] == "2"


@pytest.mark.parametrize(
    ("text", "timezone", "expected"),
    [  # FACTS 4, measured in Europe/London (and New York for the first)
        ("2026-12-31", "America/New_York", 1798693200),
        ("2026-12-31", "Europe/London", 1798675200),
        ("2026-12-31 23:59:59", "Europe/London", 1798761599),
        ("2026-07-01", "Europe/London", 1782860400),
        ("@1767225600", "Europe/London", 1767225600),
        ("12/31/2026", "Europe/London", 1798675200),
        ("31-12-2026", "Europe/London", 1798675200),
        ("2026-12-31T23:59:59Z", "Europe/London", 1798761599),
        ("2026-12-31 23:59:59 +02:00", "Europe/London", 1798754399),
    ],
)
def test_dates_as_php_datetime_reads_them(text: str, timezone: str, expected: int) -> None:
    assert php_datetime(text, timezone, 1_700_000_000) == expected


@pytest.mark.parametrize("text", ["1767225600", "31/12/2026", "0", "garbage"])
def test_dates_php_datetime_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        php_datetime(text, "Europe/London", 1_700_000_000)


async def test_create_line_dates(aiohttp_client: ClientFactory) -> None:
    _, client = await _client(aiohttp_client, timezone="Europe/London")
    common = {"password": "pw12345678", "bouquets_selected": "[1]"}
    good = await _call(client, "create_line", username="d1", exp_date="2026-07-01", **common)
    assert good["data"]["exp_date"] == "1782860400"
    bad = await _call(client, "create_line", username="d2", exp_date="1767225600", **common)
    assert bad["status"] == "STATUS_INVALID_DATE" and bad["data"]["exp_date"] == "1767225600"
    far = await _call(client, "create_line", username="d3", exp_date="9999-12-31", **common)
    assert far["data"]["exp_date"] == str(2**31 - 1)
    never = await _call(client, "create_line", username="d4", exp_date="2027-01-01", no_expire="0", **common)
    assert never["data"]["exp_date"] is None  # no_expire is read by presence


async def test_edit_user_needs_the_group_and_regenerates_the_username(aiohttp_client: ClientFactory) -> None:
    sim, client = await _client(aiohttp_client)
    before = dict(sim.tables["users"][88])
    refused = await _call(client, "edit_user", id="88", email="new@x")
    assert refused == {"status": "STATUS_INVALID_GROUP", "data": {"email": "new@x", "edit": "88"}}
    assert sim.tables["users"][88] == before
    logs = len(sim.tables["credits_log"])
    edited = (await _call(client, "edit_user", id="88", email="new@x", member_group_id="2"))["data"]
    assert edited["email"] == "new@x" and edited["username"] != before["username"]
    assert edited["credits"] == before["credits"] and edited["password"] == before["password"]
    # a credits log row the reseller never made: amount = -old (credits were not sent)
    assert len(sim.tables["credits_log"]) == logs + 1
    assert list(sim.tables["credits_log"].values())[-1]["amount"] == str(-int(before["credits"]))


async def test_edit_mag_needs_its_mac_and_its_bouquets(aiohttp_client: ClientFactory) -> None:
    sim, client = await _client(aiohttp_client)
    mag_id = next(iter(sim.tables["mag_devices"]))
    mac = sim.tables["mag_devices"][mag_id]["mac"]
    no_mac = await _call(client, "edit_mag", id=str(mag_id), bouquets_selected="[1]")
    assert no_mac["status"] == "STATUS_INVALID_INPUT"
    assert await _raw(client, "edit_mag", id=str(mag_id), mac=mac) == (200, "")
    edited = await _call(client, "edit_mag", id=str(mag_id), mac=mac, bouquets_selected="[1]")
    assert edited["status"] == "STATUS_SUCCESS" and edited["data"]["user"]["exp_date"] is None


async def test_limit_req_answers_503_past_the_burst(aiohttp_client: ClientFactory) -> None:
    clock = [0.0]
    limit = RequestLimit(rate=20, burst=3, clock=lambda: clock[0])
    sim, client = await _client(aiohttp_client, limit=limit)
    statuses = [(await _raw(client, "user_info"))[0] for _ in range(6)]
    assert statuses == [200, 200, 200, 200, 503, 503]  # burst + 1 at once, as nginx counts
    assert len(sim.received) == 4  # a 503 never reached PHP
    clock[0] += 0.05  # one request's worth of time at 20 r/s
    assert (await _raw(client, "user_info"))[0] == 200

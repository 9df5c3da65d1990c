"""Every catalogued operation round-trips through the gateway to a simulated Xtream-Masters panel.

Each action is sent twice, with the same parameters, to two identically seeded simulators: once through the
gateway and once directly. The gateway must deliver the action to its panel (with the gateway's upstream key,
never the client's) and hand back what the panel answered.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import ClientSession

from gateway.catalogue import Kind, Operation, Target, catalogue
from gateway.plans import whole_row
from gateway.sim.xtream_masters import XtreamMastersSim
from tests.conftest import ACCESS_CODE, KEYS, UPSTREAM_KEY, AiohttpServer, Stack

# Parameters for actions that need more than an id. Flags are only ever sent as 1 here: a 0 flag is where the
# gateway deliberately differs from the panel (see test_xm_gateway.py::test_false_flag_is_omitted_upstream).
_CREATE = {"username": "rt_user", "password": "rt_pass_1"}
PARAMS: dict[str, dict[str, Any]] = {
    "create_line": {**_CREATE, "exp_date": "2031-05-01", "bouquets_selected": "[1,2]", "max_connections": "2",
                    "is_restreamer": "1", "allowed_ips[]": "10.1.2.3", "admin_notes": "made by test"},
    "edit_line": {"id": "1", "max_connections": "3", "exp_date": "2032-01-01"},
    "create_mag": {**_CREATE, "mac": "00:1A:79:AB:CD:EF"},
    "edit_mag": {"id": "1", "mac": "00:1A:79:AB:CD:EE"},
    "create_enigma": {**_CREATE, "mac": "00:1A:79:AB:CD:0F"},
    "edit_enigma": {"id": "1", "mac": "00:1A:79:AB:CD:0E"},
    "create_user": {**_CREATE, "member_group_id": "2", "credits": "10", "email": "rt@example.com"},
    "edit_user": {"id": "88", "notes": "edited"},
    "get_user": {"id": "88"},
    "adjust_credits": {"id": "88", "credits": "5", "reason": "test"},
    "get_lines": {"start": "0", "limit": "5", "show_columns": "id,username,member_id"},
    "get_mags": {"limit": "2"},
    "add_blocked_ip": {"ip": "198.51.100.7"},
    "add_blocked_ua": {"user_agent": "BadBot/1.0", "exact_match": "1"},
    "add_blocked_isp": {"isp": "Bad ISP"},
    "kill_connection": {"activity_id": "101", "server_id": "2"},
    "kill_pid": {"pid": "4242"},
    "mysql_query": {"query": "SELECT 1"},
}
# Streams of every kind share one id space on the panel; these ids exist in the simulator's seed.
STREAM_IDS = {"stream": "1", "movie": "21", "channel": "31", "station": "33", "episode": "35"}
for _kind, _id in STREAM_IDS.items():
    PARAMS[f"create_{_kind}"] = {"stream_display_name": f"rt {_kind}", "stream_source[]": "http://src.test/1.ts"}
    PARAMS[f"edit_{_kind}"] = {"id": _id, "stream_display_name": f"rt {_kind} renamed"}
    for _verb in ("get", "delete"):
        PARAMS[f"{_verb}_{_kind}"] = {"id": _id}
    for _verb in ("start", "stop"):
        PARAMS[f"{_verb}_{_kind}"] = {"id": _id, "server_id": "1"}
PARAMS.update({
    "create_package": {"package_name": "rt package", "bouquets_selected": "[1]"},
    "create_bouquet": {"bouquet_name": "rt bouquet"},
    "create_group": {"group_name": "rt group"},
    "create_category": {"category_name": "rt category"},
    "create_access_code": {"code": "rtcode1"},
    "create_epg": {"epg_name": "rt epg", "epg_file": "http://epg.test/guide.xml"},
    "create_transcode_profile": {"profile_name": "rt profile"},
    "create_rtmp_ip": {"ip": "192.0.2.55"},
    "create_series": {"title": "rt series"},
})
# processEpisode: one source, and the series by `series`
PARAMS["create_episode"] = {"stream_display_name": "rt episode", "stream_source": "http://src.test/1.mkv",
                            "series": "1", "season_num": "1", "episode": "9"}

# every column a simulator stamps with its clock (state.now()): the two calls may fall in different seconds
VOLATILE = {"created_at", "date_registered", "last_login", "timestamp", "time", "added", "updated", "last_activity",
            "password", "date", "created", "last_modified", "last_updated", "stream_started"}


def params_for(op: Operation) -> dict[str, Any]:
    if op.xm_action in PARAMS:
        return dict(PARAMS[op.xm_action])
    if op.target is Target.ID:
        return {"id": "1"}
    if op.name.endswith(".create"):
        return dict(_CREATE)
    return {}


def stable(value: Any) -> Any:
    """The answer without fields that legitimately differ between two runs (clock, generated secrets)."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def without_keys(value: Any) -> Any:
    """A direct answer as the gateway must pass it on: without any `api_key` (the panel's own keys)."""
    if isinstance(value, dict):
        return {k: without_keys(v) for k, v in value.items() if k != "api_key"}
    if isinstance(value, list):
        return [without_keys(v) for v in value]
    return value


def _key_for(op: Operation) -> str:
    return "danger" if op.kind is Kind.DANGER else "admin"


OPERATIONS = sorted((o for o in catalogue().operations.values() if o.xm_action), key=lambda o: o.name)


@pytest.mark.parametrize("op", OPERATIONS, ids=[o.name for o in OPERATIONS])
async def test_action_round_trips(op: Operation, stack: Stack, aiohttp_server: AiohttpServer) -> None:
    params = params_for(op)
    through_gateway = await stack.xm(key=_key_for(op), action=op.xm_action, **params)

    twin = XtreamMastersSim(access_code=ACCESS_CODE, api_key=UPSTREAM_KEY)
    twin_server = await aiohttp_server(twin.app())
    async with ClientSession() as session:
        resp = await session.post(
            twin_server.make_url(f"/{ACCESS_CODE}/admin/index.php"),
            data={"api_key": UPSTREAM_KEY, "action": op.xm_action, **params},
        )
        direct = await resp.json(content_type=None)

    actions = [action for action, _ in stack.sim.received]
    read = whole_row.EDITS.get(op.name)  # an edit the panel rebuilds whole reads its record first
    expected = [catalogue().operations[read].xm_action, op.xm_action] if read else [op.xm_action]
    assert actions == expected, f"the panel received {actions}"
    _, received = stack.sim.received[-1]
    assert KEYS[_key_for(op)] not in repr(received)
    assert stable(through_gateway) == stable(without_keys(direct))
    # the panel's keys and password hashes never come back (user_info answers the admin's own key)
    shown = json.dumps(through_gateway)
    assert UPSTREAM_KEY not in shown and '"api_key"' not in shown and "$6$" not in shown
    # Every parameter set above is meant to succeed on the panel: a failure here is a bad test, not a pass.
    assert isinstance(direct, list) or direct.get("status") == "STATUS_SUCCESS", direct

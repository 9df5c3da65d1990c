"""Table-driven CRUD for the panel's simple records, and the content records (streams, channels, stations, movies,
series, episodes) that share the `streams` table by `type` (1 live, 2 movie, 3 created channel, 4 radio, 5 episode).

get_X -> {"status","data":row} | {"status":"STATUS_FAILURE"}; create_X / edit_X -> the stored row as get_X returns
it; delete_X -> a bare success. List actions of these records (get_packages, get_bouquets, ...) answer with a
bare JSON array, as APIWrapper::filterRows returns one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.sim.xm_state import (
    FAILURE,
    SUCCESS,
    Answer,
    Params,
    Row,
    XMState,
    fail,
    ok,
    php_int,
    row_id,
    to_str,
)

Handler = Callable[[XMState, Params], Answer]


@dataclass(frozen=True)
class Entity:
    noun: str  # get_{noun}, create_{noun}, ...
    table: str
    columns: dict[str, Any]  # column -> default on create (the row keeps this order)
    pk: str = "id"
    renamed: dict[str, str] = field(default_factory=dict)  # request parameter -> column
    json_columns: frozenset[str] = frozenset()
    required: tuple[str, ...] = ()  # must be non-empty on create: STATUS_INVALID_INPUT otherwise
    unique: tuple[str, str] | None = None  # (column, status name) e.g. ("code", "EXISTS_CODE")
    stream_type: str | None = None  # rows of `streams` of this type only


def _json_value(value: Any) -> str:
    if isinstance(value, str) and value.strip().startswith(("[", "{")):
        try:
            decoded = json.loads(value)
        except ValueError:
            decoded = [value]
    elif isinstance(value, list | dict):
        decoded = value
    elif value in (None, ""):
        decoded = []
    else:
        decoded = [value]
    if isinstance(decoded, list):
        decoded = [int(v) if isinstance(v, str) and v.isdigit() else v for v in decoded]
    return json.dumps(decoded, separators=(",", ":"))


def find(state: XMState, entity: Entity, key: int | None) -> Row | None:
    row = state.table(entity.table).get(key) if key is not None else None
    if row is None or (entity.stream_type is not None and row.get("type") != entity.stream_type):
        return None
    return dict(row)


def _values(state: XMState, entity: Entity, data: Params, existing: Row | None) -> Row | str:
    """The row to store, or the name of the failure status."""
    row: Row = dict(existing) if existing else {k: to_str(v) for k, v in entity.columns.items()}
    given: dict[str, Any] = {}
    for name, value in data.items():
        column = entity.renamed.get(name, name)
        if column in entity.columns and column != entity.pk:
            given[column] = value
    for column, value in given.items():
        row[column] = _json_value(value) if column in entity.json_columns else to_str(value)
    if existing is None:
        for column in entity.required:
            if row.get(column) in (None, "", "[]"):
                return "INVALID_INPUT"
    if entity.unique:
        column, status = entity.unique
        self_key = php_int(existing[entity.pk]) if existing else None
        mine = str(row.get(column, "")).casefold()
        for key, other in state.table(entity.table).items():
            if key != self_key and str(other.get(column, "")).casefold() == mine:
                return status
    if entity.stream_type is not None:
        row["type"] = entity.stream_type
    if existing is None:
        for stamp in ("added", "last_modified"):
            if stamp in row and row[stamp] is None:
                row[stamp] = str(state.now())
    return row


def _store(state: XMState, entity: Entity, row: Row) -> int:
    key = php_int(row.get(entity.pk)) or state.new_id(entity.table)
    state.table(entity.table)[key] = {entity.pk: str(key), **{k: v for k, v in row.items() if k != entity.pk}}
    return key


def _after_create(state: XMState, entity: Entity, key: int, data: Params) -> None:
    if entity.stream_type is None:
        return
    if entity.stream_type == "5":
        link = state.new_id("streams_episodes")
        state.table("streams_episodes")[link] = {
            "id": str(link), "season_num": str(php_int(data.get("season_num"), 1)),
            "series_id": str(php_int(data.get("series"))), "stream_id": str(key),
            "sort": str(php_int(data.get("episode"), 1)),
        }  # fmt: skip
    _add_to_bouquets(state, entity.stream_type, key, data.get("bouquets"))
    servers = data.get("servers")
    wanted = [php_int(s) for s in servers] if isinstance(servers, list) else [1]
    for server in wanted:
        if server in state.table("servers"):
            place(state, key, server)


def place(state: XMState, stream_id: int, server_id: int) -> Row:
    """The stream's streams_servers row on a server, created stopped when missing."""
    for row in state.table("streams_servers").values():
        if row["stream_id"] == str(stream_id) and row["server_id"] == str(server_id):
            return row
    new = state.new_id("streams_servers")
    row = {"server_stream_id": str(new), "stream_id": str(stream_id), "server_id": str(server_id), "parent_id": None,
           "pid": None, "to_analyze": "0", "stream_status": "1", "stream_started": None, "bitrate": None,
           "on_demand": "0", "monitor_pid": None}  # fmt: skip
    state.table("streams_servers")[new] = row
    return row


# addToBouquet's column per streams.type (processStream, processChannel, processRadio, processMovie)
_BOUQUET_COLUMN = {"1": "bouquet_channels", "3": "bouquet_channels", "4": "bouquet_radios", "2": "bouquet_movies"}


def _add_to_bouquets(state: XMState, stream_type: str, key: int, wanted: Any) -> None:
    """processStream and its kin add the new record to each bouquet of `bouquets[]` (addToBouquet): a write to
    content changes the bouquets, and so every line's channel list."""
    column = _BOUQUET_COLUMN.get(stream_type)
    if column is None or not isinstance(wanted, list):
        return
    for bouquet_id in (php_int(b) for b in wanted):
        bouquet = state.table("bouquets").get(bouquet_id)
        if bouquet is None:
            continue
        members = json.loads(bouquet.get(column) or "[]")
        if key not in members:
            bouquet[column] = json.dumps([*members, key], separators=(",", ":"))


def crud_actions(entity: Entity) -> dict[str, Handler]:
    def get(state: XMState, params: Params) -> Answer:
        row = find(state, entity, row_id(params))
        return ok(row) if row else dict(FAILURE)

    def create(state: XMState, params: Params) -> Answer:
        data = {k: v for k, v in params.items() if k != "edit"}
        # processEpisode reads the series' id from `series` (XC_VM admin_api.php)
        if entity.noun == "episode" and php_int(data.get("series")) not in state.table("streams_series"):
            return fail("INVALID_INPUT", data)
        row = _values(state, entity, data, None)
        if isinstance(row, str):
            return fail(row, data)
        key = _store(state, entity, row)
        _after_create(state, entity, key, data)
        return ok(find(state, entity, key))

    def edit(state: XMState, params: Params) -> Answer:
        existing = find(state, entity, row_id(params))
        if existing is None:
            return dict(FAILURE)
        data = {k: v for k, v in params.items() if k != "id"}
        data["edit"] = params.get("id")
        row = _values(state, entity, data, existing)
        if isinstance(row, str):
            return fail(row, data)
        return ok(find(state, entity, _store(state, entity, row)))

    def delete(state: XMState, params: Params) -> Answer:
        key = row_id(params)
        if find(state, entity, key) is None or key is None:
            return dict(FAILURE)
        if entity.stream_type is not None:
            return _delete_stream(state, key, params.get("server_id"))
        del state.table(entity.table)[key]
        if entity.table == "streams_series":
            for link_id, link in list(state.table("streams_episodes").items()):
                if link["series_id"] == str(key):
                    del state.table("streams_episodes")[link_id]
                    state.table("streams").pop(php_int(link["stream_id"]), None)
        return dict(SUCCESS)

    return {f"get_{entity.noun}": get, f"create_{entity.noun}": create, f"edit_{entity.noun}": edit,
            f"delete_{entity.noun}": delete}  # fmt: skip


def _delete_stream(state: XMState, key: int, server_id: Any) -> Answer:
    """deleteStream($id, $server_id): from one server only when a server other than -1 is named."""
    placements = state.table("streams_servers")
    server = php_int(server_id, -1) if server_id not in (None, "") else -1
    for pid in [p for p, row in placements.items() if row["stream_id"] == str(key)]:
        if server == -1 or placements[pid]["server_id"] == str(server):
            del placements[pid]
    if server == -1:
        del state.table("streams")[key]
        for link_id in [k for k, link in state.table("streams_episodes").items() if link["stream_id"] == str(key)]:
            del state.table("streams_episodes")[link_id]
    return dict(SUCCESS)


def start_stop(types: tuple[str, ...], start: bool) -> Handler:
    """start_/stop_ stream|channel|station (types 1,3,4) and movie|episode (2,5).

    The panel forwards to its servers' API: server_id -1 means every server; a missing server_id reaches
    systemapirequest(null) and fails.
    """

    def handler(state: XMState, params: Params) -> Answer:
        key = row_id(params)
        stream = state.table("streams").get(key) if key is not None else None
        raw_server = params.get("server_id")
        if stream is None or stream["type"] not in types or raw_server in (None, ""):
            return dict(FAILURE)
        server = php_int(raw_server, -1)
        if server == -1:
            targets = [php_int(r["server_id"]) for r in state.table("streams_servers").values()
                       if r["stream_id"] == str(key)] or list(state.table("servers"))  # fmt: skip
        elif server in state.table("servers"):
            targets = [server]
        else:
            return dict(FAILURE)
        for server_id in targets:
            row = place(state, key, server_id)  # type: ignore[arg-type]
            if start:
                row.update(
                    pid=str(20000 + php_int(row["server_stream_id"])),
                    stream_status="0",
                    stream_started=str(state.now()),
                    monitor_pid=str(30000 + php_int(row["server_stream_id"])),
                )
            else:
                row.update(pid=None, stream_status="1", stream_started=None, monitor_pid=None, bitrate=None)
        return dict(SUCCESS)

    return handler


_STREAM_COLUMNS: dict[str, Any] = {
    "id": None, "type": "1", "category_id": "[]", "stream_display_name": "", "stream_source": "[]",
    "stream_icon": "", "notes": "", "enable_transcode": "0", "transcode_attributes": "[]", "custom_ffmpeg": "",
    "movie_properties": None, "movie_subtitles": "[]", "read_native": "0", "target_container": None,
    "stream_all": "0", "remove_subtitles": "0", "custom_sid": "", "epg_api": "0", "epg_id": None,
    "channel_id": None, "epg_lang": None, "order": "0", "auto_restart": "[]", "transcode_profile_id": "0",
    "gen_timestamps": "1", "added": None, "series_no": "0", "direct_source": "0", "tv_archive_duration": "0",
    "tv_archive_server_id": "0", "rtmp_output": "0", "allow_record": "1", "probesize_ondemand": "128000",
    "delay_minutes": "0", "year": None, "rating": "0", "tmdb_id": None, "updated": None,
}  # fmt: skip
_STREAM_JSON = frozenset({"category_id", "stream_source", "transcode_attributes", "movie_subtitles", "auto_restart"})


def _stream_entity(noun: str, stream_type: str) -> Entity:
    return Entity(noun, "streams", {**_STREAM_COLUMNS, "type": stream_type}, json_columns=_STREAM_JSON,
                  required=("stream_display_name",), stream_type=stream_type)  # fmt: skip


ENTITIES: tuple[Entity, ...] = (
    Entity("package", "packages", {
        "id": None, "package_name": "", "is_addon": "0", "is_trial": "0", "is_official": "1", "trial_credits": "0",
        "official_credits": "0", "trial_duration": "0", "trial_duration_in": "day", "official_duration": "1",
        "official_duration_in": "month", "groups": "[]", "bouquets": "[]", "addon_packages": "[]", "is_line": "1",
        "is_mag": "1", "is_e2": "1", "is_restreamer": "0", "is_isplock": "0", "output_formats": "[1,2,3]",
        "max_connections": "1", "force_server_id": "0", "forced_country": "", "lock_device": "0",
        "check_compatible": "1"},
        renamed={"bouquets_selected": "bouquets", "groups_selected": "groups",
                 "addon_packages_selected": "addon_packages"},
        json_columns=frozenset({"groups", "bouquets", "addon_packages", "output_formats"}), required=("package_name",)),
    Entity("bouquet", "bouquets", {
        "id": None, "bouquet_name": "", "bouquet_channels": "[]", "bouquet_movies": "[]", "bouquet_radios": "[]",
        "bouquet_series": "[]", "bouquet_order": "0"},
        json_columns=frozenset({"bouquet_channels", "bouquet_movies", "bouquet_radios", "bouquet_series"}),
        required=("bouquet_name",)),
    Entity("group", "users_groups", {
        "group_id": None, "group_name": "", "group_color": "#6c757d", "is_admin": "0", "is_reseller": "1",
        "total_allowed_gen_trials": "0", "total_allowed_gen_in": "day", "delete_users": "0", "allowed_pages": "[]",
        "can_delete": "1", "create_sub_resellers": "0", "create_sub_resellers_price": "0",
        "reseller_client_connection_logs": "0", "can_view_vod": "1", "allow_download": "1",
        "minimum_trial_credits": "0", "allow_restrictions": "0", "allow_change_username": "1",
        "allow_change_password": "1", "minimum_username_length": "8", "minimum_password_length": "8",
        "allow_change_bouquets": "0", "notice_html": "", "subresellers": "[]"},
        pk="group_id", json_columns=frozenset({"allowed_pages", "subresellers"}), required=("group_name",),
        unique=("group_name", "EXISTS_NAME")),
    Entity("category", "streams_categories", {
        "id": None, "category_type": "live", "category_name": "", "parent_id": "0", "cat_order": "0",
        "is_adult": "0"}, required=("category_name",)),
    Entity("access_code", "access_codes", {
        "id": None, "code": "", "type": "0", "enabled": "1", "groups": "[]", "whitelist": "[]"},
        json_columns=frozenset({"groups", "whitelist"}), required=("code",), unique=("code", "EXISTS_CODE")),
    Entity("epg", "epg", {
        "id": None, "epg_name": "", "epg_file": "", "last_updated": None, "days_keep": "7", "data": "[]",
        "offset": "0"}, required=("epg_name", "epg_file")),
    Entity("transcode_profile", "profiles", {"profile_id": None, "profile_name": "", "profile_options": "{}"},
           pk="profile_id", required=("profile_name",)),
    Entity("rtmp_ip", "rtmp_ips", {"id": None, "ip": "", "password": "", "notes": "", "push": "0", "pull": "0"},
           required=("ip",), unique=("ip", "EXISTS_IP")),
    Entity("series", "streams_series", {
        "id": None, "title": "", "category_id": "[]", "cover": "", "cover_big": "", "genre": "", "plot": "",
        "cast": "", "rating": "0", "director": "", "release_date": "", "last_modified": None, "tmdb_id": None,
        "seasons": "[]", "episode_run_time": "0", "backdrop_path": "[]", "youtube_trailer": "",
        "tmdb_language": "en", "year": None, "similar": "[]"},
        json_columns=frozenset({"category_id", "backdrop_path"}), required=("title",)),
    _stream_entity("stream", "1"),
    _stream_entity("movie", "2"),
    _stream_entity("channel", "3"),
    _stream_entity("station", "4"),
    _stream_entity("episode", "5"),
)  # fmt: skip

_BARE_LISTS = {
    "get_packages": "packages",
    "get_bouquets": "bouquets",
    "get_groups": "users_groups",
    "get_categories": "streams_categories",
    "get_access_codes": "access_codes",
    "get_epgs": "epg",
    "get_transcode_profiles": "profiles",
    "get_rtmp_ips": "rtmp_ips",
}


def bare_list(table: str) -> Handler:
    def handler(state: XMState, params: Params) -> Answer:
        return [dict(row) for row in state.table(table).values()]

    return handler


def _actions() -> dict[str, Handler]:
    actions: dict[str, Handler] = {}
    for entity in ENTITIES:
        actions.update(crud_actions(entity))
    for action, table in _BARE_LISTS.items():
        actions[action] = bare_list(table)
    live, vod = ("1", "3", "4"), ("2", "5")
    for noun, types in (("stream", live), ("channel", live), ("station", live), ("movie", vod), ("episode", vod)):
        actions[f"start_{noun}"] = start_stop(types, True)
        actions[f"stop_{noun}"] = start_stop(types, False)
    return actions


ACTIONS: dict[str, Handler] = _actions()
BARE_LIST_ACTIONS = frozenset(_BARE_LISTS)

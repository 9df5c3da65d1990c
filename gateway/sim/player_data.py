"""What the simulated panel's client side answers: player_api payloads, M3U lines and XMLTV, from the seed tables.

Pure functions over the simulator's tables (gateway.sim.seed), shaped like XUI.one / Xtream Codes answers
(PANELS.md, "Client side"): ids as numbers or strings the way the panels mix them, EPG text base64-encoded.
`origin` is the simulated panel's own `http://host:port`, which real panels put in server_info and in every
playlist URL: exactly what the gateway must hide.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

from gateway.sim.xui_tokens import access_token

Row = dict[str, Any]
Tables = dict[str, dict[int, Row]]

EXTENSIONS = {"1": "ts", "2": "mp4", "3": "ts", "4": "ts", "5": "mkv"}
_TYPES = {"1": "live", "2": "movie", "3": "created_live", "4": "radio_streams", "5": "series"}
EPG_START = 1767225600  # 2026-01-01 00:00 UTC: programmes are hourly slots from here, deterministic
EPG_SLOTS = 6


def _ids(value: Any) -> list[int]:
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return []
    return [int(v) for v in parsed] if isinstance(parsed, list) else []


def mysql_equal(a: str, b: str) -> bool:
    """`a = b` in MySQL under the panel's utf8_unicode_ci collation: case-insensitive, trailing spaces ignored."""
    return a.rstrip(" ").casefold() == b.rstrip(" ").casefold()


def find_line(tables: Tables, username: Any, password: Any) -> Row | None:
    """streaming.php's `SELECT ... FROM lines WHERE username = ? AND password = ?`, compared as MySQL does."""
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        return None
    for row in tables["lines"].values():
        if mysql_equal(row["username"], username) and mysql_equal(row["password"], password):
            return row
    return None


def find_line_by_token(tables: Tables, token: Any) -> Row | None:
    """The line whose 32-hex `access_token` this is (XUI's `getUserInfo(null, $token)`)."""
    if not isinstance(token, str) or not token:
        return None
    return next((row for row in tables["lines"].values() if access_token(row) == token), None)


def line_status(line: Row, now: float) -> str:
    if line["admin_enabled"] != "1":
        return "Banned"
    if line["enabled"] != "1":
        return "Disabled"
    if line["exp_date"] is not None and int(line["exp_date"]) < now:
        return "Expired"
    return "Active"


def login_payload(line: Row, origin_host: str, origin_port: int, active: int) -> dict[str, Any]:
    now = time.time()
    return {
        "user_info": {
            "username": line["username"],
            "password": line["password"],
            "message": "Welcome to the simulated panel",
            "auth": 1,
            "status": line_status(line, now),
            "exp_date": line["exp_date"],
            "is_trial": line["is_trial"],
            "active_cons": str(active),
            "created_at": line["created_at"],
            "max_connections": line["max_connections"],
            "allowed_output_formats": ["m3u8", "ts", "rtmp"],
        },
        "server_info": {
            "url": origin_host,
            "port": str(origin_port),
            "https_port": "443",
            "server_protocol": "http",
            "rtmp_port": "8880",
            "timezone": "Europe/London",
            "timestamp_now": int(now),
            "time_now": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)),
            "process": True,
        },
    }


def _bouquet_ids(tables: Tables, line: Row, column: str) -> set[int]:
    wanted = set(_ids(line["bouquet"]))
    ids: set[int] = set()
    for bouquet in tables["bouquets"].values():
        if int(bouquet["id"]) in wanted:
            ids.update(_ids(bouquet[column]))
    return ids


def categories(tables: Tables, kind: str) -> list[Row]:
    return [
        {"category_id": row["id"], "category_name": row["category_name"], "parent_id": 0}
        for row in tables["streams_categories"].values()
        if row["category_type"] == kind
    ]


def _category(row: Row) -> str:
    ids = _ids(row["category_id"])
    return str(ids[0]) if ids else ""


def live_streams(tables: Tables, line: Row, category_id: str | None) -> list[Row]:
    allowed = _bouquet_ids(tables, line, "bouquet_channels") | _bouquet_ids(tables, line, "bouquet_radios")
    out: list[Row] = []
    for sid in sorted(allowed):
        row = tables["streams"].get(sid)
        if row is None or row["type"] not in ("1", "3", "4"):
            continue
        if category_id and _category(row) != category_id:
            continue
        out.append({
            "num": len(out) + 1, "name": row["stream_display_name"], "stream_type": _TYPES[row["type"]],
            "stream_id": sid, "stream_icon": row["stream_icon"], "epg_channel_id": row["channel_id"],
            "added": row["added"], "is_adult": "0", "category_id": _category(row), "custom_sid": "",
            "tv_archive": int(row["tv_archive_duration"] != "0"), "direct_source": "",
            "tv_archive_duration": int(row["tv_archive_duration"]),
        })  # fmt: skip
    return out


def vod_streams(tables: Tables, line: Row, category_id: str | None) -> list[Row]:
    out: list[Row] = []
    for sid in sorted(_bouquet_ids(tables, line, "bouquet_movies")):
        row = tables["streams"].get(sid)
        if row is None or row["type"] != "2" or (category_id and _category(row) != category_id):
            continue
        out.append({
            "num": len(out) + 1, "name": row["stream_display_name"], "stream_type": "movie", "stream_id": sid,
            "stream_icon": row["stream_icon"], "rating": "6.8", "rating_5based": 3.4, "added": row["added"],
            "is_adult": "0", "category_id": _category(row), "container_extension": "mp4", "custom_sid": "",
            "direct_source": "",
        })  # fmt: skip
    return out


def series_list(tables: Tables, line: Row, category_id: str | None) -> list[Row]:
    out: list[Row] = []
    for series_id in sorted(_bouquet_ids(tables, line, "bouquet_series")):
        row = tables["streams_series"].get(series_id)
        if row is None or (category_id and _category(row) != category_id):
            continue
        out.append({
            "num": len(out) + 1, "name": row["title"], "series_id": series_id, "cover": row["cover"],
            "plot": row["plot"], "cast": row["cast"], "director": row["director"], "genre": row["genre"],
            "releaseDate": row["release_date"], "last_modified": row["last_modified"], "rating": row["rating"],
            "rating_5based": 3.6, "backdrop_path": [], "youtube_trailer": "", "episode_run_time": "45",
            "category_id": _category(row),
        })  # fmt: skip
    return out


def series_info(tables: Tables, origin: str, series_id: Any) -> dict[str, Any] | list[Any]:
    row = tables["streams_series"].get(int(series_id)) if str(series_id).isdigit() else None
    if row is None:
        return []
    episodes: dict[str, list[Row]] = {}
    for ep in tables["streams_episodes"].values():
        if ep["series_id"] != row["id"]:
            continue
        stream = tables["streams"][int(ep["stream_id"])]
        episodes.setdefault(ep["season_num"], []).append({
            "id": ep["stream_id"], "episode_num": int(ep["sort"]), "title": stream["stream_display_name"],
            "container_extension": "mkv", "info": {"duration_secs": 2700, "movie_image": row["cover"]},
            "custom_sid": "", "added": stream["added"], "season": int(ep["season_num"]), "direct_source": "",
        })  # fmt: skip
    seasons = [{"season_number": int(s), "name": f"Season {s}", "episode_count": len(e),
                "cover": f"{origin}/images/series/{row['id']}_s{s}.jpg"}
               for s, e in sorted(episodes.items())]  # fmt: skip
    info = {"name": row["title"], "cover": row["cover"], "plot": row["plot"], "genre": row["genre"],
            "releaseDate": row["release_date"], "last_modified": row["last_modified"], "rating": row["rating"],
            "backdrop_path": [f"{origin}/images/series/{row['id']}_bg.jpg"], "category_id": _category(row)}  # fmt: skip
    return {"seasons": seasons, "info": info, "episodes": episodes}


def vod_info(tables: Tables, origin: str, vod_id: Any) -> dict[str, Any] | list[Any]:
    row = tables["streams"].get(int(vod_id)) if str(vod_id).isdigit() else None
    if row is None or row["type"] != "2":
        return []
    props = json.loads(row["movie_properties"] or "{}")
    info = {**props, "movie_image": f"{origin}/images/movies/{row['id']}.jpg", "tmdb_id": ""}
    data = {"stream_id": int(row["id"]), "name": row["stream_display_name"], "added": row["added"],
            "category_id": _category(row), "container_extension": "mp4", "custom_sid": "",
            "direct_source": ""}  # fmt: skip
    return {"info": info, "movie_data": data}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def epg(tables: Tables, stream_id: Any, limit: int | None, full: bool) -> dict[str, Any]:
    row = tables["streams"].get(int(stream_id)) if str(stream_id).isdigit() else None
    if row is None or row["type"] != "1":
        return {"epg_listings": []}
    listings: list[Row] = []
    for slot in range(EPG_SLOTS if limit is None else min(limit, EPG_SLOTS)):
        start = EPG_START + slot * 3600
        item: Row = {
            "id": str(int(row["id"]) * 100 + slot), "epg_id": row["epg_id"],
            "title": _b64(f"{row['stream_display_name']} programme {slot + 1}"), "lang": "en",
            "start": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(start)),
            "end": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(start + 3600)),
            "description": _b64(f"Episode {slot + 1} on {row['stream_display_name']}."),
            "channel_id": row["channel_id"], "start_timestamp": str(start), "stop_timestamp": str(start + 3600),
        }  # fmt: skip
        if full:
            item.update({"now_playing": 0, "has_archive": int(row["tv_archive_duration"] != "0")})
        listings.append(item)
    return {"epg_listings": listings}


def epg_rows(tables: Tables, stream_ids: str, multi: bool) -> Any:
    """`get_epg` (XC_VM player_api.php): one channel's programmes as a list (`start`/`end` as timestamps), or with
    `multi` (or several ids, `1,2`) a map of stream id to its list."""

    def rows(sid: str) -> list[Row]:
        return [{**item, "start": int(item["start_timestamp"]), "end": int(item["stop_timestamp"])}
                for item in epg(tables, sid, None, full=False)["epg_listings"]]  # fmt: skip

    if stream_ids.isdigit() and not multi:
        return rows(stream_ids)
    return {sid: rows(sid) for sid in stream_ids.split(",") if sid.isdigit()}


# XC_VM's player_api.php takes an action by its number too (`$rValidActions`)
ACTION_NUMBERS = {"200": "get_vod_categories", "201": "get_live_categories", "202": "get_live_streams",
                  "203": "get_vod_streams", "204": "get_series_info", "205": "get_short_epg",
                  "206": "get_series_categories", "207": "get_simple_data_table", "208": "get_series",
                  "209": "get_vod_info"}  # fmt: skip


def m3u_lines(tables: Tables, line: Row, origin: str, plus: bool, output: str,
              kinds: frozenset[str] | None = None) -> Iterator[str]:  # fmt: skip
    """get.php: live channels on the short /u/p/id form, VOD under /movie/, episodes under /series/.

    As XUI's `generatePlaylist` (XC_VM `src/includes/xc_vm.php`): a line with an access token gets
    `/{type}/{token}/{id}.ext` URLs instead of its username and password; m3u_plus marks a channel with an archive
    `timeshift="days"`; `kinds` is get.php's `key` filter (`live,movie,series`)."""
    user, pw = line["username"], line["password"]
    token = access_token(line)
    yield "#EXTM3U"
    groups = {r["id"]: r["category_name"] for r in tables["streams_categories"].values()}
    live_ext = "m3u8" if output in ("m3u8", "hls") else "ts"

    def url(kind: str, sid: int, ext: str) -> str:
        if token:
            return f"{origin}/{kind}/{token}/{sid}.{ext}"
        if kind == "live" and sid % 2 == 0:
            return f"{origin}/{user}/{pw}/{sid}.{ext}"  # panels emit both live forms
        return f"{origin}/{kind}/{user}/{pw}/{sid}.{ext}"

    for item in live_streams(tables, line, None) if kinds is None or "live" in kinds else ():
        attrs = (f'tvg-id="{item["epg_channel_id"] or ""}" tvg-name="{item["name"]}" '
                 f'tvg-logo="{origin}/images/logos/{item["stream_id"]}.png" '
                 f'group-title="{groups.get(item["category_id"], "")}"')  # fmt: skip
        if item["tv_archive"]:
            attrs = f'timeshift="{item["tv_archive_duration"]}" {attrs}'
        yield f"#EXTINF:-1 {attrs},{item['name']}" if plus else f"#EXTINF:-1,{item['name']}"
        yield url("live", item["stream_id"], live_ext)
    for item in vod_streams(tables, line, None) if kinds is None or "movie" in kinds else ():
        yield f'#EXTINF:-1 tvg-name="{item["name"]}" group-title="Movies",{item["name"]}'
        yield url("movie", item["stream_id"], "mp4")
    for series in series_list(tables, line, None) if kinds is None or "series" in kinds else ():
        for ep in tables["streams_episodes"].values():
            if int(ep["series_id"]) == series["series_id"]:
                name = tables["streams"][int(ep["stream_id"])]["stream_display_name"]
                yield f'#EXTINF:-1 tvg-name="{name}" group-title="Series",{name}'
                yield url("series", int(ep["stream_id"]), "mkv")


# XUI's `devices` rows for Enigma2 boxes (`type=` of get.php): `#SERVICE {ESR_ID}{SID}{URL#:}` writes the stream URL
# with each `:` urlencoded (`http%3A//host%3A8080/...`), as the box's bouquet format wants it
E2_DEVICES = {"gigablue": "4097:0:1:0:0:0:0:0:0:0:", "enigma16": "4097:0:1:0:0:0:0:0:0:0:", "dreambox": ""}


def e2_bouquet(m3u: Iterator[str], device: str) -> Iterator[str]:
    """An Enigma2 bouquet (XUI `generatePlaylist` with an Enigma2 device) from the M3U's lines, each line ended."""
    yield "#NAME Simulated panel\n"
    name = ""
    for text in m3u:
        if text.startswith("#EXTINF"):
            name = text.rsplit(",", 1)[-1]
        elif not text.startswith("#"):
            live = "/movie/" not in text and "/series/" not in text
            service = E2_DEVICES[device] or ("1" if live else "4097") + ":0:1:0:0:0:0:0:0:0:"
            yield f"#SERVICE {service}{text.replace(':', '%3A')}\r\n#DESCRIPTION {name}\r\n"


def xmltv_chunks(tables: Tables, origin: str, repeat: int) -> Iterator[str]:
    """An XMLTV document; `repeat` multiplies the programmes to make it as large as a test wants."""
    yield '<?xml version="1.0" encoding="utf-8" ?>\n<!DOCTYPE tv SYSTEM "xmltv.dtd">\n'
    yield f'<tv generator-info-name="Simulated panel" generator-info-url="{origin}/">\n'
    channels = [r for r in tables["streams"].values() if r["type"] == "1"]
    for row in channels:
        yield (f'  <channel id="{row["channel_id"]}">\n    <display-name>{row["stream_display_name"]}</display-name>\n'
               f'    <icon src="{origin}/images/logos/{row["id"]}.png" />\n  </channel>\n')  # fmt: skip
    for rep in range(repeat):
        for row in channels:
            parts = []
            for slot in range(EPG_SLOTS):
                start = time.strftime("%Y%m%d%H%M%S +0000", time.gmtime(EPG_START + (rep * EPG_SLOTS + slot) * 3600))
                stop = time.strftime("%Y%m%d%H%M%S +0000", time.gmtime(EPG_START + (rep * EPG_SLOTS + slot + 1) * 3600))
                parts.append(f'  <programme start="{start}" stop="{stop}" channel="{row["channel_id"]}">\n'
                             f'    <title>{row["stream_display_name"]} programme {slot + 1}</title>\n'
                             f'    <icon src="{origin}/images/epg/{row["id"]}_{slot}.jpg" />\n'
                             '  </programme>\n')  # fmt: skip
            yield "".join(parts)
    yield "</tv>\n"


def add_line(tables: Tables, username: str, password: str, max_connections: int) -> Row:
    """A new active line (a copy of line 3: every bouquet, no expiry): a viewer or provider line of a test or bench."""
    lines = tables["lines"]
    line_id = max(lines) + 1
    row = {**lines[3], "id": str(line_id), "username": username, "password": password,
           "max_connections": str(max_connections), "access_token": None}  # fmt: skip
    lines[line_id] = row
    return row

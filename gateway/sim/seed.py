"""Deterministic demo data shared by the simulated panels.

Rows use the XUI.one / Xtream UI column names and come back the way MySQL hands them to PHP: every value a string
(ids too) or None for NULL. Nothing here is random and nothing depends on the clock: timestamps are fixed, active
lines expire in 2031 and expired lines expired in 2024, so a status stays what the seed says it is.

`build()` returns fresh tables each call: {table name: {id: row}}.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

Row = dict[str, Any]
Tables = dict[str, dict[int, Row]]

T0 = 1735689600  # 2025-01-01 00:00:00 UTC: "created" timestamps are offsets from here
FUTURE = 1924992000  # 2031-01-01: active lines expire here (plus a per-line offset)
PAST = 1717200000  # 2024-06-01: expired lines expired here (plus a per-line offset)
DAY = 86400

ADMIN_ID = 1
RESELLER_IDS = (88, 89)

_FIRST = (
    "ahmed",
    "maria",
    "jonas",
    "lucia",
    "omar",
    "chen",
    "ines",
    "pavel",
    "sara",
    "tomas",
    "yusuf",
    "elena",
    "kofi",
    "nina",
    "diego",
    "hana",
    "ivan",
    "leila",
    "marco",
    "zoe",
)


def _s(value: int | str) -> str:
    return str(value)


def _j(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def password_for(seed: str) -> str:
    """A stable 10-character password derived from a seed string."""
    return hashlib.sha256(seed.encode()).hexdigest()[:10]


def _line(line_id: int, member_id: int, username: str, kind: str, **extra: Any) -> Row:
    """kind: active, disabled, banned, expired, trial."""
    created = T0 + line_id * DAY
    exp: int | None = FUTURE + line_id * 3600
    if kind == "expired":
        exp = PAST + line_id * 3600
    elif kind == "trial":
        exp = FUTURE + line_id * 60
    if line_id % 13 == 0 and kind == "active":
        exp = None  # a few unlimited lines
    bouquets = [1, 2, 3] if line_id % 3 else [1, 2, 3, 4, 5]
    row: Row = {
        "id": _s(line_id),
        "member_id": _s(member_id),
        "username": username,
        "password": password_for(f"line-{line_id}"),
        "last_ip": None,
        "exp_date": None if exp is None else _s(exp),
        "admin_enabled": "0" if kind == "banned" else "1",
        "enabled": "0" if kind == "disabled" else "1",
        "admin_notes": "",
        "reseller_notes": "paid by bank transfer" if line_id % 7 == 0 else "",
        "bouquet": _j(bouquets),
        "allowed_outputs": "[1,2,3]",
        "max_connections": "2" if line_id % 5 == 0 else "1",
        "is_restreamer": "1" if line_id % 17 == 0 else "0",
        "is_trial": "1" if kind == "trial" else "0",
        "is_mag": "0",
        "is_e2": "0",
        "is_stalker": "0",
        "is_isplock": "0",
        "allowed_ips": "[]",
        "allowed_ua": "[]",
        "created_at": _s(created),
        "created_by": _s(member_id),
        "pair_id": None,
        "force_server_id": "0",
        "as_number": None,
        "isp_desc": "",
        "forced_country": "",
        "bypass_ua": "0",
        "play_token": "",
        "package_id": "4" if kind == "trial" else _s(1 + line_id % 3),
        "access_token": None,
        "contact": f"+44 7700 900{line_id:03d}" if line_id % 4 == 0 else "",
        "last_activity": None,
        "last_activity_array": None,
        "updated": None,
    }
    row.update(extra)
    return row


def _lines() -> dict[int, Row]:
    kinds = ("active", "active", "active", "active", "active", "active", "disabled", "banned", "expired", "trial")
    rows: dict[int, Row] = {}
    for i in range(1, 61):
        member = ADMIN_ID if i <= 20 else (88 if i <= 40 else 89)
        name = f"{_FIRST[(i - 1) % len(_FIRST)]}{i:02d}"
        rows[i] = _line(i, member, name, kinds[i % 10])
    # device lines: hidden behind MAG (61-63) and Enigma2 (64-65) devices
    for i in range(61, 66):
        mag = i <= 63
        rows[i] = _line(
            i,
            ADMIN_ID if i in (61, 64) else 88,
            f"{'mag' if mag else 'e2'}{i}x{password_for(f'dev-{i}')[:6]}",
            "active",
            is_mag="1" if mag else "0",
            is_e2="0" if mag else "1",
        )
    return rows


def _groups() -> dict[int, Row]:
    def group(gid: int, name: str, admin: bool, reseller: bool) -> Row:
        return {
            "group_id": _s(gid),
            "group_name": name,
            "group_color": ("#dc3545", "#28a745", "#17a2b8")[gid - 1],
            "is_admin": "1" if admin else "0",
            "is_reseller": "1" if reseller else "0",
            "total_allowed_gen_trials": "0" if admin else "10",
            "total_allowed_gen_in": "day",
            "delete_users": "1",
            "allowed_pages": "[]",
            "can_delete": "0" if gid <= 2 else "1",
            "create_sub_resellers": "1" if gid == 2 else "0",
            "create_sub_resellers_price": "0",
            "reseller_client_connection_logs": "1",
            "can_view_vod": "1",
            "allow_download": "1",
            "minimum_trial_credits": "0",
            "allow_restrictions": "1",
            "allow_change_username": "1",
            "allow_change_password": "1",
            "minimum_username_length": "8",
            "minimum_password_length": "8",
            "allow_change_bouquets": "0",
            "notice_html": "",
            "subresellers": "[]" if gid != 2 else "[3]",
        }

    return {
        1: group(1, "Administrators", True, False),
        2: group(2, "Resellers", False, True),
        3: group(3, "Sub-Resellers", False, True),
    }


def _users() -> dict[int, Row]:
    def user(uid: int, name: str, group: int, owner: int, credits: int, **extra: Any) -> Row:
        row: Row = {
            "id": _s(uid),
            "username": name,
            "password": "$6$rounds=20000$xtreamcodes$" + password_for(f"user-{uid}"),
            "email": f"{name}@example.com",
            "ip": f"198.51.100.{uid % 250}",
            "date_registered": _s(T0 + uid * 3600),
            "last_login": _s(T0 + 300 * DAY + uid),
            "member_group_id": _s(group),
            "credits": _s(credits),
            "notes": "",
            "status": "1",
            "reseller_dns": "",
            "owner_id": _s(owner),
            "override_packages": None,
            "hue": "",
            "theme": "0",
            "timezone": "Europe/London",
            # XUI.one keys are 32 hex characters; a reseller's key opens the reseller API
            "api_key": hashlib.sha256(f"key-{uid}".encode()).hexdigest()[:32].upper(),
        }
        row.update(extra)
        return row

    return {
        1: user(1, "admin", 1, 0, 0),
        88: user(88, "north_tv", 2, 1, 500, reseller_dns="north.example.com", notes="North region"),
        89: user(89, "south_stream", 2, 1, 120, reseller_dns="south.example.com", notes="South region"),
        90: user(90, "harbour_sub", 3, 88, 15, notes="sub-reseller of north_tv"),
    }


def _packages() -> dict[int, Row]:
    def pkg(
        pid: int,
        name: str,
        trial: bool,
        credits: int,
        duration: int,
        unit: str,
        bouquets: list[int],
        conns: int = 1,
        restreamer: bool = False,
    ) -> Row:
        return {
            "id": _s(pid),
            "package_name": name,
            "is_addon": "0",
            "is_trial": "1" if trial else "0",
            "is_official": "0" if trial else "1",
            "trial_credits": "0",
            "official_credits": _s(credits),
            "trial_duration": _s(duration) if trial else "0",
            "trial_duration_in": unit if trial else "day",
            "official_duration": "0" if trial else _s(duration),
            "official_duration_in": "day" if trial else unit,
            "groups": "[2,3]",
            "bouquets": _j(bouquets),
            "addon_packages": "[]",
            "is_line": "1",
            "is_mag": "1",
            "is_e2": "1",
            "is_restreamer": "1" if restreamer else "0",
            "is_isplock": "0",
            "output_formats": "[1,2,3]",
            "max_connections": _s(conns),
            "force_server_id": "0",
            "forced_country": "",
            "lock_device": "0",
            "check_compatible": "1",
        }

    return {
        1: pkg(1, "1 Month Basic", False, 1, 1, "month", [1, 2, 3]),
        2: pkg(2, "3 Months Basic", False, 3, 3, "month", [1, 2, 3]),
        3: pkg(3, "12 Months Full", False, 10, 12, "month", [1, 2, 3, 4, 5, 6], conns=2),
        4: pkg(4, "24h Trial", True, 0, 24, "hour", [1, 2]),
        5: pkg(5, "Restreamer 1 Month", False, 5, 1, "month", [1, 2, 3, 4], conns=5, restreamer=True),
    }


_LIVE = (
    "BBC One HD",
    "BBC Two HD",
    "ITV 1 HD",
    "Channel 4 HD",
    "Sky News",
    "CNN International",
    "Al Jazeera English",
    "France 24",
    "Sky Sports Main Event",
    "Sky Sports Premier League",
    "BT Sport 1",
    "Eurosport 1",
    "beIN Sports 1",
    "Cartoon Network",
    "Nickelodeon",
    "Disney Junior",
    "MTV Hits",
    "VH1 Classic",
    "Kiss TV",
    "Capital TV",
)
_LIVE_CATEGORY = (1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 4, 4, 4, 4)
_MOVIES = (
    ("The Long Road", 2019, 5),
    ("Harbour Lights", 2021, 7),
    ("Last Train to Leeds", 2018, 6),
    ("Iron Orchard", 2022, 5),
    ("Paper Moons", 2017, 6),
    ("A Quiet Heist", 2020, 5),
    ("Northern Static", 2023, 7),
    ("The Baker's Dozen", 2016, 6),
    ("Salt and Signal", 2021, 7),
    ("Blue Hour", 2024, 7),
)
_SERIES = (("Coastline", 8, 2019), ("Signal Lost", 9, 2021), ("The Dockside Files", 8, 2022))


def _stream(sid: int, stype: int, name: str, category: int, **extra: Any) -> Row:
    ext = {1: "ts", 2: "mp4", 3: "ts", 4: "mp3", 5: "mkv"}[stype]
    row: Row = {
        "id": _s(sid),
        "type": _s(stype),
        "category_id": _j([category]),
        "stream_display_name": name,
        "stream_source": _j([f"http://origin.example.net/src/{sid}.{ext}"]),
        "stream_icon": f"https://img.example.net/logos/{sid}.png",
        "notes": "",
        "enable_transcode": "0",
        "transcode_attributes": "[]",
        "custom_ffmpeg": "",
        "movie_properties": None,
        "movie_subtitles": "[]",
        "read_native": "0",
        "target_container": ext if stype in (2, 5) else None,
        "stream_all": "0",
        "remove_subtitles": "0",
        "custom_sid": "",
        "epg_api": "0",
        "epg_id": "1" if stype == 1 else None,
        "channel_id": f"{name.lower().replace(' ', '')}.uk" if stype == 1 else None,
        "epg_lang": None,
        "order": _s(sid),
        "auto_restart": "[]",
        "transcode_profile_id": "0",
        "gen_timestamps": "1",
        "added": _s(T0 + sid * 600),
        "series_no": "0",
        "direct_source": "0",
        "tv_archive_duration": "3" if stype == 1 and sid <= 5 else "0",
        "tv_archive_server_id": "1" if stype == 1 and sid <= 5 else "0",
        "rtmp_output": "0",
        "allow_record": "1",
        "probesize_ondemand": "128000",
        "delay_minutes": "0",
        "year": None,
        "rating": "0",
        "tmdb_id": None,
        "updated": None,
    }
    row.update(extra)
    return row


def _content() -> tuple[dict[int, Row], dict[int, Row], dict[int, Row], dict[int, Row]]:
    streams: dict[int, Row] = {}
    for i, name in enumerate(_LIVE, start=1):
        streams[i] = _stream(i, 1, name, _LIVE_CATEGORY[i - 1])
    for i, (title, year, cat) in enumerate(_MOVIES, start=21):
        props = {
            "name": title,
            "year": str(year),
            "plot": f"{title}: a story.",
            "duration_secs": 5400 + i * 60,
            "rating": "6.8",
            "genre": "Drama",
            "cover_big": f"https://img.example.net/covers/{i}.jpg",
        }
        streams[i] = _stream(i, 2, f"{title} ({year})", cat, movie_properties=_j(props), year=str(year))
    streams[31] = _stream(31, 3, "24/7 Classic Comedy", 6)
    streams[32] = _stream(32, 3, "24/7 Nature Loop", 1)
    streams[33] = _stream(33, 4, "Capital FM", 10)
    streams[34] = _stream(34, 4, "BBC Radio 2", 10)
    series: dict[int, Row] = {}
    episodes: dict[int, Row] = {}
    sid = 35
    for n, (title, cat, year) in enumerate(_SERIES, start=1):
        series[n] = {
            "id": _s(n),
            "title": title,
            "category_id": _j([cat]),
            "cover": f"https://img.example.net/series/{n}.jpg",
            "cover_big": f"https://img.example.net/series/{n}_big.jpg",
            "genre": "Drama",
            "plot": f"{title}.",
            "cast": "",
            "rating": "7.2",
            "director": "",
            "release_date": f"{year}-09-01",
            "last_modified": _s(T0 + n * DAY),
            "tmdb_id": None,
            "seasons": "[]",
            "episode_run_time": "45",
            "backdrop_path": "[]",
            "youtube_trailer": "",
            "tmdb_language": "en",
            "year": _s(year),
            "similar": "[]",
        }
        for season in (1, 2):
            for ep in (1, 2, 3):
                name = f"{title} - S{season:02d}E{ep:02d}"
                streams[sid] = _stream(sid, 5, name, cat, series_no=_s(n))
                episodes[sid] = {
                    "id": _s(sid),
                    "season_num": _s(season),
                    "series_id": _s(n),
                    "stream_id": _s(sid),
                    "sort": _s(ep),
                }
                sid += 1
    # which stream runs on which server, and whether it is up
    placements: dict[int, Row] = {}
    pid = 1
    for stream_id, row in streams.items():
        for server in (1, 2) if row["type"] == "1" and stream_id <= 10 else (1,):
            running = row["type"] in ("1", "3", "4") and stream_id % 9 != 0
            placements[pid] = {
                "server_stream_id": _s(pid),
                "stream_id": _s(stream_id),
                "server_id": _s(server),
                "parent_id": None,
                "pid": _s(20000 + pid) if running else None,
                "to_analyze": "0",
                "stream_status": "0" if running else "1",
                "stream_started": _s(T0 + 400 * DAY) if running else None,
                "bitrate": "4200" if running else None,
                "on_demand": "0",
                "monitor_pid": _s(30000 + pid) if running else None,
            }
            pid += 1
    return streams, series, episodes, placements


def _categories() -> dict[int, Row]:
    cats = [
        ("live", "News"),
        ("live", "Sports"),
        ("live", "Kids"),
        ("live", "Music"),
        ("movie", "Action"),
        ("movie", "Comedy"),
        ("movie", "Drama"),
        ("series", "Drama Series"),
        ("series", "Crime Series"),
        ("radio", "Radio UK"),
    ]
    return {
        i: {
            "id": _s(i),
            "category_type": ctype,
            "category_name": name,
            "parent_id": "0",
            "cat_order": _s(i),
            "is_adult": "0",
        }
        for i, (ctype, name) in enumerate(cats, start=1)
    }


def _bouquets() -> dict[int, Row]:
    spec = [
        ("Entertainment", [1, 2, 3, 4, 31], [], [], [33, 34]),
        ("News", [5, 6, 7, 8], [], [], []),
        ("Sports", [9, 10, 11, 12, 13], [], [], []),
        ("Kids", [14, 15, 16], [], [], []),
        ("Movies & Series", [], list(range(21, 31)), [1, 2, 3], []),
        ("Music", [17, 18, 19, 20, 32], [], [], []),
    ]
    return {
        i: {
            "id": _s(i),
            "bouquet_name": name,
            "bouquet_channels": _j(ch),
            "bouquet_movies": _j(mv),
            "bouquet_radios": _j(rd),
            "bouquet_series": _j(se),
            "bouquet_order": _s(i),
        }
        for i, (name, ch, mv, se, rd) in enumerate(spec, start=1)
    }


def _servers() -> dict[int, Row]:
    def server(sid: int, name: str, ip: str, main: bool) -> Row:
        return {
            "id": _s(sid),
            "server_name": name,
            "domain_name": f"s{sid}.panel.example.net",
            "server_ip": ip,
            "private_ip": f"10.0.0.{sid}",
            "is_main": "1" if main else "0",
            "parent_id": None,
            "http_broadcast_port": "80",
            "https_broadcast_port": "443",
            "http_ports_add": "",
            "https_ports_add": "",
            "rtmp_port": "8880",
            "total_clients": "1000",
            "network_interface": "eth0",
            "status": "1",
            "enable_geoip": "0",
            "geoip_countries": "[]",
            "last_check_ago": _s(T0 + 400 * DAY),
            "can_delete": "0" if main else "1",
            "server_hardware": _j({"cpu": "Intel Xeon E-2288G", "total_ram": 64}),
            "total_services": "4",
            "persistent_connections": "0",
            "geoip_type": "low_priority",
            "isp_names": "[]",
            "isp_type": "low_priority",
            "enable_isp": "0",
            "boost_fpm": "1",
            "network_guaranteed_speed": "1000",
            "timeshift_only": "0",
            "whitelist_ips": "[]",
            "enable_proxy": "0",
            "is_proxy": "0",
            "requests_per_second": "12" if main else "7",
            "time_offset": "0",
            "enable_https": "1",
        }

    return {1: server(1, "Main Server", "203.0.113.10", True), 2: server(2, "LB London 1", "203.0.113.20", False)}


def _devices() -> tuple[dict[int, Row], dict[int, Row]]:
    macs = ("00:1A:79:4B:2C:01", "00:1A:79:4B:2C:02", "00:1A:79:7F:10:9E")
    mags = {
        i: {
            "mag_id": _s(i),
            "user_id": _s(60 + i),
            "mac": mac,
            "sn": f"0{i}2019N0{i}4512",
            "stb_type": "MAG322",
            "image_version": "218",
            "hw_version": "2.6-IB-00",
            "ip": None,
            "ver": "ImageDescription: 0.2.18-r14",
            "lock_device": "0",
            "created": _s(T0 + (60 + i) * DAY),
            "last_watchdog": None,
            "theme_type": "0",
            "stb_lang": "en",
            "watchdog_timeout": "0",
            "fav_channels": "[]",
        }
        for i, mac in enumerate(macs, start=1)
    }
    e2macs = ("00:1D:EC:0E:11:01", "00:1D:EC:0E:11:02")
    enigmas = {
        i: {
            "device_id": _s(i),
            "user_id": _s(63 + i),
            "mac": mac,
            "modem_mac": "",
            "local_ip": f"192.168.1.{20 + i}",
            "public_ip": f"198.51.100.{60 + i}",
            "key_auth": "",
            "enigma_version": "OpenATV 7.2",
            "cpu": "BCM7251S",
            "version": "1.5",
            "lversion": "1.5",
            "token": "",
            "last_updated": _s(T0 + 200 * DAY),
            "watchdog_timeout": "0",
            "lock_ver": "0",
            "rc": "0",
            "original_mac": mac,
        }
        for i, mac in enumerate(e2macs, start=1)
    }
    return mags, enigmas


def _small() -> Tables:
    return {
        "access_codes": {
            1: {"id": "1", "code": "admin", "type": "0", "enabled": "1", "groups": "[1]", "whitelist": "[]"},
            2: {"id": "2", "code": "reseller", "type": "1", "enabled": "1", "groups": "[2,3]", "whitelist": "[]"},
            3: {"id": "3", "code": "ministra", "type": "2", "enabled": "1", "groups": "[1]", "whitelist": "[]"},
        },
        "epg": {
            1: {
                "id": "1",
                "epg_name": "UK Freeview",
                "epg_file": "http://epg.example.net/uk.xml.gz",
                "last_updated": _s(T0 + 400 * DAY),
                "days_keep": "7",
                "data": "[]",
                "offset": "0",
            },
            2: {
                "id": "2",
                "epg_name": "Sports Extra",
                "epg_file": "http://epg.example.net/sports.xml",
                "last_updated": _s(T0 + 400 * DAY),
                "days_keep": "3",
                "data": "[]",
                "offset": "0",
            },
        },
        "profiles": {
            1: {
                "profile_id": "1",
                "profile_name": "H264 720p 2.5M",
                "profile_options": _j({"-vcodec": "libx264", "-b:v": "2500k", "-s": "1280x720"}),
            },
            2: {"profile_id": "2", "profile_name": "Audio AAC 128k", "profile_options": _j({"-acodec": "aac"})},
        },
        "rtmp_ips": {
            1: {
                "id": "1",
                "ip": "203.0.113.50",
                "password": "rtmp-push-1",
                "notes": "studio encoder",
                "push": "1",
                "pull": "0",
            },
            2: {"id": "2", "ip": "203.0.113.51", "password": "", "notes": "backup", "push": "1", "pull": "1"},
        },
        "blocked_ips": {
            i: {"id": _s(i), "ip": ip, "notes": note, "date": _s(T0 + i * DAY), "attempts_blocked": _s(i * 11)}
            for i, (ip, note) in enumerate(
                (("192.0.2.66", "flood"), ("192.0.2.67", "brute force"), ("198.51.100.250", "restream abuse")), start=1
            )
        },
        "blocked_uas": {
            1: {
                "id": "1",
                "user_agent": "VLC/3.0.0 LibVLC/3.0.0 (scraper)",
                "exact_match": "1",
                "attempts_blocked": "4",
            },
            2: {"id": "2", "user_agent": "python-requests", "exact_match": "0", "attempts_blocked": "19"},
        },
        "blocked_isps": {
            1: {"id": "1", "isp": "Example Hosting Ltd", "blocked": "1"},
            2: {"id": "2", "isp": "Cheap VPS GmbH", "blocked": "1"},
        },
    }


def _logs() -> Tables:
    return {
        "line_activity": {
            i: {
                "activity_id": _s(i),
                "user_id": _s(i),
                "stream_id": _s(i % 20 + 1),
                "server_id": "1",
                "proxy_id": "0",
                "user_agent": "IPTVSmartersPro",
                "user_ip": f"198.51.100.{i}",
                "container": "ts",
                "date_start": _s(T0 + 390 * DAY + i * 60),
                "date_end": _s(T0 + 390 * DAY + i * 600),
                "geoip_country_code": "GB",
                "isp": "Example Broadband",
                "external_device": "",
                "divergence": "0",
            }
            for i in range(1, 6)
        },
        "lines_live": {
            i: {
                "activity_id": _s(100 + i),
                "user_id": _s(i),
                "stream_id": _s(i + 8),
                "server_id": _s(1 + i % 2),
                "proxy_id": "0",
                "user_agent": "TiviMate/4.7.0",
                "user_ip": f"203.0.113.{100 + i}",
                "container": "ts",
                "pid": _s(41000 + i),
                "date_start": _s(T0 + 400 * DAY + i * 30),
                "geoip_country_code": "GB",
                "isp": "Example Fibre",
                "hls_end": "0",
                "fingerprinting": "0",
            }
            for i in range(1, 4)
        },
        "credits_log": {
            1: {
                "id": "1",
                "target_id": "88",
                "admin_id": "1",
                "amount": "500",
                "date": _s(T0 + 10 * DAY),
                "reason": "opening balance",
            },
            2: {
                "id": "2",
                "target_id": "89",
                "admin_id": "1",
                "amount": "120",
                "date": _s(T0 + 11 * DAY),
                "reason": "opening balance",
            },
        },
        "client_logs": {
            1: {
                "id": "1",
                "stream_id": "5",
                "user_id": "7",
                "client_status": "LINE_DISABLED",
                "query_string": "",
                "user_agent": "VLC/3.0.18",
                "ip": "198.51.100.7",
                "extra_data": "",
                "date": _s(T0 + 380 * DAY),
            },
        },
        "reg_user_logs": {
            1: {
                "id": "1",
                "owner": "88",
                "username": "maria22",
                "type": "line",
                "action": "new",
                "log_id": "22",
                "package_id": "1",
                "cost": "1",
                "credits_after": "500",
                "date": _s(T0 + 22 * DAY),
                "deleted_info": "",
            },
        },
        "stream_errors": {
            1: {
                "id": "1",
                "stream_id": "9",
                "server_id": "1",
                "date": _s(T0 + 399 * DAY),
                "error": "Connection to tcp://origin.example.net:80 failed: Connection timed out",
            },
        },
        "watch_output": {
            1: {
                "id": "1",
                "type": "1",
                "server_id": "1",
                "filename": "/media/movies/Blue.Hour.2024.mkv",
                "status": "1",
                "stream_id": "30",
                "dateadded": _s(T0 + 350 * DAY),
            },
        },
        "mysql_syslog": {
            1: {
                "id": "1",
                "error": "Aborted connection 4411 to db: 'xc_vm' user: 'user_iptvpro'",
                "username": "",
                "ip": "127.0.0.1",
                "database": "xc_vm",
                "type": "Warning",
                "date": _s(T0 + 398 * DAY),
            },
        },
        "login_logs": {
            1: {
                "id": "1",
                "type": "ADMIN",
                "access_code": "1",
                "user_id": "1",
                "status": "SUCCESS",
                "login_ip": "198.51.100.1",
                "date": _s(T0 + 400 * DAY),
            },
            2: {
                "id": "2",
                "type": "RESELLER",
                "access_code": "2",
                "user_id": "88",
                "status": "INVALID_LOGIN",
                "login_ip": "192.0.2.66",
                "date": _s(T0 + 400 * DAY + 60),
            },
        },
        "restream_logs": {
            1: {"id": "1", "user_id": "17", "stream_id": "9", "ip": "192.0.2.90", "date": _s(T0 + 397 * DAY)},
        },
        "mag_events": {
            1: {
                "id": "1",
                "status": "0",
                "mag_device_id": "1",
                "event": "send_msg",
                "need_confirm": "0",
                "msg": "Maintenance tonight 02:00-03:00",
                "reboot_after_ok": "0",
                "auto_hide_timeout": "0",
                "send_time": _s(T0 + 396 * DAY),
                "additional_services_on": "1",
                "anec": "0",
                "vclub": "0",
            },
        },
    }


def build() -> Tables:
    """Fresh seeded tables. Keys are the panel's table names (`users` are the registered users / resellers)."""
    streams, series, episodes, placements = _content()
    mags, enigmas = _devices()
    tables: Tables = {
        "lines": _lines(),
        "users": _users(),
        "users_groups": _groups(),
        "packages": _packages(),
        "bouquets": _bouquets(),
        "streams_categories": _categories(),
        "streams": streams,
        "streams_series": series,
        "streams_episodes": episodes,
        "streams_servers": placements,
        "servers": _servers(),
        "mag_devices": mags,
        "enigma2_devices": enigmas,
    }
    tables.update(_small())
    tables.update(_logs())
    return tables


TABLE_NAMES = tuple(build())


def empty() -> Tables:
    """The same tables with no rows, except the admin user and its group (the API key must belong to someone)."""
    full = build()
    tables: Tables = {name: {} for name in full}
    tables["users"][ADMIN_ID] = full["users"][ADMIN_ID]
    tables["users_groups"][1] = full["users_groups"][1]
    return tables

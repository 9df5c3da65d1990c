"""Credentials and tokens in the player routes a panel serves are redacted from access log lines."""

from __future__ import annotations

import pytest

from gateway.accesslog import redact, scrub

TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
PLAY = "Xy3_q-9ZkLmN0pQrStUvWx"


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        (f"/live/{TOKEN}/12.ts", "", "/live/***/12.ts"),
        (f"/live/{TOKEN}/12", "", "/live/***/12"),
        (f"/movie/{TOKEN}/21.mp4", "", "/movie/***/21.mp4"),
        (f"/timeshift/{TOKEN}/60/2026-01-01:10-00/12.ts", "", "/timeshift/***/60/2026-01-01:10-00/12.ts"),
        ("/timeshift/alice/s3cret/60/2026-01-01:10-00/12.ts", "", "/timeshift/alice/***/60/2026-01-01:10-00/12.ts"),
        ("/live/alice/s3cret/12", "", "/live/alice/***/12"),
        ("/alice/s3cret/12", "", "/alice/***/12"),
        (f"/play/{PLAY}", "", "/play/***"),
        (f"/play/{PLAY}/m3u8", "", "/play/***"),
        (f"/key/{PLAY}", "", "/key/***"),
        (f"/hls/{PLAY}", "", "/hls/***"),
        (f"/tsauth/{PLAY}", "", "/tsauth/***"),
        ("/player_api/alice/s3cret", "", "/player_api/alice/***"),
        ("/player_api/alice/s3cret/get_live_streams", "", "/player_api/alice/***/get_live_streams"),
        ("/playlist/alice/s3cret/m3u_plus", "", "/playlist/alice/***/m3u_plus"),
        ("/epg/alice/s3cret/gz", "", "/epg/alice/***/gz"),
        ("/subtitle/alice/s3cret/2/21", "", "/subtitle/alice/***/2/21"),
        ("/thumb/alice/s3cret/1", "", "/thumb/alice/***/1"),
        (f"/thumb/{TOKEN}/1", "", "/thumb/***/1"),
        ("/get.php", f"token={TOKEN}&type=m3u&key=live", "/get.php?token=***&type=m3u&key=***"),
        ("/streaming/timeshift.php", "username=alice&password=s3cret&stream=1",
         "/streaming/timeshift.php?username=alice&password=***&stream=1"),
        ("/portal.php", "type=stb&action=handshake&mac=00:1A:79:00:00:01",
         "/portal.php?type=stb&action=handshake&mac=***"),
        ("/c/portal.php", f"type=itv&action=create_link&cmd=ffmpeg+http://gw/play/{PLAY}",
         "/c/portal.php?type=itv&action=create_link&cmd=***"),
    ],
)  # fmt: skip
def test_player_routes_are_redacted(path: str, query: str, expected: str) -> None:
    assert redact(path, query) == expected


def test_free_text_loses_macs_and_links() -> None:
    line = "GET /portal.php?type=itv&mac=00:1A:79:00:00:01&cmd=ffmpeg%20http://x/play/abc HTTP/1.1"
    assert scrub(line) == "GET /portal.php?type=itv&mac=***&cmd=*** HTTP/1.1"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # aiohttp routes the decoded path: each of these is the route its decoded form names
        ("/%6Cive/alice/s3cret/12.ts", "/live/alice/***/12.ts"),
        ("/%6cive/alice/s3cret/12.ts", "/live/alice/***/12.ts"),
        ("/%74imeshift/alice/s3cret/60/2026-01-01:10-00/12.ts", "/timeshift/alice/***/60/2026-01-01:10-00/12.ts"),
        ("/%70layer_api/alice/s3cret", "/player_api/alice/***"),
        ("/alice/s3cret/%31.ts", "/alice/***/1.ts"),
        ("/alice/s3cret/1%2Ets", "/alice/***/1.ts"),
        ("/alice/s3cret/1.%C3%A9", "/alice/***/1.%C3%A9"),  # `\w` of the route takes a letter of any script
        ("/alice/s3cret/%D9%A1", "/alice/***/%D9%A1"),  # and `\d` a digit of any script
        (f"/%70lay/{PLAY}", "/play/***"),
        ("/%6B/pg_secret/api.php", "/k/***/api.php"),
        ("/%61pi/resellers/list/pg_secret", "/api/resellers/list/***"),
        # still one segment: an encoded `/` or `%` is not decoded (nor by the router)
        ("/live/alice/pa%2Fss%25w0rd/12.ts", "/live/alice/***/12.ts"),
    ],
)  # fmt: skip
def test_a_path_is_redacted_as_it_was_routed(path: str, expected: str) -> None:
    assert redact(path, "") == expected


def test_a_logged_path_has_no_quote_space_or_control_character() -> None:
    assert redact('/x"y z\x1b[31m/%0A', "") == "/x%22y%20z%1B%5B31m/%0A"


@pytest.mark.parametrize("name", ["password%00", "password%00x", "password%00%5B", "token%00.ts", "mac%00"])
def test_a_name_php_cuts_at_a_nul_is_redacted_as_php_reads_it(name: str) -> None:
    """PHP reads a parameter's name up to a NUL byte; `/streaming/*.php` and the portal relay their query to the
    panel as it came, so `password%00x=...` opens the line there and was logged in clear here."""
    logged = redact("/streaming/live.php", f"username=alice&{name}=s3cret&stream=1")
    assert "s3cret" not in logged, logged


def test_an_origin_id_is_redacted_like_the_token_it_seals() -> None:
    """`/_o/{id}/...` relays the one upstream URL sealed in the id (a load balancer's `/hls/{token}/...` or
    `/auth/{token}`) to anyone who presents it, from any address, for Origins.VALID_HOURS: the access log kept the
    id that the panel's own token, redacted as `/hls/***`, was exchanged for."""
    from gateway.clientside.rewrite import Origins

    oid = Origins().id_for("http://lb.example:8080/hls/0f1e2d3c4b5a6978/1_1.ts")
    logged = redact(f"/_o/{oid}/1_1.ts", "")
    assert oid not in logged and logged == "/_o/***"

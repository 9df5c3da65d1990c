"""A live HLS media playlist read from the panel and written for a viewer (gateway.clientside.hls_playlist)."""

from __future__ import annotations

import pytest

from gateway.clientside.hls_playlist import DEFAULT_SECONDS, parse

PANEL = "http://panel.example:8080"
XC_VM = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:1200
#EXT-X-KEY:METHOD=AES-128,URI="/key/KEYTOKEN",IV=0x00112233445566778899aabbccddeeff
#EXTINF:4.000000,
/hls/TOKEN-1200-user-secret
#EXTINF:3.960000,
http://lb.example:25461/hls/1_1201.ts?token=TOKEN-1201
#EXT-X-DISCONTINUITY
#EXTINF:4.0,
seg/1_1202.aac
"""


def test_segments_are_named_by_sequence_and_keys_by_url() -> None:
    playlist = parse(XC_VM, f"{PANEL}/auth/AUTHTOKEN")
    assert playlist is not None
    assert (playlist.target, playlist.sequence) == (4.0, 1200)
    segments = {n: r for n, r in playlist.resources.items() if r.seconds}
    assert {n: (r.url, r.seconds) for n, r in segments.items()} == {
        "1200.ts": (f"{PANEL}/hls/TOKEN-1200-user-secret", 4.0),
        "1201.ts": ("http://lb.example:25461/hls/1_1201.ts?token=TOKEN-1201", 3.96),
        "1202.aac": (f"{PANEL}/auth/seg/1_1202.aac", 4.0),
    }
    (key,) = [r for r in playlist.resources.values() if not r.seconds]
    assert key.url == f"{PANEL}/key/KEYTOKEN" and key.name.startswith("k") and key.name.endswith(".bin")


def test_a_viewer_gets_every_uri_under_its_base_and_nothing_of_the_panel() -> None:
    playlist = parse(XC_VM, f"{PANEL}/auth/AUTHTOKEN")
    assert playlist is not None
    text = playlist.render("https://tv.example/_h/VIEWER/")
    for secret in ("TOKEN", "panel.example", "lb.example", "user-secret", "/hls/", "/key/"):
        assert secret not in text
    lines = text.splitlines()
    assert lines[:4] == ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:4", "#EXT-X-MEDIA-SEQUENCE:1200"]
    key = playlist.resources[lines[4].split('/_h/VIEWER/')[1].split('"')[0]]
    assert lines[4] == f'#EXT-X-KEY:METHOD=AES-128,URI="https://tv.example/_h/VIEWER/{key.name}",' \
                       "IV=0x00112233445566778899aabbccddeeff"  # fmt: skip
    assert [line for line in lines if not line.startswith("#")] == [
        "https://tv.example/_h/VIEWER/1200.ts", "https://tv.example/_h/VIEWER/1201.ts",
        "https://tv.example/_h/VIEWER/1202.aac",
    ]  # fmt: skip
    assert "#EXT-X-DISCONTINUITY" in lines and lines.count("#EXTINF:4.0,") == 1
    assert playlist.render("B/") != text  # another viewer's base, the same segments


def test_the_same_segment_keeps_its_name_when_the_panel_changes_its_token() -> None:
    one = parse(XC_VM, f"{PANEL}/auth/A")
    two = parse(XC_VM.replace("TOKEN-1200", "OTHER-1200"), f"{PANEL}/auth/B")
    assert one is not None and two is not None
    assert set(one.resources) == set(two.resources)
    assert one.resources["1200.ts"].url != two.resources["1200.ts"].url


def test_missing_or_absurd_durations_fall_back() -> None:
    playlist = parse("#EXTM3U\n#EXTINF:,\na.ts\n#EXTINF:9999,\nb.ts\n", PANEL + "/x.m3u8")
    assert playlist is not None and playlist.sequence == 0
    assert [r.seconds for r in playlist.resources.values()] == [DEFAULT_SECONDS, DEFAULT_SECONDS]


def test_a_multi_variant_playlist_is_not_shared_and_garbage_is_refused() -> None:
    assert parse('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nlow.m3u8\n', PANEL) is None
    with pytest.raises(ValueError):
        parse("<html>404</html>", PANEL)

"""URL rewriting for the client side: known hosts, playlist lines, HLS URIs, chunk splitting."""

from __future__ import annotations

import re

from gateway.clientside.rewrite import VALID_HOURS, Origins, Rewriter, public_parts, split_complete

PUBLIC = "https://tv.example.com"


def rewriter() -> Rewriter:
    return Rewriter(PUBLIC, "http://10.0.0.5:8000", ["panel.example.net"])


def test_known_hosts_with_any_port_become_the_public_url() -> None:
    r = rewriter()
    text = 'a http://10.0.0.5:8000/images/1.png b HTTPS://Panel.Example.NET/x c http://img.example.org/y'
    assert r.text(text) == f"a {PUBLIC}/images/1.png b {PUBLIC}/x c http://img.example.org/y"
    assert r.text("http://10.0.0.55/x") == "http://10.0.0.55/x"  # a different host that merely starts alike
    assert r.json({"a": ["http://10.0.0.5:25461/z"], "n": 3}) == {"a": [f"{PUBLIC}/z"], "n": 3}


def test_m3u_url_lines_go_to_the_gateway_whatever_their_host() -> None:
    r = rewriter()
    assert r.m3u_line(b"http://lb9.other.net:8080/live/u/p/1.ts\n") == f"{PUBLIC}/live/u/p/1.ts\n".encode()
    tag = b'#EXTINF:-1 tvg-logo="http://panel.example.net/l.png" group-title="a > b",Name\n'
    assert r.m3u_line(tag) == f'#EXTINF:-1 tvg-logo="{PUBLIC}/l.png" group-title="a > b",Name\n'.encode()


def test_catch_up_attributes_survive_and_their_source_is_the_gateways() -> None:
    r = rewriter()
    tag = (b'#EXTINF:-1 tv_archive="1" tv_archive_duration="7" catchup="default" catchup-days="7" '
           b'catchup-source="http://lb3.other.net:8080/timeshift/u/p/{duration}/{Y}-{m}-{d}:{H}-{M}/1.ts" '
           b'tvg-logo="http://img.example.org/1.png",One\n')  # fmt: skip
    out = r.m3u_line(tag).decode()
    assert f'catchup-source="{PUBLIC}/timeshift/u/p/{{duration}}/{{Y}}-{{m}}-{{d}}:{{H}}-{{M}}/1.ts"' in out
    for kept in ('tv_archive="1"', 'tv_archive_duration="7"', 'catchup="default"', 'catchup-days="7"',
                 'tvg-logo="http://img.example.org/1.png"'):  # fmt: skip
        assert kept in out
    appended = b'#EXTINF:-1 catchup="append" catchup-source="?utc={utc}&lutc={lutc}",Two\n'
    assert r.m3u_line(appended) == appended  # relative to the stream URL: nothing to rewrite
    header = b'#EXTM3U x-tvg-url="http://epg.example.org/guide.xml" catchup-source="http://10.0.0.5:8000/x"\n'
    expected = f'#EXTM3U x-tvg-url="http://epg.example.org/guide.xml" catchup-source="{PUBLIC}/x"\n'
    assert r.m3u_line(header) == expected.encode()  # an EPG elsewhere stays where it is


def test_stream_urls_in_text_go_to_the_gateway_whatever_their_host() -> None:
    r = rewriter()
    assert r.streams("ffmpeg http://s1.unknown.net:8080/play/AbC?ext=.ts") == f"ffmpeg {PUBLIC}/play/AbC?ext=.ts"
    assert r.streams("auto /media/file_21.mpg") == "auto /media/file_21.mpg"


def _opened(origins: Origins, gateway_url: str) -> str | None:
    """The upstream URL behind a `/_o/{id}/name` gateway URL."""
    assert gateway_url.startswith(f"{PUBLIC}/_o/"), gateway_url
    return origins.url(gateway_url[len(PUBLIC) + 4 :].split("/", 1)[0])


def test_hls_uris_resolved_against_the_final_url() -> None:
    r = rewriter()
    origins = Origins()
    playlist = ('#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="/keys/1"\n#EXTINF:10,\nseg1.ts?t=1\n#EXTINF:10,\n'
                'http://10.0.0.5:8000/hls/a/2.ts\n')  # fmt: skip
    out = r.hls(playlist, "http://lb.other.net:8080/live/u/p/1.m3u8", origins)
    assert f"{PUBLIC}/hls/a/2.ts" in out and "lb.other.net" not in out
    key = re.search(r'URI="([^"]+)"', out)
    assert key is not None and key.group(1).endswith("/1")
    assert _opened(origins, key.group(1)) == "http://lb.other.net:8080/keys/1"
    segment = next(line for line in out.splitlines() if line.endswith("/seg1.ts"))
    assert _opened(origins, segment) == "http://lb.other.net:8080/live/u/p/seg1.ts?t=1"
    assert "t=1" not in segment  # the query is sealed with the rest


def test_known_origins_are_bounded_but_ids_need_no_memory() -> None:
    origins = Origins(limit=2)
    first = origins.id_for("http://a:80/x.ts")
    origins.id_for("http://b:80/y.ts")
    origins.id_for("http://c:80/z.ts")
    assert origins.known() == ["http://b:80", "http://c:80"]
    assert origins.url(first) == "http://a:80/x.ts"


def test_replicas_with_one_key_read_each_others_ids_and_nobody_else_can() -> None:
    secret = bytes(range(64))
    worker_a, worker_b = Origins(secret), Origins(secret)
    url = "http://lb2.panel.example:8080/hls/t0k3n/5_100.ts"
    noon = 1_900_000_000.0
    oid = worker_a.id_for(url, now=noon)
    assert oid == worker_a.id_for(url, now=noon + 1)  # stable within the hour: players may cache playlists
    assert "lb2" not in oid and "panel" not in oid and "t0k3n" not in oid
    assert worker_b.url(oid, now=noon) == url
    assert Origins(bytes(64)).url(oid, now=noon) is None
    assert Origins().url(oid, now=noon) is None  # a random per-process key
    flipped = oid[:-2] + ("A" if oid[-2] != "A" else "B") + oid[-1]
    for forged in (flipped, oid[:-4], oid + "AAAA", "not-an-id", "x" * 40, "é" * 30, "A" * 5000, ""):
        assert worker_b.url(forged, now=noon) is None, forged


def test_ids_expire() -> None:
    origins = Origins(bytes(range(64)))
    url = "http://lb2.panel.example:8080/movie/u/p/9.m3u8"
    issued = 1_900_000_000.0
    oid = origins.id_for(url, now=issued)
    assert origins.url(oid, now=issued + (VALID_HOURS - 1) * 3600) == url
    assert origins.url(oid, now=issued + (VALID_HOURS + 1) * 3600) is None
    assert origins.url(oid, now=issued - 2 * 3600) is None  # issued in the future: not by this clock


def test_split_complete_keeps_an_unfinished_url_for_the_next_chunk() -> None:
    assert split_complete(b"<a>x\n<icon src=\"http://pa", 100) == (b"<a>x\n", b'<icon src="http://pa')
    assert split_complete(b"abc", 2) == (b"abc", b"")
    assert split_complete(b"a>b\nc", 100, (b"\n",)) == (b"a>b\n", b"c")


def test_public_parts() -> None:
    assert public_parts("http://tv.example.com:8080") == ("tv.example.com", "8080", "443", "http")
    assert public_parts("https://tv.example.com") == ("tv.example.com", "80", "443", "https")


def test_a_sealed_text_opens_only_for_its_purpose_and_its_hours() -> None:
    origins = Origins(b"k" * 64)
    token = origins.seal("stream|address|creds", b"panelgate/_h/v1", now=3600.0 * 100)
    assert origins.unseal(token, b"panelgate/_h/v1", now=3600.0 * 100) == "stream|address|creds"
    assert origins.unseal(token, b"panelgate/_o/v2", now=3600.0 * 100) is None  # an /_h/ id is no /_o/ id
    assert origins.url(token, now=3600.0 * 100) is None
    assert origins.unseal(token, b"panelgate/_h/v1", now=3600.0 * (100 + VALID_HOURS)) is None
    assert "creds" not in token

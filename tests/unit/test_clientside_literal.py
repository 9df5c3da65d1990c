"""The literal path (gateway.clientside.literal) gives exactly what the regex path gives, on texts made to trip it.

Random texts from tricky pieces: a host that is a prefix of another (`panel.tv`, `panel.tvx`), ports that are
prefixes of others, upper-case schemes and hosts, foreign hosts, indented and CR-ended lines, catch-up sources,
JSON with PHP's escaped slashes and `\\u` escapes. The same Rewriter serves them all, so what it learned from one
text is used on the next, as in the gateway.
"""

from __future__ import annotations

import json
import random

import pytest

from gateway.clientside.rewrite import Rewriter

PUBLIC = "https://gw.example.com"
ORIGINS = ["http://panel.tv:8080", "http://panel.tv:80", "http://panel.tv:80800", "https://panel.tv",
           "http://panel.tv", "HTTP://panel.tv:8080", "http://Panel.TV:8080", "http://panel.tvx:8080",
           "http://cdn.panel.tv:8080", "http://10.0.0.5:8000", "http://10.0.0.50:8000", "http://foreign.net:1",
           "rtmp://panel.tv:1935", "https://gw.example.com", "hTTps://10.0.0.5:8000",
           # without a scheme (a player takes its own): the panel's, a foreign one; other runs of slashes and
           # backslashes, which browsers and OkHttp read as `//`
           "//panel.tv:8080", "//Panel.TV", "//foreign.net:1", "//cdn.panel.tv", "///panel.tv", "x//panel.tv",
           "\\//panel.tv:8080", "://panel.tv", "http:///panel.tv", "\\\\panel.tv:8080", "/\\panel.tv",
           "http:\\\\Panel.tv", "HTTP:/\\/panel.tv", "http:/panel.tv", "\\foreign.net"]  # fmt: skip
# a user and password before the host, a trailing dot after it: a player connects to panel.tv (kept apart: their
# variety fills the table of learned literals, which the tests of the fast path's share need free)
ODD_ORIGINS = ["http://u:p@panel.tv:8080", "http://u@Panel.tv", "http://a,b)@panel.tv", "http://panel.tv.:8080",
               "http://panel.tv.", "http://u@foreign.net", "http://foreign.net,x@panel.tv", "http://panel.tv@foreign.net",
               "http://panel.tv..", "http://a@b@panel.tv:8080", "http://a@foreign.net@panel.tv"]  # fmt: skip
AFTER = ["/live/u/p/1.ts", "/l.png", '"', "x", ".com/a", "-b/", ":", " ", "?a=1", "_", "", "\\/x", "\u00e9/", "#f",
         ".", ". ", "./x", ",", ")", "@panel.tv/", ",x@panel.tv/", "//panel.tv/x", "///panel.tv/", "/a//b",
         "\\\\x", "\\/"]  # fmt: skip
TAGS = ['#EXTINF:-1 tvg-logo="{o}{a}" group-title="G",Name', '#EXTM3U x-tvg-url="{o}{a}"',
        '#EXTINF:-1 catchup-source="{o}{a}",N', '#EXTINF:-1 CATCHUP-SOURCE="{o}{a}",N',
        "  #EXTINF:-1,{o}{a}"]  # fmt: skip
URLS = ["{o}{a}", "  {o}{a}", "{o}{a} trailing {o}{a}", "text {o}{a}", "{o}/x?ref={o}{a}", ""]
ENDS = ["\n", "\n", "\n", "\r\n", "\r", ""]


def rewriter() -> Rewriter:
    return Rewriter(PUBLIC, "http://panel.tv:8080", ["panel.tvx", "cdn.panel.tv", "10.0.0.5", "gw.example.com"])


def piece(rng: random.Random, forms: list[str], origins: list[str] = ORIGINS) -> str:
    return rng.choice(forms).format(o=rng.choice(origins), a=rng.choice(AFTER))


def playlist(rng: random.Random, kind: int) -> bytes:
    if kind == 0:  # what panels send: one origin, every URL line on it
        o = rng.choice(ORIGINS[:2])
        lines = [f'#EXTINF:-1 tvg-logo="{o}/l/{n}.png",Ch {n}\n{o}/live/u/p/{n}.ts\n' for n in range(rng.randint(1, 9))]
        return "".join(lines).encode()
    # 1: every URL on one known origin, but followed by anything, on any kind of line; 2: anything
    origins = ORIGINS[:1] if kind == 1 else ORIGINS
    text = "".join(piece(rng, rng.choice((TAGS, URLS)), origins) + rng.choice(ENDS) for _ in range(rng.randint(1, 8)))
    return text.encode()


@pytest.mark.parametrize("seed", range(6))
def test_playlists_and_text_rewrite_as_the_regex_does(seed: int) -> None:
    rng = random.Random(seed)
    r = rewriter()
    fast = 0
    for n in range(400):
        block = playlist(rng, n % 3)
        slow = b"".join(r.m3u_line(line) for line in block.splitlines(keepends=True))
        assert r.m3u(block) == slow, block
        assert r.chunk(block) == r._bytes.sub(r.public_bytes, block), block
        fast += r._m3u_literal(block) is not None
    assert fast >= 400 // 3  # the usual lists take the literal path (it is not just the regex every time)


def json_text(rng: random.Random, usual: bool) -> bytes:
    if usual:
        o = rng.choice(ORIGINS[:2])
        rows = [{"num": n, "stream_icon": f"{o}/images/{n}.png", "name": f"Ch {n}"} for n in range(rng.randint(1, 9))]
    else:
        rows = [{"s": piece(rng, ["{o}{a}", "see {o}{a} and {o}{a}", "{o}"]), "n": n} for n in range(rng.randint(1, 6))]
    text = json.dumps(rows, ensure_ascii=rng.random() < 0.5)
    if rng.random() < 0.7:
        text = text.replace("/", "\\/")  # PHP's json_encode
    if rng.random() < 0.1:
        text = text.replace(":", "\\u003a", 1)
    return text.encode()


@pytest.mark.parametrize("seed", range(6))
def test_json_lists_rewrite_as_decoding_does(seed: int) -> None:
    rng = random.Random(seed)
    r = rewriter()
    seeded = 0
    for n in range(400):
        raw = json_text(rng, usual=n % 3 == 0)
        out = r.json_bytes(raw)
        if out is not None:
            assert json.loads(out) == r.json(json.loads(raw)), raw
        if n % 3 == 0 and b"panel.tv:8080" in raw and b"\\u003a" not in raw:
            # a usual list on the panel's configured origin (known from the start, whatever else was learned)
            # takes the literal path: it is not just the exact path every time
            assert out is not None, raw
            seeded += 1
    assert seeded >= 30


@pytest.mark.parametrize("seed", range(4))
def test_users_and_trailing_dots_rewrite_as_the_regex_does(seed: int) -> None:
    rng = random.Random(seed)
    r = rewriter()
    origins = ORIGINS + ODD_ORIGINS
    for _ in range(300):
        lines = (piece(rng, rng.choice((TAGS, URLS)), origins) + rng.choice(ENDS) for _ in range(rng.randint(1, 6)))
        block = "".join(lines).encode()
        assert r.m3u(block) == b"".join(r.m3u_line(line) for line in block.splitlines(keepends=True)), block
        assert r.chunk(block) == r._bytes.sub(r.public_bytes, block), block
        rows = [{"s": piece(rng, ["{o}{a}", "see {o}{a} and {o}{a}", "{o}"], origins)} for _ in range(3)]
        raw = json.dumps(rows).replace("/", "\\/").encode()
        decoded = r.json(json.loads(raw))
        out = r.json_bytes(raw)
        assert out is None or json.loads(out) == decoded, raw
        assert json.loads(r.json_text(raw)) == decoded, raw


def test_the_panel_after_a_user_and_password_or_before_a_trailing_dot_is_the_panel() -> None:
    r = rewriter()
    assert r.text("http://u:p@panel.tv:8080/a") == f"{PUBLIC}/a"  # a player connects to the host after the @
    assert r.text("http://a,b)@Panel.TV/a") == f"{PUBLIC}/a"
    assert r.text("http://a@b@panel.tv/a") == f"{PUBLIC}/a"  # the host is after the last @
    # in JSON, a lone surrogate stays escaped: the text path reads it in a user part as the decoded path does
    raw = b'[{"i":"http:\\/\\/a\\ud800@panel.tv:8080\\/x.png"}]'
    assert json.loads(r.json_text(raw)) == r.json(json.loads(raw)) == [{"i": f"{PUBLIC}/x.png"}]
    assert r.text("http://panel.tv./a http://panel.tv.:81/b") == f"{PUBLIC}/a {PUBLIC}/b"  # a fully qualified name
    assert r.text("see http://panel.tv. Or http://panel.tv:8080.") == f"see {PUBLIC}. Or {PUBLIC}."  # full stops
    for other in ("http://panel.tv..com/a", "http://panel.tv.evil.com/a", "http://x.example/?to=a@panel.tv",
                  "http://u@foreign.net/a", "http://panel.tvy@foreign.net/"):  # fmt: skip
        assert r.text(other) == other
    assert r.text("http://panel.tv@foreign.net/") == f"{PUBLIC}@foreign.net/"  # as before: the name is hidden


def test_a_literal_is_never_taken_for_a_longer_host_or_port() -> None:
    r = rewriter()
    text = b"http://panel.tv:8080/a http://panel.tv:80800/b http://panel.tvx:8080/c HTTP://PANEL.TV:8080/d\n"
    assert r.chunk(text) == (f"{PUBLIC}/a {PUBLIC}/b {PUBLIC}/c {PUBLIC}/d\n").encode()
    odd = b"http://panel.tv:8080x/a\n"  # the regex takes the host alone (`:` ends it): so does the literal path
    assert r.chunk(odd) == r._bytes.sub(r.public_bytes, odd) == f"{PUBLIC}:8080x/a\n".encode()


def test_a_foreign_origin_never_covers_a_known_host_it_is_the_start_of() -> None:
    r = rewriter()
    first = b'[{"i":"https:\\/\\/cdn.panel\\/x.png"}]'  # cdn.panel: not known, learned as foreign
    assert r.json_bytes(first) == first
    second = b'[{"i":"https:\\/\\/cdn.panel.tv\\/y.png"}]'  # cdn.panel.tv: known
    assert r.json_bytes(second) == b'[{"i":"https:\\/\\/gw.example.com\\/y.png"}]'


def test_reading_for_origins_backs_off_when_it_finds_nothing_new(monkeypatch: pytest.MonkeyPatch) -> None:
    import gateway.clientside.rewrite as rewrite_module

    reads: list[int] = []
    real = rewrite_module.origins_in
    monkeypatch.setattr(rewrite_module, "origins_in", lambda *a: reads.append(1) or real(*a))
    r = rewriter()
    foreign = b"#EXTINF:-1,A\nhttp://foreign.net:1/live/1.ts\n"  # a URL line elsewhere: always line by line
    for _ in range(100):
        r.m3u(foreign)
    assert len(reads) <= 8  # 1, 2, 4, 8... texts apart, not every time
    other = b"#EXTINF:-1,B\nhttp://panel.tv:80/live/2.ts\n"  # a second origin of the panel's, met later
    for _ in range(300):
        r.m3u(other)
    assert r._m3u_literal(other) is not None  # learned: the literal path takes it now


def test_a_list_of_many_foreign_logos_does_not_stop_a_panel_origin_from_being_learned() -> None:
    """player_api lists point at logos on many hosts: the table of foreign origins fills on the first list, and the
    panel's second origin, met later, must still be learned (else its lists take the slow path for good)."""
    r = rewriter()
    logos = ",".join(f'{{"stream_icon":"http:\\/\\/logo{n}.cdn.net\\/a.png"}}' for n in range(40))
    first = f'[{logos},{{"stream_icon":"http:\\/\\/panel.tv:8080\\/i.png"}}]'.encode()
    decoded = json.dumps(r.json(json.loads(first)), separators=(",", ":")).replace("/", "\\/").encode()
    assert r.json_text(first) == decoded  # as decoding rewrites it
    later = f'[{logos},{{"stream_icon":"https:\\/\\/panel.tv\\/i.png"}}]'.encode()  # the panel's https origin
    for _ in range(20):
        r.json_text(later)
    assert r.json_bytes(later) is not None  # learned: the literal path proves it now
    assert b"panel.tv" not in r.json_bytes(later)


@pytest.mark.parametrize("spelling", ["http:/\\/panel.tv:8080\\/x", "http:\\//panel.tv:8080\\/x",
                                      "http:\\u002f\\/panel.tv:8080\\/x", "h\\u0074tp:\\/\\/panel.tv:8080\\/x"])
def test_json_spellings_of_a_url_without_a_plain_separator(spelling: str) -> None:
    r = rewriter()
    raw = ('[{"a":"http:\\/\\/panel.tv:8080\\/logo.png"},{"b":"' + spelling + '"}]').encode()
    out = r.json_bytes(raw)
    expected = r.json(json.loads(raw))
    assert expected[1]["b"].startswith(PUBLIC) and (out is None or json.loads(out) == expected)


def test_a_public_url_as_long_as_the_panels_origin() -> None:
    r = Rewriter("http://gwgwg.tv:9090", "http://panel.tv:8080", [])  # no change in length to count from
    block = b'#EXTINF:-1 tvg-logo="http://panel.tv:8080/l.png",A\nhttp://panel.tv:8080/live/u/p/1.ts\n'
    assert r._m3u_literal(block) == block.replace(b"panel.tv:8080", b"gwgwg.tv:9090")
    raw = b'[{"i":"http:\\/\\/panel.tv:8080\\/1.png"},{"i":"http:\\/\\/panel.tv:8080x\\/2.png"}]'
    out = r.json_bytes(raw)
    assert out is None or json.loads(out) == r.json(json.loads(raw))


@pytest.mark.parametrize("host", ["iptv-\\u212aings.site", "iptv-\u212aings.site", "iptv-kings.\u017fite",
                                  "\\u0130ptv-kings.site"])  # fmt: skip
def test_a_host_spelled_with_letters_unicode_folds_to_ascii(host: str) -> None:
    # the decoded path's regex matches KELVIN SIGN as k, LONG S as s, dotted I as i (so would a player's IDNA
    # mapping): the literal path must not pass such a URL on as it is
    r = Rewriter(PUBLIC, "http://iptv-kings.site:8080", ["iptv-kings.site"])
    raw = ('[{"a":"http:\\/\\/iptv-kings.site:8080\\/x.png"},{"b":"http:\\/\\/' + host + ':8080\\/y"}]').encode()
    out = r.json_bytes(raw)
    expected = r.json(json.loads(raw))
    assert expected[1]["b"] == PUBLIC + "/y"
    assert out is None or json.loads(out) == expected


@pytest.mark.parametrize("host", ["iptv-\u212aings.site", "iptv-kings.\u017fite", "\u0130ptv-kings.site"])
def test_a_playlist_or_epg_host_spelled_with_letters_unicode_folds_to_ascii(host: str) -> None:
    # a tag line or an XMLTV icon naming the panel with a KELVIN SIGN: a player's IDNA mapping reaches the panel
    # with it, so it is hidden as the plain spelling is (the byte regex alone is ASCII-only and passed it on)
    r = Rewriter(PUBLIC, "http://iptv-kings.site:8080", ["iptv-kings.site"])
    block = (f'#EXTINF:-1 tvg-logo="http://{host}:8080/l.png",A\n'
             "http://iptv-kings.site:8080/live/u/p/1.ts\n").encode()  # fmt: skip
    assert r.m3u(block) == f'#EXTINF:-1 tvg-logo="{PUBLIC}/l.png",A\n{PUBLIC}/live/u/p/1.ts\n'.encode()
    assert r.chunk(f'<icon src="http://{host}/x.png"/>\n'.encode()) == f'<icon src="{PUBLIC}/x.png"/>\n'.encode()


def test_an_ipv6_panel_is_hidden_on_every_path() -> None:
    # found by a hostile review: the regex paths named the host without its brackets, so only the literal path
    # hid `http://[2001:db8::1]:8080`; a channel name with a Turkish capital I sends a block the regex way
    r = Rewriter(PUBLIC, "http://[2001:db8::1]:8080", [])
    m3u = '#EXTINF:-1 tvg-logo="http://[2001:db8::1]:8080/l.png",\u0130Z TV\nhttp://[2001:db8::1]:8080/1.ts\n'
    assert r.m3u(m3u.encode()) == f'#EXTINF:-1 tvg-logo="{PUBLIC}/l.png",\u0130Z TV\n{PUBLIC}/1.ts\n'.encode()
    xml = '<display-name>\u0130Z</display-name><icon src="http://[2001:DB8::1]:8080/l.png"/>\n'
    assert r.chunk(xml.encode()) == f'<display-name>\u0130Z</display-name><icon src="{PUBLIC}/l.png"/>\n'.encode()
    raw = b'[{"name":"\\u0130Z","i":"http:\\/\\/[2001:db8::1]:8080\\/l.png"}]'
    assert json.loads(r.json_text(raw)) == r.json(json.loads(raw)) == [{"name": "\u0130Z", "i": PUBLIC + "/l.png"}]


def test_a_url_without_a_scheme_or_with_other_slashes_is_hidden_on_every_path() -> None:
    # `//panel.tv/l.png` takes the player's own scheme, and browsers and OkHttp (players' image loaders) read any
    # run of slashes and backslashes as `//`: each names the panel as much as `http://panel.tv/l.png`
    r = rewriter()
    for spelled in ("//panel.tv:8080", "//Panel.TV", "http:///panel.tv", "\\\\panel.tv", "/\\panel.tv",
                    "\\//panel.tv", "HTTP:\\\\panel.tv", "https:/\\/panel.tv"):  # fmt: skip
        assert r.text(f'<img src="{spelled}/l.png">') == f'<img src="{PUBLIC}/l.png">', spelled
    assert r.text("http://cdn.net/i?u=//panel.tv/a") == f"http://cdn.net/i?u={PUBLIC}/a"
    for kept in ("rtmp://panel.tv/live", "rtmp:///panel.tv/live", "//foreign.net/panel.tv", "//panel.tvx.net/a",
                 "/panel.tv/a", "a\\panel.tv"):  # fmt: skip
        assert r.text(kept) == kept
    block = b'#EXTINF:-1 tvg-logo="//panel.tv:8080/l.png",A\nhttp://panel.tv:8080/live/u/p/1.ts\n'
    assert r.m3u(block) == f'#EXTINF:-1 tvg-logo="{PUBLIC}/l.png",A\n{PUBLIC}/live/u/p/1.ts\n'.encode()
    for icon in (b"//panel.tv/x.png", b"http:///panel.tv/x.png", b"\\\\panel.tv/x.png"):
        assert r.chunk(b'<icon src="' + icon + b'"/>\n') == f'<icon src="{PUBLIC}/x.png"/>\n'.encode()
    lists = {  # PHP's escaped slashes, plain ones, the mixed spellings, backslashes
        b'"\\/\\/panel.tv:8080\\/2.png"', b'"//panel.tv:8080/2.png"', b'"\\//panel.tv\\/2.png"',
        b'"/\\/panel.tv\\/2.png"', b'"\\\\\\/\\/panel.tv\\/2.png"', b'"http:\\/\\/\\/panel.tv\\/2.png"',
        b'"\\\\\\\\panel.tv\\/2.png"', b'"http:\\\\\\/panel.tv\\/2.png"',
    }  # fmt: skip
    for b in lists:
        raw = b'[{"a":"http:\\/\\/panel.tv:8080\\/1.png","b":' + b + b"}]"
        expected = [{"a": f"{PUBLIC}/1.png", "b": f"{PUBLIC}/2.png"}]
        assert r.json(json.loads(raw)) == expected, raw
        assert json.loads(r.json_text(raw)) == expected, raw
    raw = b'[{"b":"\\\\panel.tv\\/2.png","c":"rtmp:\\/\\/panel.tv"}]'  # one backslash, another scheme: kept
    assert json.loads(r.json_text(raw)) == json.loads(raw) == r.json(json.loads(raw))


def test_lists_with_foreign_urls_without_a_scheme_keep_the_literal_path() -> None:
    # logos on a CDN written `//img.cdn.net/...` must not send every list of such a panel the slow way
    r = rewriter()
    raw = b'[{"a":"http:\\/\\/panel.tv:8080\\/1.png","b":"\\/\\/img.cdn.net\\/2.png"}]'
    assert r.json_bytes(raw) == raw.replace(b"http:\\/\\/panel.tv:8080", PUBLIC.replace("/", "\\/").encode())
    block = b'#EXTINF:-1 tvg-logo="//img.cdn.net/l.png",A\nhttp://panel.tv:8080/live/u/p/1.ts\n'
    assert r._m3u_literal(block) == block.replace(b"http://panel.tv:8080", PUBLIC.encode())
    assert r.chunk(b'<icon src="//img.cdn.net/x.png"/><a href="http://panel.tv:8080/"/>\n') == (
        f'<icon src="//img.cdn.net/x.png"/><a href="{PUBLIC}/"/>\n'.encode())

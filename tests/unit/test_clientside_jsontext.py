"""JSON texts rewritten without decoding (gateway.clientside.jsontext), whole or cut into pieces after a `"`, give
the document decoding and rewriting give: on texts written to trip it, with every kind of escape a JSON encoder
may write (or a hostile one could), anywhere in a URL."""

from __future__ import annotations

import json
import random

import pytest

from gateway.clientside import jsontext
from gateway.clientside.rewrite import Rewriter
from tests.unit.test_clientside_literal import AFTER, ODD_ORIGINS, ORIGINS, PUBLIC, rewriter

# after a host: a letter only Unicode folding makes ASCII, a word character outside the BMP (a surrogate pair in
# JSON), a literal backslash-u that is not an escape, a quote, a control character
TRICKY = ["\u212a", "\U0001d400", "\\u0041", '"', "\x01", "\u00e9", "\u2028", "/\u017f"]


def encoded(value: str, rng: random.Random, escape_rate: float) -> str:
    """`value` as a JSON string, each character spelled any way JSON allows (escaped at `escape_rate`)."""
    out = []
    for char in value:
        code = ord(char)
        if char in '"\\' and rng.random() < 0.5:
            out.append("\\" + char)
        elif code < 0x20 or char in '"\\' or rng.random() < escape_rate:
            if code > 0xFFFF:
                high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
                out.append(f"\\u{high:04x}\\u{low:04X}")
            else:
                out.append(f"\\u{code:04x}" if rng.random() < 0.5 else f"\\u{code:04X}")
        elif char == "/" and rng.random() < 0.6:
            out.append("\\/")  # PHP's json_encode
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def document(rng: random.Random) -> bytes:
    rows = []
    for n in range(rng.randint(1, 8)):
        parts = [rng.choice(ORIGINS + ODD_ORIGINS) + rng.choice(AFTER + TRICKY) for _ in range(rng.randint(1, 3))]
        value = rng.choice(["", "see ", "\u00e9 "]) + " ".join(parts) + rng.choice(["", " x", "\\u0041"])
        rows.append('{"n":' + str(n) + ',"s":' + encoded(value, rng, rng.choice((0.0, 0.05, 0.3))) + "}")
    return ("[" + ",".join(rows) + "]").encode()


def pieces(text: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(rng.sample([i + 1 for i, byte in enumerate(text) if byte == ord('"')], k=rng.randint(0, 6)))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


@pytest.mark.parametrize("seed", range(8))
def test_a_json_text_in_pieces_rewrites_as_decoding_does(seed: int) -> None:
    rng = random.Random(seed)
    r = rewriter()
    exact = 0
    for _ in range(300):
        text = document(rng)
        expected = r.json(json.loads(text))
        assert json.loads(r.json_text(text)) == expected, text
        cut = pieces(text, rng)
        assert json.loads(b"".join(r.json_text(p) for p in cut)) == expected, cut
        exact += sum(r.json_bytes(p) is None for p in cut)
    assert exact >= 100  # the exact path is what these texts exercise, not only the literal one


def test_escapes_that_must_stay_escaped_do() -> None:
    raw = b'"\\u0022 \\u005c \\u0001 \\ud800 \\\\u0041 \\u0041 \\ud835\\udc00"'
    # (a backslash in its short form: it ends with a backslash as it does decoded, see rewrite.SCHEME)
    assert jsontext.unescape(raw) == '"\\u0022 \\\\ \\u0001 \\ud800 \\\\u0041 A \U0001d400"'.encode()
    assert json.loads(jsontext.unescape(raw)) == json.loads(raw)


@pytest.mark.parametrize("spelled", ["http:\\/\\/p\\u0061nel.tv:8080\\/x", "h\\u0074tp:\\u002f\\u002fpanel.tv\\/x",
                                     "http://\\u212aelvin.tv/x", "http:\\/\\/panel.tv\\u003a8080\\/x"])
def test_a_url_spelled_with_escapes_is_found(spelled: str) -> None:
    r = Rewriter(PUBLIC, "http://panel.tv:8080", ["kelvin.tv"])
    raw = ('[{"i":"' + spelled + '"}]').encode()
    assert r.json_bytes(raw) is None  # the literal path does not vouch for these
    assert json.loads(r.json_text(raw)) == [{"i": PUBLIC + "/x"}] == r.json(json.loads(raw))


def test_a_host_followed_by_an_escaped_word_character_is_not_a_known_host() -> None:
    r = rewriter()
    raw = b'[{"i":"http:\\/\\/panel.tvx\\u0078\\/a","j":"http:\\/\\/panel.tv\\ud835\\udc00\\/b"}]'
    assert json.loads(r.json_text(raw)) == r.json(json.loads(raw)) == json.loads(raw)  # panel.tvxx, panel.tv + letter

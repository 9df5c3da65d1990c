"""Rewriting upstream URLs to the gateway's `public_url`: JSON payloads, M3U lines, XMLTV chunks, HLS playlists.

Pure functions and small objects, no I/O. Two kinds of rewrite:
- known hosts (the upstream's own host, hosts the panel reported in server_info, load balancers met in
  redirects): any `http(s)://HOST[:port]` anywhere in a text, also without its scheme (`//HOST`) or with
  another run of slashes (`http:///HOST`, `\\\\HOST`), becomes `public_url`, the path kept;
- M3U stream lines, `catchup-source` attributes, MAG `cmd` fields and HLS URIs: whatever their host, they
  become gateway URLs (they are streams by definition). HLS URIs on another origin than the configured upstream
  go through `/_o/{id}/...`, where `id` is that URL sealed under the gateway's key (see Origins).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from gateway import fastbytes
from gateway.clientside import jsontext
from gateway.clientside.literal import M3U_FOLLOWERS, Literals, origins_in

ORIGIN_PREFIX = "/_o/"
_M3U_URL = re.compile(rb"^(\s*)https?://[^/\s]+", re.IGNORECASE)
_URI_ATTR = re.compile(r'URI="([^"]*)"')
# `catchup-source="http://host/timeshift/u/p/{duration}/{Y}-{m}-{d}:{H}-{M}/1.ts"`; a relative source
# (`?utc={utc}`, appended to the stream URL) has no origin and stays as it is
_CATCHUP_SOURCE = re.compile(rb'(catchup-source=")https?://[^/"\s]+', re.IGNORECASE)
_ANY_ORIGIN = re.compile(r"https?://[^/\s\"'<>]+", re.IGNORECASE)
# an Enigma2 bouquet's stream (get.php `type=enigma16|dreambox|gigablue`, XUI's `#SERVICE {ESR_ID}{SID}{URL#:}`):
# the URL with each `:` urlencoded, `#SERVICE 4097:0:1:0:0:0:0:0:0:0:http%3A//host%3A8080/live/u/p/1.ts`
_E2_SERVICE = re.compile(rb"\s*#SERVICE ", re.IGNORECASE)
_E2_URL = re.compile(rb"https?%3a//[^/\s%]+(?:%3a\d+)?", re.IGNORECASE)
# a URL line indented (the literal path counts lines that start with `http`)
_INDENT = rb"[ \t\x0b\x0c\r]+https?:"
_INDENTED_URL = re.compile(rb"\n" + _INDENT)  # a literal first byte: searched at C speed, unlike `(?:^|\n)`
_INDENTED_FIRST = re.compile(_INDENT)
# Letters that Unicode case-insensitive matching (the decoded path's regex) equates with ASCII ones: KELVIN SIGN
# = k, LONG S = s, dotted/dotless I = i; a host spelled with one is the panel's host to that regex (and to IDNA
# mapping in a player), but not to the byte regex and counts. A text holding one takes the string regex (`_known`);
# a JSON text holding one (as itself or as an escape), or an escape of an ASCII character (which could spell a
# URL the counts cannot see; no encoder writes one, PHP's included), takes the exact path (gateway.clientside.
# jsontext). One search finds all those escapes; the letters are looked for only in a text that is not ASCII
_FOLDS_TO_ASCII = (b"\xe2\x84\xaa", b"\xc5\xbf", b"\xc4\xb0", b"\xc4\xb1")
_UNSEEN_ESCAPE = re.compile(rb"\\u(?:00[2-7][0-9a-fA-F]|212[aA]|017[fF]|013[01])")
# what follows `://` in a URL, any host: the literal path learns the foreign ones it meets in JSON
_ANY_JSON_ORIGIN = re.compile(rb":(?://|\\/\\/)[\w.-]+(?::\d+)?")
# What may stand between `://` and a known name: a user and password (`user:pass@`, `a@b@`: a player connects to
# the host after the last `@`), never holding what ends a URL in text or JSON (space, `/`, `"`, `\\`...), which is
# why no byte the literal path takes as the end of a host can be inside one (a user part with quotes, spaces or
# angle brackets, which no panel writes, is not read as one). A JSON text keeps a lone surrogate escaped
# (gateway.clientside.jsontext), so there one is read as its escape.
_USER_CHARS = r"[^\x00-\x20\x7f/?#\"'<>\\]"
_JSON_USER_CHARS = rf"(?:{_USER_CHARS}|\\u[dD][89a-fA-F][0-9a-fA-F]{{2}})"
# what starts a URL's path, port, query or fragment after its host; in a JSON text, the same as written there (`/`
# or `\\/`; a backslash, which can be written `\\u005c`, is left out of both so that the two read alike)
_PATH_STARTS = r"[/:?#]"
_JSON_PATH_STARTS = r"(?:[/:?#]|\\/)"
# How a URL's host is introduced: `http(s):` and then two or more slashes, or those slashes alone (`//panel.tv/
# logo.png`: a player or a browser takes its own scheme). Browsers and OkHttp (players' image loaders) read a run of
# any length of `/` and `\\` there alike (`http:///panel.tv`, `\\\\panel.tv`), so does this. A run without a scheme
# starts a URL unless a `:` (a scheme the gateway does not serve: `rtmp://`), a slash or a backslash stands before
# it (then it is the rest of a longer run, or in a JSON text the second half of an escape; read alike in the text
# and once decoded). Not read as a URL: `http:panel.tv` and `http:/panel.tv`, which browsers would follow.
SCHEME = r"(?:https?:|(?<![:/\\]))"
RUN = r"[/\\]{2,}"


def may_hold_a_url(value: str) -> bool:
    """Whether `text()` could change `value`: every URL it rewrites has a run of two or more slashes and backslashes
    (RUN), which holds `//` or a backslash."""
    return "//" in value or "\\" in value


def _after_scheme(alternatives: str, path_starts: str, user_chars: str) -> str:
    """The origin regex after its `://`: a user and password, a known name, its trailing dot when a path, port or
    query follows (`panel.tv./x` is panel.tv to a player), a port; then nothing that continues a host name (a
    dot only when a host character follows it: a full stop after a URL in prose ends it)."""
    return rf"(?:{user_chars}*@)?(?:{alternatives})(?:\.(?={path_starts}))?(?::\d+)?(?![\w-]|\.[\w.-])"


def _in_url(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _folds(text: bytes) -> bool:
    """Whether `text` holds one of the letters above as itself (UTF-8): the byte regex and counts do not see it."""
    return not text.isascii() and any(c in text for c in _FOLDS_TO_ASCII)


def origin_of(url: str) -> str:
    """`scheme://host:port` with the port always written (so two spellings of one origin compare equal)."""
    parts = urlsplit(url)
    scheme = (parts.scheme or "http").lower()
    port = parts.port or (443 if scheme == "https" else 80)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def public_parts(public_url: str) -> tuple[str, str, str, str]:
    """(host, port, https_port, protocol) for player_api's server_info."""
    parts = urlsplit(public_url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    if scheme == "https":
        return parts.hostname or "", "80", str(port), "https"
    return parts.hostname or "", str(port), "443", "http"


class Origins:
    """Ids for HLS URIs on foreign origins (load balancers): the URI itself and the hour it was issued, sealed
    with AES-SIV.

    - An id opens to exactly one upstream URL, one the panel put in a playlist for a player: `/_o/` relays that
      URL and nothing else (never another path on the same host, such as the panel's admin API).
    - It needs no memory to be read back, so every worker or replica holding the same key reads the ids the
      others wrote (a player's segment requests land anywhere behind SO_REUSEPORT or a load balancer).
    - It is valid for VALID_HOURS from the hour it was issued: a playlist shared around stops working.
    - The player can neither read the URL in it nor make one up: an id that does not open answers 404.
    `secret` (64 bytes): see `ClientSideRuntime.origins`; None means a random key for this process.
    `known()` lists the origins met recently, bounded, for rewriting their host names in text.
    """

    def __init__(self, secret: bytes | None = None, limit: int = 1024) -> None:
        self._siv = AESSIV(secret or secrets.token_bytes(64))
        self._known: OrderedDict[str, None] = OrderedDict()
        self.limit = limit

    def id_for(self, url: str, now: float | None = None) -> str:
        """The id of an upstream URL (scheme, host, port, path and query), issued now."""
        origin = origin_of(url)
        self._known[origin] = None
        self._known.move_to_end(origin)
        if len(self._known) > self.limit:
            self._known.popitem(last=False)
        return self.seal(url, _ORIGIN_AD, now)

    def url(self, oid: str, now: float | None = None) -> str | None:
        """The upstream URL an id was issued for, None when it is forged, damaged or expired."""
        return self.unseal(oid, _ORIGIN_AD, now)

    def seal(self, text: str, purpose: bytes, now: float | None = None) -> str:
        """`text` and the hour, sealed under this key for one `purpose` (an id of one kind never opens as
        another): URL-safe, readable back by `unseal` in any worker or replica holding the same key."""
        hour = int((time.time() if now is None else now) // 3600)
        sealed = self._siv.encrypt(f"{hour}|{text}".encode(), [purpose])
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def unseal(self, token: str, purpose: bytes, now: float | None = None) -> str | None:
        """The text sealed for `purpose`, None when forged, damaged, sealed for another purpose or expired
        (VALID_HOURS)."""
        if not 24 <= len(token) <= 4096 or not token.isascii():
            return None
        try:
            sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            hour_text, _, text = self._siv.decrypt(sealed, [purpose]).decode().partition("|")
            hour = int(hour_text)
        except (InvalidTag, ValueError, binascii.Error):  # forged, truncated, or not base64 / UTF-8 at all
            return None
        current = int((time.time() if now is None else now) // 3600)
        return text if 0 <= current - hour < VALID_HOURS else None

    def known(self) -> list[str]:
        return list(self._known)


_ORIGIN_AD = b"panelgate/_o/v2"
VALID_HOURS = 12  # a VOD watched over HLS uses the ids of one playlist for its whole length


class Rewriter:
    """Known hosts rewritten (see the module doc). The byte forms (`chunk`, `m3u`, `json_bytes`) go through
    gateway.clientside.literal when they can: the same result at C speed. One Rewriter serves many requests
    (ClientSideRuntime keeps it while the host names stay the same), so the origins it learns are kept."""

    def __init__(self, public_url: str, upstream_url: str, hosts: Iterable[str]) -> None:
        self.public = public_url.rstrip("/")
        self.public_bytes = self.public.encode()
        self._e2_public = self.public_bytes.replace(b":", b"%3A")  # as an Enigma2 bouquet spells a URL
        self.upstream_origin = origin_of(upstream_url)
        # as hosts are written in URLs: an IPv6 address in brackets (urlsplit's hostname has none)
        names = {_in_url(h.lower()) for h in [*hosts, urlsplit(upstream_url).hostname or ""] if h}
        names.discard("")
        alternatives = "|".join(re.escape(h) for h in sorted(names, key=len, reverse=True))
        pattern = rf"{SCHEME}{RUN}{_after_scheme(alternatives, _PATH_STARTS, _USER_CHARS)}"
        self._text = re.compile(pattern, re.IGNORECASE)
        self._bytes = re.compile(pattern.encode(), re.IGNORECASE)
        in_json = _after_scheme(alternatives, _JSON_PATH_STARTS, _JSON_USER_CHARS)
        # what a JSON text spells an origin as: plain, or with PHP's escaped slashes (only to learn literals)
        self._json_origins = re.compile(rf"https?:(?://|\\/\\/){in_json}".encode(), re.IGNORECASE)
        self._json_text = jsontext.origin_pattern(SCHEME, in_json)
        # the literal path replaces each origin once; the regex paths would rewrite an inserted public URL
        # again, which changes it when its host is a known one and it has a path: then only the regex runs
        public = urlsplit(self.public)
        fixed = (public.hostname or "").lower() not in names or not public.path.strip("/")
        self._literals = Literals(self.public_bytes, names, usable=fixed)
        self._json_literals = Literals(self.public_bytes, names, json=True, usable=fixed)
        seed = [self.upstream_origin.encode()]  # the panel's configured origin: the likeliest in its lists
        self._literals.learn(seed)
        self._json_literals.learn(seed)

    def text(self, value: str) -> str:
        return self._text.sub(self.public, value)

    def chunk(self, value: bytes) -> bytes:
        fast = None if _folds(value) else self._literals.replace(value)
        if fast is not None:
            return fast
        if self._literals.may_learn():
            self._literals.learned(self._literals.learn(origins_in(self._bytes, value)))
        return self._known(value)

    def _known(self, text: bytes) -> bytes:
        """Known hosts rewritten in bytes as `text()` does in a string: the byte regex, or, for a text holding a
        letter Unicode folds to ASCII (`iptv-\u212aings.site` is iptv-kings.site to a player's IDNA mapping), the
        string regex, which folds it as the decoded paths do."""
        if _folds(text):
            decoded = text.decode("utf-8", "surrogateescape")
            return self._text.sub(self.public, decoded).encode("utf-8", "surrogateescape")
        return self._bytes.sub(self.public_bytes, text)

    def m3u(self, block: bytes) -> bytes:
        """Whole playlist lines (`m3u_line` on each), at C speed when the literal path can prove the result."""
        # an Enigma2 bouquet: its URLs are no literal origins (searched at SIMD speed: `in` took as long as the
        # whole literal rewrite of an m3u_plus)
        e2 = fastbytes.contains(block, b"%3A//") or fastbytes.contains(block, b"%3a//")
        fast = None if e2 or _folds(block) else self._m3u_literal(block)
        if fast is not None:
            return fast
        if not e2 and self._literals.may_learn():  # `//host` in `http%3A//host` is no origin to learn
            self._literals.learned(self._literals.learn(origins_in(self._bytes, block)))
        return b"".join(self.m3u_line(line) for line in block.splitlines(keepends=True))

    def _m3u_literal(self, block: bytes) -> bytes | None:
        """Known hosts replaced as literals; valid for whole lines when they were every URL in the block, or
        else when every URL line and every catch-up source starts with a replaced origin (so "whatever its host"
        changes nothing more)."""
        done = self._literals.replaced(block, M3U_FOLLOWERS, foreign=False)
        if done is None:
            return None
        out, count, everywhere = done
        if everywhere:
            return out  # every URL was a replaced origin, followed by what ends it for every rule
        lowered = block.lower()
        if not self._literals.alone(block, count, lowered):
            return None
        carriage = fastbytes.count(block, b"\r")
        if carriage and carriage != fastbytes.count(block, b"\r\n"):
            return None  # a lone CR ends a line for splitlines: lines would not start after a newline
        if _INDENTED_URL.search(lowered) or _INDENTED_FIRST.match(lowered):
            return None
        start = self.public_bytes + b"/"
        url_lines = fastbytes.count(lowered, b"\nhttp") + lowered.startswith(b"http")
        if url_lines and fastbytes.count(out, b"\n" + start) + out.startswith(start) != url_lines:
            return None
        sources = fastbytes.count(lowered, b'catchup-source="http')
        if sources and fastbytes.count(out, b'catchup-source="' + start) != sources:
            return None
        return out

    def json_bytes(self, raw: bytes) -> bytes | None:
        """A JSON text with every known-host origin in its strings rewritten, as `json()` on the decoded
        document would (keys aside: no panel writes a URL as a key); None when only parsing can tell."""
        # (the regex stops at every backslash, frequent in PHP's escaped slashes: run only when a `\\u` is there)
        if (fastbytes.contains(raw, b"\\u") and _UNSEEN_ESCAPE.search(raw)) or _folds(raw):
            return None
        literals = self._json_literals
        done = literals.replaced(raw, literals.followers)
        if done is not None and done[2]:
            return done[0]
        if literals.may_learn():  # this text's origins, then again
            added = literals.learn(o.replace(b"\\/", b"/") for o in origins_in(self._json_origins, raw))
            added += literals.learn_foreign(origins_in(_ANY_JSON_ORIGIN, raw))
            literals.learned(added)
            done = literals.replaced(raw, literals.followers)
        if done is None:
            return None
        out, count, everywhere = done
        return out if everywhere or literals.alone(raw, count) else None

    def json_text(self, raw: bytes) -> bytes:
        """A JSON text, or a piece of one cut right after a `"`, rewritten as `json()` would rewrite the decoded
        document (gateway.clientside.jsontext): at C speed when the literal path can prove it, else exactly."""
        fast = self.json_bytes(raw)
        return fast if fast is not None else jsontext.rewrite(raw, self._json_text, self.public)

    def json(self, value: Any) -> Any:
        """Every string in a decoded JSON document, known hosts rewritten."""
        if isinstance(value, str):
            return self.text(value) if may_hold_a_url(value) else value
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items()}
        return value

    def m3u_line(self, line: bytes) -> bytes:
        """A playlist line: a URL line goes to the gateway whatever its host, so does a tag's catch-up source;
        anything else (logos, `x-tvg-url`, the rest of a URL line) has known hosts rewritten."""
        if line.lstrip().startswith(b"#"):
            stream = _E2_URL.search(line) if _E2_SERVICE.match(line) else None
            if stream is not None:  # an Enigma2 bouquet's stream: a gateway URL whatever its host, spelled as it was
                return self._known(line[: stream.start()]) + self._e2_public + self._known(line[stream.end() :])
            return self._known(_CATCHUP_SOURCE.sub(lambda m: m.group(1) + self.public_bytes, line))
        # a URL line: its origin, then known hosts in the rest of it (a query naming the panel) as anywhere else
        found = _M3U_URL.match(line)
        if found is None:
            return self._known(line)
        return found.group(1) + self.public_bytes + self._known(line[found.end() :])

    def streams(self, value: str) -> str:
        """Every URL in a text that names a stream (a MAG `cmd`: `ffmpeg http://host:port/play/...`) made a
        gateway URL whatever its host, the path kept."""
        return _ANY_ORIGIN.sub(lambda _: self.public, value)

    def gateway_url(self, absolute: str, origins: Origins) -> str:
        """An upstream URL as the gateway URL that relays it."""
        parts = urlsplit(absolute)
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        if origin_of(absolute) == self.upstream_origin:
            return self.public + path
        # the last path segment rides along for players that pick a format by extension; the id alone decides
        name = parts.path.rsplit("/", 1)[-1] or "index"
        return f"{self.public}{ORIGIN_PREFIX}{origins.id_for(absolute)}/{quote(name, safe='')}"

    def hls(self, playlist: str, base_url: str, origins: Origins) -> str:
        """An HLS playlist fetched from `base_url` (after redirects), every URI made a gateway URL."""
        out: list[str] = []
        for line in playlist.splitlines():
            stripped = line.strip()
            if not stripped:
                out.append(line)
            elif stripped.startswith("#"):
                out.append(_URI_ATTR.sub(
                    lambda m: f'URI="{self.gateway_url(urljoin(base_url, m.group(1)), origins)}"', line
                ))  # fmt: skip
            else:
                out.append(self.gateway_url(urljoin(base_url, stripped), origins))
        return "\n".join(out) + "\n"


def split_complete(buffer: bytes, limit: int, marks: tuple[bytes, ...] = (b"\n", b">")) -> tuple[bytes, bytes]:
    """(what can be rewritten now, what to keep for the next chunk): cut after the last mark (newline, `>`),
    which no URL can span. A buffer without one past `limit` bytes is let through as it is."""
    cut = max(buffer.rfind(mark) for mark in marks)
    if cut < 0:
        return (buffer, b"") if len(buffer) > limit else (b"", buffer)
    return buffer[: cut + 1], buffer[cut + 1 :]

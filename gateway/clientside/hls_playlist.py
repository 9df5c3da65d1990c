"""A live HLS media playlist read once from the panel and written again for each viewer: pure functions, no I/O.

The panel's playlist names its segments (and its key, its init section) by URLs that carry the credentials of
whoever opened the channel: a provider line's, or the first viewer's (XC_VM seals `username/password/ip/stream/
segment/uuid` into every `/hls/{token}`). None of those URLs is handed out. Each one gets a name inside the
channel instead, the same for every viewer, and a viewer's copy of the playlist points every URI to
`{base}{name}`, where `base` is that viewer's own gateway prefix (gateway.clientside.hls_live):
- a segment is named by its media sequence number (`EXT-X-MEDIA-SEQUENCE` plus its place), which stays the same
  across reloads even where the panel's token for it does not;
- a URI in a tag (`EXT-X-KEY`, `EXT-X-MAP`) by a digest of its URL.
A multi-variant (master) playlist is not a media playlist: `parse` answers None and the caller relays it per
viewer as before.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

DEFAULT_SECONDS = 10.0  # a segment whose EXTINF is missing or absurd is kept this long (HLS's usual length)
MAX_SECONDS = 60.0
_URI_ATTR = re.compile(r'URI="([^"]*)"')
_EXT = re.compile(r"\.([A-Za-z0-9]{1,5})$")
_VARIANTS = ("#EXT-X-STREAM-INF", "#EXT-X-I-FRAME-STREAM-INF")


@dataclass(frozen=True)
class Resource:
    """Something a playlist points to: its name in the channel, its upstream URL, how long it is (0: not a
    segment)."""

    name: str
    url: str  # the panel's, credentials inside: fetched by the gateway, never written to a viewer
    seconds: float


@dataclass(frozen=True)
class MediaPlaylist:
    parts: tuple[str, ...]  # text, name, text, name, ..., text: every odd part a resource name
    resources: dict[str, Resource]
    target: float  # EXT-X-TARGETDURATION
    sequence: int  # EXT-X-MEDIA-SEQUENCE

    def render(self, base: str) -> str:
        """The playlist as one viewer gets it: every resource at `base` + its name."""
        return "".join(base + part if i % 2 else part for i, part in enumerate(self.parts))


def _number(text: str, default: float) -> float:
    try:
        value = float(text.split(",", 1)[0].strip())
    except ValueError:
        return default
    return value if 0 < value <= MAX_SECONDS else default


def _extension(url: str, default: str) -> str:
    found = _EXT.search(urlsplit(url).path)
    return "." + found.group(1).lower() if found else default


def parse(text: str, base_url: str) -> MediaPlaylist | None:
    """The media playlist fetched from `base_url` (its URL after redirects), None for a multi-variant one.
    Raises ValueError for a body that is no playlist at all."""
    lines = text.splitlines()
    if not lines or not lines[0].lstrip("\ufeff").startswith("#EXTM3U"):
        raise ValueError("not an HLS playlist")
    if any(line.startswith(_VARIANTS) for line in lines):
        return None
    target, sequence, seconds = DEFAULT_SECONDS, 0, 0.0
    parts: list[str] = []
    text_now: list[str] = []
    resources: dict[str, Resource] = {}
    index = 0

    def point(prefix: str, resource: Resource, suffix: str) -> None:
        text_now.append(prefix)
        parts.extend(("".join(text_now), resource.name))
        text_now.clear()
        text_now.append(suffix)
        resources[resource.name] = resource

    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = _number(line.partition(":")[2], DEFAULT_SECONDS)
        elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            value = line.partition(":")[2].strip()
            sequence = int(value) if value.isdigit() else 0
        elif line.startswith("#EXTINF:"):
            seconds = _number(line.partition(":")[2], 0.0)
        if line.startswith("#"):
            cut = 0
            for found in _URI_ATTR.finditer(line):
                url = urljoin(base_url, found.group(1))
                name = "k" + hashlib.sha256(url.encode()).hexdigest()[:20] + _extension(url, ".bin")
                point(line[cut : found.start(1)], Resource(name, url, 0.0), "")
                cut = found.end(1)
            text_now.append(line[cut:] + "\n")
            continue
        url = urljoin(base_url, line)
        name = f"{sequence + index}{_extension(url, '.ts')}"
        point("", Resource(name, url, seconds or target), "\n")
        index, seconds = index + 1, 0.0
    parts.append("".join(text_now))
    return MediaPlaylist(tuple(parts), resources, target, sequence)

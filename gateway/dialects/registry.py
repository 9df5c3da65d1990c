"""Dialect lookup by name: the one place that knows which modules implement which faces."""

from __future__ import annotations

from gateway.dialects import xtream_codes_v2, xtream_masters
from gateway.dialects.base import ClientFace, UpstreamFace

_CLIENT: dict[str, ClientFace] = {xtream_masters.NAME: xtream_masters, xtream_codes_v2.NAME: xtream_codes_v2}
_UPSTREAM: dict[str, UpstreamFace] = {xtream_masters.NAME: xtream_masters, xtream_codes_v2.NAME: xtream_codes_v2}
DIALECTS = tuple(_CLIENT)


def client_face(name: str) -> ClientFace:
    return _CLIENT[name]


def upstream_face(name: str) -> UpstreamFace:
    return _UPSTREAM[name]

"""Dialect lookup by name: the one place that knows which modules implement which faces."""

from __future__ import annotations

from gateway.dialects import midnight, xtream_codes_v2, xtream_masters
from gateway.dialects.base import ClientFace, UpstreamFace

_MODULES = (xtream_masters, xtream_codes_v2, midnight)
_CLIENT: dict[str, ClientFace] = {m.NAME: m for m in _MODULES}
_UPSTREAM: dict[str, UpstreamFace] = {m.NAME: m for m in _MODULES}
DIALECTS = tuple(_CLIENT)


def client_face(name: str) -> ClientFace:
    return _CLIENT[name]


def upstream_face(name: str) -> UpstreamFace:
    return _UPSTREAM[name]

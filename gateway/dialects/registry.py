"""The dialects by name: the one place that knows which packages implement them."""

from __future__ import annotations

from gateway.dialects import midnight, xtream_codes_v2, xtream_masters, xui_reseller
from gateway.dialects.base import ClientFace, Dialect, UpstreamFace

BY_NAME: dict[str, Dialect] = {
    d.DIALECT.name: d.DIALECT for d in (xtream_masters, xtream_codes_v2, midnight, xui_reseller)
}
DIALECTS = tuple(BY_NAME)


def dialect(name: str) -> Dialect:
    return BY_NAME[name]


def client_face(name: str) -> ClientFace:
    return BY_NAME[name].client


def upstream_face(name: str) -> UpstreamFace:
    return BY_NAME[name].upstream

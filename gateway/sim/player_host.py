"""What the player simulator's route modules (aliases, the Stalker portal) need of the player it serves, as a
Protocol: they depend on this, and gateway.sim.player on them, so no import runs in a circle."""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from gateway.sim.player_data import Row, Tables


class PlayerHost(Protocol):
    tables: Tables

    def note(self, request: web.Request) -> None: ...

    def line_of(self, params: Any) -> Row | None: ...

    async def player_api(self, request: web.Request, extra: dict[str, str] | None = None) -> web.Response: ...

    async def get_php(self, request: web.Request, extra: dict[str, str] | None = None) -> web.StreamResponse: ...

    async def xmltv(self, request: web.Request, extra: dict[str, str] | None = None) -> web.StreamResponse: ...

    async def deliver(self, request: web.Request, kind: str, line: Row, sid: int, ext: str) -> web.StreamResponse: ...

    async def play_token(self, request: web.Request, token: str, ext: str) -> web.StreamResponse: ...

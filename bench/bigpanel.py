"""A large panel for the player-side benchmarks: 30,000 live channels, 1,000 lines over 5 distinct bouquet sets.

Bouquet 100 holds the first CHANNELS - 5,000 channels; bouquets 101-105 hold 1,000 more each, so a line with
{100, 100 + k} sees a full-size list and 5 lines in a row see 5 different ones (line `pl{n}`/`pw{n}` has set
n % 5). Logos are half on the panel's own host (as an admin who uploads them to the panel writes them, the
gateway must hide them) and half on a CDN.

The simulator generates a 30k-channel list in Python in a fraction of a second; a real panel serves it from its
own cache. So the answers are memoised per (bouquet set, parameters, origin) with the line's `/user/pass/`
segment put back per request: the panel costs what a static file costs, and the figures are the proxies'.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.sim import player_data as data
from gateway.sim.player import PlayerSim

CHANNELS = 30_000
SETS = 5
PER_SET = 1_000
LINES = 1_000
BIG_ID = 100
_HOLE = "/\x00u\x00/\x00p\x00/"


def line_name(n: int) -> tuple[str, str]:
    return f"pl{n}", f"pw{n}"


def populate(tables: data.Tables, origin_host: str) -> None:
    """Add the channels, bouquets and lines (`origin_host`: `host:port` the panel's logos are written under)."""
    template = tables["streams"][1]
    first = max(tables["streams"]) + 1
    ids = list(range(first, first + CHANNELS))
    for n, sid in enumerate(ids):
        icon = (f"http://{origin_host}/images/logos/{sid}.png" if n % 2 else
                f"https://img.example.net/logos/{sid}.png")  # fmt: skip
        name = f"UK| ENTERTAINMENT FHD: Channel {n} (1080p)"
        tables["streams"][sid] = {**template, "id": str(sid), "stream_display_name": name, "stream_icon": icon,
                                  "channel_id": f"channel{n}.uk", "order": str(sid),
                                  "tv_archive_duration": "3" if n % 10 == 0 else "0"}  # fmt: skip
    shared = CHANNELS - SETS * PER_SET
    groups = [ids[:shared]] + [ids[shared + k * PER_SET : shared + (k + 1) * PER_SET] for k in range(SETS)]
    for k, group in enumerate(groups):
        tables["bouquets"][BIG_ID + k] = {"id": str(BIG_ID + k), "bouquet_name": f"Big {k}",
                                          "bouquet_channels": json.dumps(group), "bouquet_movies": "[]",
                                          "bouquet_radios": "[]", "bouquet_series": "[]",
                                          "bouquet_order": str(BIG_ID + k)}  # fmt: skip
    for n in range(LINES + 1):  # and one more, for a warm-up outside the measured lines
        user, password = line_name(n)
        row = data.add_line(tables, user, password, 1)
        row["bouquet"] = json.dumps([BIG_ID, BIG_ID + 1 + n % SETS])


Handler = Callable[..., Awaitable[web.StreamResponse]]


def memoise(player: PlayerSim) -> None:
    """get.php and player_api.php answered from a per-bouquet-set memo (the lines' credentials put back)."""
    memo: dict[tuple[Any, ...], tuple[bytes, dict[str, str]]] = {}

    def wrap(inner: Handler, names: tuple[str, ...]) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            params = request.query
            line = player.line_of(params)
            if line is None or request.method != "GET":
                return await inner(request)
            key = (request.path, line["bouquet"], request.host, *(params.get(n, "") for n in names))
            if key not in memo:
                memo[key] = await _render(inner, request, line, player)
            body, headers = memo[key]
            secret = f"/{line['username']}/{line['password']}/".encode()
            return web.Response(body=body.replace(_HOLE.encode(), secret), headers=headers)

        return handler

    player.get_php = wrap(player.get_php, ("type", "output", "key"))  # type: ignore[method-assign,assignment]
    player.player_api = wrap(player.player_api, ("action", "category_id"))  # type: ignore[method-assign,assignment]


async def _render(inner: Handler, request: web.Request, line: data.Row, player: PlayerSim) -> tuple[bytes,
                                                                                                  dict[str, str]]:
    """What the simulator answers: get.php rendered from its playlist lines (it streams them), player_api read
    back from its response."""
    secret = f"/{line['username']}/{line['password']}/".encode()
    if request.path == "/get.php":
        params = request.query
        kinds = frozenset(params["key"].split(",")) if params.get("key") else None
        origin = player._origin(request)[0]
        lines = data.m3u_lines(player.tables, line, origin, params.get("type", "m3u") == "m3u_plus",
                               params.get("output", "ts"), kinds)  # fmt: skip
        body = "".join(text + "\n" for text in lines).encode()
        headers = {"Content-Type": "audio/x-mpegurl", "Content-Disposition": 'attachment; filename="playlist.m3u"'}
    else:
        answer = await inner(request)
        assert isinstance(answer, web.Response) and isinstance(answer.body, bytes)
        body = answer.body
        headers = {"Content-Type": answer.headers["Content-Type"]}
    return body.replace(secret, _HOLE.encode()), headers

"""Shared live channels end to end: viewers on real sockets, a panel that sends live in real time and counts its
connections per line, the gateway in between."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.clientside.ts_join import PACKET, SYNC
from tests.integration.live_fixtures import Watcher, make_live, wait_for

__all__ = ["make_live"]  # a fixture: pytest finds it by name in this module


def is_ts_from_start(data: bytes, packets: int = 20) -> bool:
    return len(data) >= packets * PACKET and all(data[k * PACKET] == SYNC for k in range(packets))


async def test_fifty_viewers_of_three_channels_make_three_upstream_connections(make_live: Any) -> None:
    side = await make_live(providers=(2, 2), viewers=50)
    watchers = [Watcher(side.url(side.viewer_path(n, 1 + n % 3))).start() for n in range(50)]
    try:
        await wait_for(lambda: all(len(w.received) >= 4 * PACKET for w in watchers), 30, "every viewer's bytes")
        assert {w.status for w in watchers} == {200}
        assert side.upstream_open() == 3 and side.provider_open() == 3
        assert side.viewers_open() == 0  # no viewer's own line holds a connection on the panel
        ready = (await side.readyz())["shared_live"]
        assert (ready["channels"], ready["viewers"], ready["upstream_connections_saved"]) == (3, 50, 47)
        assert await side.metric("panelgate_upstream_connections_saved") == 47
        assert await side.metric("panelgate_provider_slots_held") == 3
    finally:
        for w in watchers:
            await w.stop()
    await wait_for(lambda: side.upstream_open() == 0, 15, "the channels to close after their linger")
    assert side.sim.player.refused_over_limit == 0
    text = await (await side.admin.get("/metrics")).text()
    assert "provider0" not in text and "secret-provider" not in text  # lines are named, never their credentials


async def test_viewers_of_one_line_share_without_provider_lines(make_live: Any) -> None:
    """Without provider lines a channel is shared by the viewers of one line only: each line opens its own."""
    side = await make_live(viewers=2, viewer_connections=3, live_linger=0)
    same = [Watcher(side.url(side.viewer_path(0, 7))).start() for _ in range(3)]
    other = Watcher(side.url(side.viewer_path(1, 7))).start()
    try:
        await wait_for(lambda: all(len(w.received) >= 10 * PACKET for w in [*same, other]), 20, "bytes")
        assert side.sim.player.open_by_line["viewer0"] == 1 and side.sim.player.open_by_line["viewer1"] == 1
        # the first viewers had every byte from the start; the joiners the channel's bytes from where they joined
        # (not TS here: at a read boundary)
        assert same[0].received[:4096] == other.received[:4096]
        assert all(bytes(w.received[:4096]) in same[0].received for w in same[1:])
    finally:
        for w in [*same, other]:
            await w.stop()
    await wait_for(lambda: side.upstream_open() == 0, 10, "no linger: closed with the last viewer")


async def test_a_line_is_held_to_its_max_connections(make_live: Any) -> None:
    """Riding on a shared connection, a viewer is still counted against its own line's max_connections."""
    side = await make_live(viewers=1, viewer_connections=1)
    first = Watcher(side.url(side.viewer_path(0, 3))).start()
    try:
        await wait_for(lambda: len(first.received) > PACKET, 10)
        second = Watcher(side.url(side.viewer_path(0, 3))).start()
        await second.started.wait()
        assert second.status == 403  # the panel would have refused it: the gateway does
        await second.stop()
        assert side.upstream_open() == 1
    finally:
        await first.stop()


async def test_zapping_back_within_the_linger_does_not_reconnect(make_live: Any) -> None:
    side = await make_live(providers=(1,), viewers=1, live_linger=1.5)
    first = Watcher(side.url(side.viewer_path(0, 5))).start()
    await wait_for(lambda: len(first.received) > PACKET, 10)
    await first.stop()
    await asyncio.sleep(0.3)
    assert side.provider_open() == 1  # lingering
    back = Watcher(side.url(side.viewer_path(0, 5))).start()
    await wait_for(lambda: len(back.received) > PACKET, 10)
    assert sum(1 for path in side.sim.player.received if path.startswith("/live/provider0/")) == 1
    await back.stop()
    await wait_for(lambda: side.upstream_open() == 0, 10, "the linger to end")


async def test_every_slot_busy_is_a_clear_503(make_live: Any) -> None:
    side = await make_live(providers=(1,), viewers=2, live_linger=30)
    first = Watcher(side.url(side.viewer_path(0, 1))).start()
    try:
        await wait_for(lambda: len(first.received) > PACKET, 10)
        resp = await side.client.get(side.viewer_path(1, 2))
        assert resp.status == 503 and resp.headers["Retry-After"].isdigit()
        assert await side.metric("panelgate_provider_busy_total") == 1
        joined = Watcher(side.url(side.viewer_path(1, 1))).start()  # the channel already open: no slot needed
        await wait_for(lambda: len(joined.received) > PACKET, 10)
        await joined.stop()
    finally:
        await first.stop()
    # nobody watches channel 1 now: it lingers, but a viewer who wants another channel gets its slot at once
    resp = await side.client.get(side.viewer_path(1, 2))
    assert resp.status == 200
    resp.close()
    await wait_for(lambda: side.upstream_open() <= 1, 10)
    assert side.sim.player.refused_over_limit == 0


async def test_a_viewer_gone_while_its_channel_opens_leaves_the_others_a_channel(make_live: Any) -> None:
    # the first viewer opens the channel on the panel (slow to answer here) and goes away meanwhile: a viewer
    # waiting for that channel opens it anew, never told the panel failed (it was a 502 for every waiter)
    side = await make_live(providers=(2,), viewers=2)
    serve = side.sim.player._serve

    async def slow(request: Any, path: str) -> Any:
        await asyncio.sleep(0.5)
        return await serve(request, path)

    side.sim.player._serve = slow  # type: ignore[method-assign]
    opener = Watcher(side.url(side.viewer_path(0, 1))).start()
    await asyncio.sleep(0.15)
    waiter = Watcher(side.url(side.viewer_path(1, 1))).start()
    await asyncio.sleep(0.15)
    await opener.stop()
    await wait_for(waiter.started.is_set, 10, "the second viewer's answer")
    assert waiter.status == 200
    await wait_for(lambda: len(waiter.received) > 0, 10, "the second viewer's stream")
    await waiter.stop()

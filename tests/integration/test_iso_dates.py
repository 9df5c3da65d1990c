"""A date as JavaScript's `Date.prototype.toISOString()` writes it (`2031-01-01T12:00:00.000Z`) is a date to
PHP's `new DateTime()` (the `soap` format: ISO 8601 with a fraction), so XUI.one takes it as exp_date; the
gateway must not refuse it with STATUS_INVALID_DATE, whatever panel is behind it."""

from __future__ import annotations

from pathlib import Path

from gateway.sim.xtream_codes_v2 import XtreamCodesV2Sim
from tests.conftest import AiohttpClient, AiohttpServer
from tests.integration.xc_fixtures import xm_client_stack

NOON_2031 = 1925035200  # 2031-01-01 12:00:00 UTC


async def test_an_iso_date_with_milliseconds_is_an_expiry(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, policies_dir: Path, tmp_path: Path
) -> None:
    st = await xm_client_stack(aiohttp_server, aiohttp_client, policies_dir, tmp_path)
    body = await st.xm(action="create_line", username="iso_ms", password="pw_iso_ms_1",
                       exp_date="2031-01-01T12:00:00.000Z")  # fmt: skip
    assert body["status"] == "STATUS_SUCCESS", body
    sim: XtreamCodesV2Sim = st.sim
    row = next(r for r in sim.tables["users"].values() if r["username"] == "iso_ms")
    assert int(row["exp_date"]) == NOON_2031
    # with an offset and a fraction, as other ISO writers put it
    body = await st.xm(action="create_line", username="iso_ms2", password="pw_iso_ms_2",
                       exp_date="2031-01-01T13:00:00.123456+01:00")  # fmt: skip
    assert body["status"] == "STATUS_SUCCESS", body
    row = next(r for r in sim.tables["users"].values() if r["username"] == "iso_ms2")
    assert int(row["exp_date"]) == NOON_2031

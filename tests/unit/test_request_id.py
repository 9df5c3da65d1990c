"""A caller's X-Request-Id is kept only when the whole of it is harmless: it goes back out in an answer's
headers (gateway.whole_answer writes them itself) and upstream."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from gateway.exchange import Exchange


@pytest.mark.parametrize("given", ["trace-42", "a.b_c-D", "x" * 64])
def test_a_harmless_id_is_kept(given: str) -> None:
    assert Exchange.request_id_of(make_mocked_request("GET", "/", headers={"X-Request-Id": given})) == given


# a trailing newline passed `^...$` with re.match; the HTTP parser never lets one through, and this does not rely on it
@pytest.mark.parametrize("given", ["trace-42\n", "a b", "x" * 65, "é", "a\r\nSet-Cookie: x=1", ""])
def test_anything_else_is_replaced(given: str) -> None:
    request_id = Exchange.request_id_of(make_mocked_request("GET", "/", headers={"X-Request-Id": given}))
    assert request_id != given and len(request_id) == 32

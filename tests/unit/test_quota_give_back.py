"""When a counted call is given back to its quotas: only when it did nothing at all."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from gateway.model import Code, Failure, Reason, Result
from gateway.quotas.step import _nothing_sent


def _ex(may_have_written: bool) -> Any:
    return SimpleNamespace(may_have_written=may_have_written)


@pytest.mark.parametrize(("outcome", "wrote", "given_back"), [
    (Result(data={}), False, False),
    (Failure(Code.UNSUPPORTED, "no upstream can", reason=Reason.UNSUPPORTED), False, True),
    (Failure(Code.UPSTREAM_UNAVAILABLE, "refused", retryable=True), False, True),
    # a compound write whose first call reached the panel and whose next one never left: it did something
    (Failure(Code.UPSTREAM_UNAVAILABLE, "refused", retryable=True), True, False),
    (Failure(Code.PARTIAL_FAILURE, "half", retryable=True), False, False),
    (Failure(Code.UPSTREAM_UNAVAILABLE, "timed out after sending", retryable=False), False, False),
    (Failure(Code.EXISTS_USERNAME, "taken"), True, False),
])  # fmt: skip
def test_a_call_is_given_back_only_when_it_did_nothing(outcome: Any, wrote: bool, given_back: bool) -> None:
    assert _nothing_sent(_ex(wrote), outcome) is given_back

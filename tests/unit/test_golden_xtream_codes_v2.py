"""Properties of the Xtream Codes v2 translator beyond its golden files (the cases themselves run in
tests/unit/test_golden.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.catalogue import catalogue
from gateway.dialects.xtream_codes_v2.vocabulary import MAG
from gateway.upstream_settings import Upstream
from tests.unit.golden import HARNESSES, load

HARNESS = HARNESSES["xtream_codes_v2"]
UPSTREAM_FACE = HARNESS.dialect.upstream


@pytest.mark.parametrize("path", HARNESS.cases, ids=[p.stem for p in HARNESS.cases])
def test_nothing_but_the_tables_columns_reaches_user_data(path: Path) -> None:
    """api.php puts user_data's names into SQL: whatever a client sends, only the users table's columns that the
    gateway knows are ever sent inside it, and no top-level name but the envelope's."""
    actual = HARNESS.run(load(path))
    if "upstream" not in actual:
        return
    columns = {f.wire for f in MAG.entries}
    envelope = {"api_pass", "username", "password", "mac", "stream_ids[]", "servers[]", "id", "amount"}
    for name, _ in actual["upstream"]["form"]:
        if name.startswith("user_data["):
            assert name.removeprefix("user_data[").split("]")[0] in columns, name
        else:
            assert name in envelope, name


def test_sql_through_user_data_is_refused_before_any_upstream() -> None:
    actual = HARNESS.run(HARNESS.case("user_create_sql_column"))
    assert "upstream" not in actual and actual["refused"]["reason"] == "bad_input"
    assert actual["render"]["body"]["error"] == "PARAMETER ERROR"


def test_insufficient_credits_is_result_true_with_the_error_as_api_php_says_it() -> None:
    body = HARNESS.run(HARNESS.case("decode_not_enough_credits"))["render"]["body"]
    assert body == {"result": True, "error": "NOT ENOUGH CREDITS"}


def test_an_edit_that_would_clear_the_expiry_is_refused_toward_xc_v2() -> None:
    """user/edit writes exp_date as given, so the empty value that means "never expires" would expire the line
    (0): the call is refused, not sent and answered a success."""
    op = catalogue().operations["line.edit"]
    upstream = Upstream(name="xc", dialect="xtream_codes_v2", url="http://panel.test")
    assert UPSTREAM_FACE.foreign_fields(op, {"exp_date": None, "enabled": True}, upstream) == ("exp_date",)
    assert UPSTREAM_FACE.foreign_fields(op, {"exp_date": 1924992000}, upstream) == ()
    create = catalogue().operations["line.create"]
    assert UPSTREAM_FACE.foreign_fields(create, {"exp_date": None}, upstream) == ()

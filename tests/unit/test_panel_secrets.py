"""The panel's secrets leave every answer, at any depth and in any case; rows without any are not copied."""

from __future__ import annotations

from typing import Any

from gateway.catalogue import catalogue
from gateway.model import Result
from gateway.panel_secrets import strip


def _data(action: str, data: Any) -> Any:
    outcome = strip(catalogue().by_xm_action[action], Result(data=data))
    assert isinstance(outcome, Result)
    return outcome.data


def test_clean_rows_are_the_same_objects() -> None:
    rows = [{"id": str(i), "username": f"u{i}", "password": "pw", "enabled": 1, "exp_date": None} for i in range(30)]
    assert _data("get_lines", rows) is rows


def test_a_secret_column_goes_in_any_case_on_every_row_with_the_same_names() -> None:
    rows = [{"id": str(i), "API_KEY": "k", "username": f"u{i}"} for i in range(5)]
    assert _data("get_lines", rows) == [{"id": str(i), "username": f"u{i}"} for i in range(5)]


def test_the_same_column_names_are_judged_by_what_is_secret_for_the_resource() -> None:
    names = {"id": "1", "username": "r1", "password": "$6$rounds=5000$salt$hash"}
    lines = _data("get_lines", [dict(names)])  # a line's password is its customer's: it stays
    assert lines == [names]
    users = _data("get_users", [dict(names)])  # a reseller's stored hash does not, with the same column names
    assert users == [{"id": "1", "username": "r1"}]


def test_a_secret_nested_in_a_clean_row_goes() -> None:
    rows = [{"id": "1", "owner": {"id": "2", "api_key": "k"}}, {"id": "2", "owner": [{"apikey": "k", "x": 1}]}]
    assert _data("get_lines", rows) == [{"id": "1", "owner": {"id": "2"}}, {"id": "2", "owner": [{"x": 1}]}]


def test_column_names_that_are_not_strings_are_walked() -> None:
    rows = [{1: "a", "api_pass": "k"}, {1: "a"}]
    assert _data("get_lines", rows) == [{1: "a"}, {1: "a"}]

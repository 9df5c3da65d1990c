"""gateway.fields: typed conversions of panel values, each failure naming its field and canonical code."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.fields import (
    MAX_INT,
    FieldError,
    date_to_unix,
    int_list,
    mac,
    scalar,
    str_list,
    to_flag,
    to_int,
    unix_to_date,
)
from gateway.model import Code
from gateway.phpform import parse_urlencoded

# --- scalars -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [["1"], {"a": "1"}, None, 1])
def test_scalar_refuses_non_strings(value: Any) -> None:
    with pytest.raises(FieldError) as info:
        scalar("f", value)
    assert info.value.field == "f"
    assert info.value.code is Code.INVALID_INPUT


@pytest.mark.parametrize(("text", "number"), [("0", 0), ("42", 42), (" 7 ", 7), ("-0", 0), (str(MAX_INT), MAX_INT)])
def test_to_int(text: str, number: int) -> None:
    assert to_int("id", text) == number


@pytest.mark.parametrize(
    "text", ["", "abc", "1.5", "1e3", "+5", "0x10", "\uff11\uff12", "12345678901", str(MAX_INT + 1), "-1", "1 2"]
)
def test_to_int_refuses(text: str) -> None:
    with pytest.raises(FieldError) as info:
        to_int("id", text)
    assert info.value.field == "id"
    assert info.value.code is Code.INVALID_INPUT
    assert str(info.value).startswith("id: ")


def test_to_int_range() -> None:
    assert to_int("credits", "-5", low=-10, high=10) == -5
    assert to_int("limit", "10", low=1, high=10) == 10
    for text in ("-11", "11"):
        with pytest.raises(FieldError, match="between -10 and 10"):
            to_int("credits", text, low=-10, high=10)
    with pytest.raises(FieldError):
        to_int("limit", "0", low=1)
    with pytest.raises(FieldError):
        to_int("id", ["1"])


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("1", True),
        ("true", True),
        ("ON", True),
        ("yes", True),
        ("0", False),
        ("false", False),
        ("off", False),
        ("", False),
    ],
)
def test_to_flag(text: str, flag: bool) -> None:
    assert to_flag("enabled", text) is flag


@pytest.mark.parametrize("text", ["2", "-1", "y", "enabled"])
def test_to_flag_refuses(text: str) -> None:
    with pytest.raises(FieldError) as info:
        to_flag("enabled", text)
    assert info.value.code is Code.INVALID_INPUT


# --- dates -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ts"),
    [
        ("2030-01-31", 1896048000),
        ("2030-01-31 12:30", 1896093000),
        ("2030-01-31 12:30:15", 1896093015),
        (" 2030-01-31 ", 1896048000),
        ("@1896048000", 1896048000),
        ("2030-01-31T12:30:15", 1896093015),
        ("2030-01-31T12:30:15Z", 1896093015),
        ("2030-01-31 14:30:15 +02:00", 1896093015),
        ("01/31/2030", 1896048000),
        ("31-01-2030", 1896048000),
        ("", None),
        ("null", None),
        ("NULL", None),
    ],
)
def test_date_to_unix(text: str, ts: int | None) -> None:
    assert date_to_unix("exp_date", text) == ts


@pytest.mark.parametrize(
    "text",
    [
        "2030-13-01",
        "2030-02-32",
        "31/01/2030",  # PHP reads a slash as month/day/year
        "2030-01-31 25:00",
        "-5",
        "1896048000",  # a bare UNIX number is not a date to PHP's DateTime (use @1896048000)
        "0",
        "12345678901",
        "garbage",
    ],
)
def test_date_to_unix_invalid_date(text: str) -> None:
    with pytest.raises(FieldError) as info:
        date_to_unix("exp_date", text)
    assert info.value.code is Code.INVALID_DATE
    assert info.value.field == "exp_date"


@pytest.mark.parametrize(
    ("text", "timezone", "ts"),
    [  # measured on XC_VM (../shared/realpanel): the panel reads dates in its own time zone
        ("2026-12-31", "America/New_York", 1798693200),
        ("2026-07-01", "Europe/London", 1782860400),
        ("2026-12-31 23:59:59", "Europe/London", 1798761599),
        ("@1767225600", "Europe/London", 1767225600),
        ("2026-12-31T23:59:59Z", "Europe/London", 1798761599),
    ],
)
def test_date_to_unix_in_the_panels_time_zone(text: str, timezone: str, ts: int) -> None:
    assert date_to_unix("exp_date", text, timezone) == ts
    assert date_to_unix("exp_date", unix_to_date(ts, timezone), timezone) == ts


def test_relative_dates_count_from_now() -> None:
    now = 1_800_000_000
    assert date_to_unix("exp_date", "+1 day", "UTC", now) == now + 86_400
    assert date_to_unix("exp_date", "tomorrow", "UTC", now) == 1_800_057_600  # the next midnight
    assert date_to_unix("exp_date", "+1 month", "UTC", now) == 1_802_678_400


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [  # measured with php-cli: new DateTime($text) (relative forms: DateTime($now)->modify($text)), UTC
        ("+1 month", "2027-01-31 10:00:00", "2027-03-03 10:00:00"),
        ("+1 months", "2027-03-31 10:00:00", "2027-05-01 10:00:00"),
        ("-1 month", "2027-03-31 10:00:00", "2027-03-03 10:00:00"),
        ("+1 year", "2028-02-29 10:00:00", "2029-03-01 10:00:00"),
        ("2030-02-30", "2027-01-01 00:00:00", "2030-03-02 00:00:00"),
        ("2030-02-31", "2027-01-01 00:00:00", "2030-03-03 00:00:00"),
        ("2030-02-00", "2027-01-01 00:00:00", "2030-01-31 00:00:00"),
        ("02/30/2030", "2027-01-01 00:00:00", "2030-03-02 00:00:00"),
        ("30-02-2030", "2027-01-01 00:00:00", "2030-03-02 00:00:00"),
        ("2030-01-31 24:00:00", "2027-01-01 00:00:00", "2030-02-01 00:00:00"),
    ],
)
def test_dates_run_over_as_php_runs_them(text: str, now: str, expected: str) -> None:
    """A reseller script sending `exp_date=+1 month` must not fail on the 29th-31st of a month (XUI.one's
    DateTime takes it, running over into the month after)."""

    def stamp(wall: str) -> int:
        return int(datetime.strptime(wall, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp())

    assert date_to_unix("exp_date", text, "UTC", stamp(now)) == stamp(expected)


def test_date_to_unix_array_is_invalid_input() -> None:
    with pytest.raises(FieldError) as info:
        date_to_unix("exp_date", ["2030-01-31"])
    assert info.value.code is Code.INVALID_INPUT


@pytest.mark.parametrize(
    ("ts", "text"),
    [(1896048000, "2030-01-31"), (1896093015, "2030-01-31 12:30:15"), (0, "1970-01-01"), (1, "1970-01-01 00:00:01")],
)
def test_unix_to_date(ts: int, text: str) -> None:
    assert unix_to_date(ts) == text


@pytest.mark.parametrize("ts", [0, 1, 59, 86399, 86400, 951782400, 1709208000, 1896093015, 2147483647, 4102444800])
def test_unix_to_date_round_trip(ts: int) -> None:
    assert date_to_unix("exp_date", unix_to_date(ts)) == ts


@pytest.mark.parametrize("text", ["2024-02-29", "2030-01-31 12:30:15", "1999-12-31 23:59:59"])
def test_date_round_trip(text: str) -> None:
    ts = date_to_unix("exp_date", text)
    assert ts is not None
    assert unix_to_date(ts) == text


# --- id lists ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ids"),
    [
        ("[1,2,5]", [1, 2, 5]),
        (" [ 1 , 2 ] ", [1, 2]),
        ('["1","2"]', [1, 2]),
        ("[]", []),
        ("", []),
        ("  ", []),
        (["1", "2", "5"], [1, 2, 5]),
        ([], []),
        ([f"{MAX_INT}"], [MAX_INT]),
    ],
)
def test_int_list(value: Any, ids: list[int]) -> None:
    assert int_list("bouquets_selected", value) == ids


def test_int_list_from_php_array_forms() -> None:
    # `a[]=1&a[]=2` and http_build_query's `a[0]=1&a[1]=2` are the same PHP array.
    assert int_list("b", parse_urlencoded("b[]=1&b[]=2")["b"]) == [1, 2]
    assert int_list("b", parse_urlencoded("b%5B0%5D=1&b%5B1%5D=2")["b"]) == [1, 2]
    assert int_list("b", parse_urlencoded("b=%5B1%2C2%5D")["b"]) == [1, 2]
    # array_unique() / array_filter() keep their keys, and the panels read the values (array_map, foreach)
    assert int_list("b", parse_urlencoded("b%5B0%5D=1&b%5B2%5D=2")["b"]) == [1, 2]
    assert int_list("b", parse_urlencoded("b%5B1%5D=1&b%5B0%5D=2")["b"]) == [1, 2]


@pytest.mark.parametrize(
    "value",
    [
        "1,2",
        "[1,",
        '{"a":1}',
        "5",
        "[1.5]",
        "[true]",
        "[-1]",
        f"[{MAX_INT + 1}]",
        "[[1]]",
        '["x"]',
        '[" 1"]',
        "[null]",
        ["x"],
        ["-1"],
        [" 1"],
        [{"a": "1"}],
        {"a": "1"},
        {"0": "1", "x": "2"},  # a named key: not a list
        None,
        "[" * 100_000,  # deep nesting must be a bad value, not a RecursionError
    ],
)
def test_int_list_refuses(value: Any) -> None:
    with pytest.raises(FieldError) as info:
        int_list("bouquets_selected", value)
    assert info.value.field == "bouquets_selected"
    assert info.value.code is Code.INVALID_INPUT


# --- string lists ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "items"),
    [
        (["1.2.3.4", "10.0.0.0/8"], ["1.2.3.4", "10.0.0.0/8"]),
        ('["1.2.3.4"]', ["1.2.3.4"]),
        ("1.2.3.4", ["1.2.3.4"]),
        ("", []),
        ([], []),
        ({"0": "a", "1": "b"}, ["a", "b"]),
    ],
)
def test_str_list(value: Any, items: list[str]) -> None:
    assert str_list("allowed_ips", value) == items


@pytest.mark.parametrize(
    "value", ["[1,2]", "[oops", '[{"a":1}]', [{"x": "1"}], [["a"]], {"a": "b"}, None, "[" * 100_000]
)
def test_str_list_refuses(value: Any) -> None:
    with pytest.raises(FieldError) as info:
        str_list("allowed_ips", value)
    assert info.value.field == "allowed_ips"


# --- MAC ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("00:1a:79:aa:bb:cc", "00:1A:79:AA:BB:CC"),
        ("00:1A:79:AA:BB:CC", "00:1A:79:AA:BB:CC"),
        (" 00:1a:79:00:00:01\n", "00:1A:79:00:00:01"),
    ],
)
def test_mac(text: str, normal: str) -> None:
    assert mac("mac", text) == normal


@pytest.mark.parametrize(
    "text",
    [
        "",
        "00:1A:79:AA:BB",
        "00:1A:79:AA:BB:CC:DD",
        "00-1A-79-AA-BB-CC",
        "001A79AABBCC",
        "00:1A:79:AA:BB:GG",
        "0:1A:79:AA:BB:CC",
        "00:1A:79:AA:BB:CC\nX",
    ],
)
def test_mac_invalid(text: str) -> None:
    with pytest.raises(FieldError) as info:
        mac("mac", text)
    assert info.value.code is Code.INVALID_MAC
    assert info.value.field == "mac"


def test_mac_array_is_invalid_input() -> None:
    with pytest.raises(FieldError) as info:
        mac("mac", ["00:1A:79:AA:BB:CC"])
    assert info.value.code is Code.INVALID_INPUT

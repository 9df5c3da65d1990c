"""gateway.policy with gateway.catalogue: deny wins, globs never grant danger, shipped policies do what they say."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from gateway.catalogue import Catalogue, FieldType, Kind, Operation, Target, _parse, catalogue
from gateway.config import ConfigError, load_policy
from gateway.policy import Policy

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "policies"

OPS = catalogue().operations
DANGER = [op for op in OPS.values() if op.kind is Kind.DANGER]
WRITES = [op for op in OPS.values() if op.kind is not Kind.READ]
READS = [op for op in OPS.values() if op.kind is Kind.READ]


def op(name: str) -> Operation:
    return OPS[name]


def policy(allow: list[str], deny: list[str] | None = None) -> Policy:
    return Policy(name="t", allow=tuple(allow), deny=tuple(deny or ()))


def shipped(name: str) -> Policy:
    return load_policy(SHIPPED / f"{name}.yaml")


# --- catalogue ---------------------------------------------------------------------------------------------


def test_catalogue_is_big_enough_to_be_the_real_one() -> None:
    assert len(catalogue()) >= 120
    assert catalogue().get("line.create") is op("line.create")
    assert catalogue().get("no.such") is None


def test_every_op_has_a_unique_xm_action() -> None:
    # Operations that only another dialect carries (XC v2 `stream/online`) have no xm action at all.
    actions = [o.xm_action for o in OPS.values() if o.xm_action is not None]
    assert len(actions) >= 120
    assert len(actions) == len(set(actions))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", a) for a in actions)
    assert {a: o.name for a, o in catalogue().by_xm_action.items()} == {
        o.xm_action: o.name for o in OPS.values() if o.xm_action is not None
    }


def test_names_are_resource_dot_verb() -> None:
    for name, o in OPS.items():
        assert re.fullmatch(r"[a-z][a-z_]*\.[a-z][a-z_]*", name), name
        assert o.name == name
        assert o.resource == name.split(".")[0]


def test_kinds_and_targets() -> None:
    assert {o.kind for o in OPS.values()} == set(Kind)
    for o in OPS.values():
        assert o.kind.value in ("read", "write", "danger")
        assert isinstance(o.target, Target)
        assert o.tags, o.name


def test_sql_query_is_danger() -> None:
    sql = op("sql.query")
    assert sql.kind is Kind.DANGER
    assert sql.xm_action == "mysql_query"
    assert catalogue().by_xm_action["mysql_query"] is sql


@pytest.mark.parametrize(
    "name", ["process.kill", "connection.kill", "blocked_ip.flush", "system.reload_nginx", "system.clear_streams"]
)
def test_host_reaching_operations_are_danger(name: str) -> None:
    assert op(name).kind is Kind.DANGER


def test_reads_look_like_reads() -> None:
    for o in OPS.values():
        verb = o.name.split(".")[1]
        if verb in ("create", "edit", "delete", "enable", "disable", "ban", "unban", "start", "stop", "add"):
            assert o.kind is not Kind.READ, o.name
        if verb in ("list", "get"):
            assert o.kind is Kind.READ, o.name


def test_settings_and_host_actions_are_not_catalogued() -> None:
    for action in ("get_settings", "edit_settings", "install_server", "delete_server", "get_pids", "get_directory"):
        assert action not in catalogue().by_xm_action


def test_duplicate_xm_action_is_refused() -> None:
    doc = {
        "operations": {
            "a.x": {"xm": "same", "kind": "read", "target": "none"},
            "b.x": {"xm": "same", "kind": "read", "target": "none"},
        }
    }
    with pytest.raises(ValueError, match="same"):
        _parse(doc)
    good = _parse({"operations": {"a.x": {"xm": "one", "kind": "write", "target": "id"}}})
    assert isinstance(good, Catalogue)
    assert good.get("a.x") == Operation("a.x", Kind.WRITE, Target.ID, ("a",), "one")


@pytest.mark.parametrize(
    ("fields", "uses", "problem"),
    [
        ({"g": {"edit": "int"}}, ["g"], "fields.g.edit is a reserved name"),
        ({"g": {"api_key": "str"}}, ["g"], "reserved"),
        ({"g": {"query": "str"}}, ["g"], "reserved"),  # sql.query's own group alone may name it
        ({"g": {"a": "int"}}, ["h"], "unknown field group 'h'"),
        ({"g": {"a": "int"}, "h": {"a": "str"}}, ["g", "h"], "declares a as two types"),
        ({"g": {"a": "float"}}, ["g"], "'float' is not a valid FieldType"),
    ],
)
def test_catalogue_fields_are_checked_when_loaded(fields: dict[str, Any], uses: list[str], problem: str) -> None:
    doc = {"fields": fields, "operations": {"a.x": {"xm": "x", "kind": "write", "target": "none", "fields": uses}}}
    with pytest.raises(ValueError, match=re.escape(problem)):
        _parse(doc)


def test_shipped_catalogue_declares_typed_fields() -> None:
    create = catalogue().operations["line.create"]
    assert create.fields["exp_date"] is FieldType.DATE and create.fields["bouquets"] is FieldType.IDS
    assert set(catalogue().operations["line.get"].fields) == {"show_columns", "hide_columns"}
    assert catalogue().operations["line.delete"].fields == {}
    assert set(catalogue().operations["sql.query"].fields) == {"query"}
    for op in catalogue().operations.values():
        assert not (set(op.fields) & {"action", "api_key", "id", "edit", "sub", "access_code"}), op.name


# --- policy rules ------------------------------------------------------------------------------------------


def test_allow_globs() -> None:
    p = policy(["line.*", "package.get"])
    assert p.permits(op("line.create"))
    assert p.permits(op("line.delete"))
    assert p.permits(op("package.get"))
    assert not p.permits(op("package.list"))
    assert not p.permits(op("mag.create"))


def test_empty_policy_permits_nothing() -> None:
    p = policy([])
    assert not any(p.permits(o) for o in OPS.values())


def test_deny_wins() -> None:
    p = policy(["line.*", "line.delete"], deny=["line.delete"])
    assert not p.permits(op("line.delete"))
    assert p.permits(op("line.edit"))
    assert not policy(["*"], deny=["*"]).permits(op("line.get"))
    assert not policy(["sql.query"], deny=["sql.*"]).permits(op("sql.query"))
    assert not policy(["sql.query"], deny=["*"]).permits(op("sql.query"))


def test_patterns_are_case_sensitive_and_whole_name() -> None:
    assert not policy(["LINE.*"]).permits(op("line.get"))
    assert not policy(["line"]).permits(op("line.get"))
    assert not policy(["line.ge"]).permits(op("line.get"))


def test_unknown_operations_are_refused() -> None:
    # Only catalogued operations reach a policy at all: the gateway looks them up and refuses a miss.
    for name in ("settings.edit", "server.install", "sql.raw", "*"):
        assert catalogue().get(name) is None
    for action in ("get_settings", "MYSQL_QUERY", "mysql_query "):
        assert action not in catalogue().by_xm_action
    # A policy pattern for an operation that does not exist grants nothing that does.
    p = policy(["settings.*", "sql.raw"])
    assert not any(p.permits(o) for o in OPS.values())


@pytest.mark.parametrize("danger", DANGER, ids=lambda o: o.name)
@pytest.mark.parametrize("pattern", ["*", "*.*", f"{'?' * 3}*", "*kill", "[a-z]*"])
def test_a_glob_never_grants_danger(danger: Operation, pattern: str) -> None:
    assert policy([pattern]).permits(op("line.get")) or pattern == "*kill"
    assert not policy([pattern]).permits(danger)
    assert not policy([pattern, f"{danger.resource}.*"]).permits(danger)


@pytest.mark.parametrize("danger", DANGER, ids=lambda o: o.name)
def test_a_full_name_grants_danger(danger: Operation) -> None:
    p = policy([danger.name])
    assert p.permits(danger)
    others = [o for o in DANGER if o is not danger]
    assert not any(p.permits(o) for o in others)
    assert not policy([danger.name], deny=[danger.name]).permits(danger)


def test_danger_list_is_what_the_catalogue_says() -> None:
    assert {o.name for o in DANGER} >= {"sql.query", "process.kill", "connection.kill", "blocked_ip.flush"}


# --- shipped policies --------------------------------------------------------------------------------------


def test_shipped_policies_load() -> None:
    names = {p.stem for p in SHIPPED.glob("*.yaml")}
    assert {"admin", "reseller", "readonly"} <= names
    for name in names:
        p = shipped(name)
        assert p.name == name
        assert p.description, f"{name}.yaml should say what it is for"
        assert p.allow


def test_admin_policy_everything_but_danger() -> None:
    p = shipped("admin")
    assert all(p.permits(o) for o in OPS.values() if o.kind is not Kind.DANGER)
    assert not any(p.permits(o) for o in DANGER)


def test_reseller_policy() -> None:
    p = shipped("reseller")
    for name in (
        "sql.query",
        "reseller.adjust_credits",
        "stream.delete",
        "reseller.create",
        "package.create",
        "mag.convert",
        "enigma.convert",
        "server.edit",
        "process.kill",
    ):
        assert not p.permits(op(name)), name
    for name in (
        "account.info",
        "line.create",
        "line.edit",
        "line.list",
        "mag.create",
        "enigma.delete",
        "package.list",
        "package.get",
        "bouquet.list",
        "bouquet.get",
    ):
        assert p.permits(op(name)), name
    # It writes only its own lines and devices.
    assert {o.resource for o in WRITES if p.permits(o)} == {"line", "mag", "enigma"}


def test_readonly_policy_no_write() -> None:
    p = shipped("readonly")
    assert [o.name for o in WRITES if p.permits(o)] == []
    assert p.permits(op("line.list"))
    assert p.permits(op("server.stats"))
    assert not p.permits(op("server.edit"))


def test_readonly_policy_every_read() -> None:
    p = shipped("readonly")
    assert [o.name for o in READS if not p.permits(o)] == []


def test_sql_policy_grants_sql_and_no_other_danger() -> None:
    p = shipped("sql")
    assert p.permits(op("sql.query"))
    assert not any(p.permits(o) for o in DANGER if o.name != "sql.query")


# --- policy files ------------------------------------------------------------------------------------------


def test_load_policy_refuses_unknown_setting(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("allow: [line.*]\ndenny: [line.delete]\n")
    with pytest.raises(ConfigError, match="denny"):
        load_policy(path)


def test_load_policy_reads_allow_and_deny(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("description: mine\nallow: [line.*]\ndeny: [line.delete]\n")
    p = load_policy(path)
    assert p == Policy(name="mine", allow=("line.*",), deny=("line.delete",), description="mine")


def test_load_policy_refuses_a_pattern_that_matches_no_operation(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("allow: [line.*]\ndeny: [line.delet]\n")
    with pytest.raises(ConfigError, match=r"line\.delet"):
        load_policy(path)

"""gateway.config and the `panelgate check` / `panelgate key new` commands."""

from __future__ import annotations

import copy
import dataclasses
import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.cli import main
from gateway.config import ClientTimeouts, Config, ConfigError, load_config, parse_config
from gateway.keys import digest_of, is_digest

DIGEST_A = digest_of("pg_key_a")
DIGEST_B = digest_of("pg_key_b")
ENV = {"MAIN_KEY": "upstream-secret-from-env"}


def base_config() -> dict[str, Any]:
    return {
        "listen": {"host": "0.0.0.0", "port": 8080},
        "admin_listen": {"host": "127.0.0.1", "port": 9090},
        "public_url": "http://tv.example.com:8080",
        "trusted_proxies": ["127.0.0.1/32", "::1"],
        "policies_dir": "policies",
        "upstreams": {
            "main": {
                "dialect": "xtream_masters",
                "url": "http://panel:8000/",
                "access_code": "abc",
                "api_key": "${MAIN_KEY}",
                "timeout": 10,
            }
        },
        "keys": [
            {
                "id": "reseller-88",
                "digest": DIGEST_A,
                "policy": "reseller",
                "reseller_id": 88,
                "upstream": "main",
                "allowed_ips": ["203.0.113.0/24", "2001:db8::/32"],
            },
            {"id": "ops", "digest": DIGEST_B, "policy": "admin"},
        ],
        "audit_log": "audit.jsonl",
    }


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "admin.yaml").write_text('description: all\nallow: ["*"]\n')
    (policies / "reseller.yaml").write_text("description: lines\nallow: [line.*]\ndeny: [line.delete]\n")
    return tmp_path


def write(workdir: Path, data: Any) -> Path:
    path = workdir / "gateway.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


# --- a valid config ----------------------------------------------------------------------------------------


def test_valid_config_loads(workdir: Path) -> None:
    config = load_config(write(workdir, base_config()), env=ENV)
    assert config.listen.port == 8080
    assert config.admin_listen.host == "127.0.0.1"
    up = config.upstreams["main"]
    assert up.url == "http://panel:8000"  # trailing slash dropped
    assert up.api_key == "upstream-secret-from-env"
    assert "upstream-secret-from-env" not in repr(up)
    assert up.timeout == 10.0
    assert config.default_upstream == "main"
    assert set(config.policies) == {"admin", "reseller"}
    key = config.keys[0]
    assert key.id == "reseller-88"
    assert key.digest == DIGEST_A
    assert DIGEST_A not in repr(key)
    assert key.policy is config.policies["reseller"]
    assert key.reseller_id == 88
    assert key.allowed_ips == (ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("2001:db8::/32"))
    assert config.keys[1].upstream == "main"  # defaults to the first upstream
    assert config.trusted_proxies[1] == ipaddress.ip_network("::1/128")
    assert config.audit_log == "audit.jsonl"
    assert config.http_status_codes is False
    assert config.source.endswith("gateway.yaml")


def test_defaults(workdir: Path) -> None:
    data = base_config()
    for name in ("listen", "admin_listen", "public_url", "trusted_proxies", "keys", "audit_log"):
        del data[name]
    config = parse_config(data, base_dir=workdir, env=ENV)
    assert (config.listen.host, config.listen.port) == ("0.0.0.0", 8080)
    assert (config.admin_listen.host, config.admin_listen.port) == ("127.0.0.1", 9090)
    assert config.keys == ()
    assert config.audit_log is None


def _mutations(config: Config) -> list[Callable[[], None]]:
    return [
        lambda: setattr(config, "public_url", "http://evil"),
        lambda: setattr(config.listen, "port", 1),
        lambda: setattr(config.upstreams["main"], "api_key", "x"),
        lambda: setattr(config.keys[0], "reseller_id", 1),
        lambda: setattr(config.keys[0], "policy", config.policies["admin"]),
        lambda: setattr(config.keys[0].policy, "allow", ("*",)),
    ]


def test_client_timeouts(workdir: Path) -> None:
    data = base_config()
    assert load_config(write(workdir, data), env=ENV).client_timeouts == ClientTimeouts(10.0, 30.0, 75.0)
    data["client_timeouts"] = {"header": 5, "keepalive": 30.5}
    assert load_config(write(workdir, data), env=ENV).client_timeouts == ClientTimeouts(5.0, 30.0, 30.5)


def test_config_is_frozen(workdir: Path) -> None:
    config = load_config(write(workdir, base_config()), env=ENV)
    for mutate in _mutations(config):
        with pytest.raises(dataclasses.FrozenInstanceError):
            mutate()
    with pytest.raises(TypeError):
        config.upstreams["other"] = config.upstreams["main"]  # type: ignore[index]
    with pytest.raises(TypeError):
        config.policies["admin"] = config.policies["reseller"]  # type: ignore[index]
    assert isinstance(config.keys, tuple)
    assert isinstance(config.keys[0].allowed_ips, tuple)
    assert isinstance(config.keys[0].policy.allow, tuple)


# --- ${VAR} interpolation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "env", "expected"),
    [
        ("${MAIN_KEY}", {"MAIN_KEY": "k1"}, "k1"),
        ("${MAIN_KEY:-fallback}", {"MAIN_KEY": "k1"}, "k1"),
        ("${MAIN_KEY:-fallback}", {}, "fallback"),
        ("${MAIN_KEY:-}x", {}, "x"),
        ("pre-${A}-${B:-b}-post", {"A": "a"}, "pre-a-b-post"),
        ("${MAIN_KEY}", {"MAIN_KEY": "${NOT_AGAIN}"}, "${NOT_AGAIN}"),  # values are not interpolated twice
        ("$MAIN_KEY", {"MAIN_KEY": "k1"}, "$MAIN_KEY"),  # only the braced form is special
    ],
)
def test_interpolation(workdir: Path, value: str, env: dict[str, str], expected: str) -> None:
    data = base_config()
    data["upstreams"]["main"]["api_key"] = value
    config = parse_config(data, base_dir=workdir, env=env)
    assert config.upstreams["main"].api_key == expected


def test_interpolation_reaches_lists_and_nested_keys(workdir: Path) -> None:
    data = base_config()
    data["keys"][0]["allowed_ips"] = ["${NET:-10.0.0.0/8}"]
    data["keys"][1]["digest"] = "${OPS_DIGEST}"
    config = parse_config(data, base_dir=workdir, env={**ENV, "OPS_DIGEST": DIGEST_B})
    assert config.keys[0].allowed_ips == (ipaddress.ip_network("10.0.0.0/8"),)
    assert config.keys[1].digest == DIGEST_B


def test_interpolation_uses_the_process_environment_by_default(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAIN_KEY", "from-os-environ")
    assert load_config(write(workdir, base_config())).upstreams["main"].api_key == "from-os-environ"


def test_interpolated_port(workdir: Path) -> None:
    data = base_config()
    data["listen"]["port"] = "${PORT:-8081}"
    assert parse_config(data, base_dir=workdir, env=ENV).listen.port == 8081


# --- errors name the YAML path and the bad value -----------------------------------------------------------

Edit = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = re.findall(r"[^.\[\]]+", path)
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return edit


def _del(path: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[part]
        del node[last]

    return edit


def _rename(parent: Callable[[dict[str, Any]], dict[str, Any]], old: str, new: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        node = parent(data)
        node[new] = node.pop(old)

    return edit


ERRORS: list[tuple[str, Edit, str, str | None]] = [
    # (case id, edit, YAML path, bad value shown in the message or None)
    ("bad url", _set("upstreams.main.url", "ftp://panel:8000"), "upstreams.main.url", "ftp://panel:8000"),
    ("url without host", _set("upstreams.main.url", "http://"), "upstreams.main.url", "http://"),
    ("unknown dialect", _set("upstreams.main.dialect", "xc_v9"), "upstreams.main.dialect", "xc_v9"),
    ("missing api_key", _del("upstreams.main.api_key"), "upstreams.main.api_key", None),
    ("bad access code", _set("upstreams.main.access_code", "a/b"), "upstreams.main.access_code", "a/b"),
    ("bad timeout", _set("upstreams.main.timeout", -1), "upstreams.main.timeout", "-1"),
    ("bad digest", _set("keys.0.digest", "sha256:abc"), "keys[0].digest", None),
    ("unknown policy", _set("keys.0.policy", "superuser"), "keys[0].policy", "superuser"),
    ("unknown upstream", _set("keys.0.upstream", "nope"), "keys[0].upstream", "nope"),
    ("bad reseller_id", _set("keys.0.reseller_id", -3), "keys[0].reseller_id", "-3"),
    ("bad cidr", _set("keys.0.allowed_ips.1", "10.0.0.300/8"), "keys[0].allowed_ips[1]", "10.0.0.300/8"),
    ("allowed_ips not a list", _set("keys.0.allowed_ips", "10.0.0.0/8"), "keys[0].allowed_ips", "10.0.0.0/8"),
    ("typo in a key", _rename(lambda d: d["keys"][0], "allowed_ips", "alowed_ips"), "keys[0].alowed_ips", None),
    ("typo at top level", _rename(lambda d: d, "audit_log", "audit_logs"), "audit_logs", None),
    ("typo in upstream", _rename(lambda d: d["upstreams"]["main"], "timeout", "timout"), "upstreams.main.timout", None),
    ("missing env var", _set("upstreams.main.api_key", "${NO_SUCH_VAR}"), "upstreams.main.api_key", "NO_SUCH_VAR"),
    ("duplicate digest", _set("keys.1.digest", DIGEST_A), "keys[1].digest", None),
    ("bad port", _set("listen.port", 70000), "listen.port", "70000"),
    ("port not a number", _set("admin_listen.port", "http"), "admin_listen.port", "http"),
    ("bad trusted proxy", _set("trusted_proxies.0", "localhost"), "trusted_proxies[0]", "localhost"),
    ("bad public_url", _set("public_url", "tv.example.com"), "public_url", "tv.example.com"),
    ("no upstreams", _set("upstreams", {}), "upstreams", None),
    ("upstream not a mapping", _set("upstreams.main", "http://panel"), "upstreams.main", "http://panel"),
    ("missing policies dir", _set("policies_dir", "nowhere"), "policies_dir", "nowhere"),
    ("flag not a bool", _set("http_status_codes", "yes"), "http_status_codes", "yes"),
    ("zero header timeout", _set("client_timeouts", {"header": 0}), "client_timeouts.header", "0"),
    ("body timeout not a number", _set("client_timeouts", {"body": "1m"}), "client_timeouts.body", "1m"),
    ("keepalive past an hour", _set("client_timeouts", {"keepalive": 7200}), "client_timeouts.keepalive", "7200"),
    ("typo in client_timeouts", _set("client_timeouts", {"headers": 5}), "client_timeouts.headers", None),
]


@pytest.mark.parametrize(("edit", "path", "value"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_name_path_and_value(workdir: Path, edit: Edit, path: str, value: str | None) -> None:
    data = copy.deepcopy(base_config())
    edit(data)
    with pytest.raises(ConfigError) as info:
        load_config(write(workdir, data), env=ENV)
    assert info.value.path == path
    assert str(info.value).startswith(f"{path}: ")
    if value is not None:
        assert value in str(info.value)


def test_duplicate_key_id_names_the_id(workdir: Path) -> None:
    data = base_config()
    data["keys"][1]["id"] = "reseller-88"
    with pytest.raises(ConfigError) as info:
        load_config(write(workdir, data), env=ENV)
    assert info.value.path == "keys[1].id"
    assert "reseller-88" in str(info.value)


def test_duplicate_key_id_is_refused(workdir: Path) -> None:
    data = base_config()
    data["keys"][1]["id"] = "reseller-88"
    with pytest.raises(ConfigError) as info:
        load_config(write(workdir, data), env=ENV)
    assert info.value.path == "keys[1].id"
    assert "keys[0]" in str(info.value)


def test_digest_error_does_not_echo_a_pasted_plain_key(workdir: Path) -> None:
    # The usual mistake is pasting the key itself where its digest belongs: never print it back.
    data = base_config()
    data["keys"][0]["digest"] = "pg_the_actual_secret_key"
    with pytest.raises(ConfigError) as info:
        load_config(write(workdir, data), env=ENV)
    assert info.value.path == "keys[0].digest"
    assert "pg_the_actual_secret_key" not in str(info.value)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "", "42\n"])
def test_non_mapping_root(workdir: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(write(workdir, text), env=ENV)


def test_invalid_yaml_and_missing_file(workdir: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(workdir, "a: [1,\n"), env=ENV)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(workdir / "missing.yaml", env=ENV)


@pytest.mark.parametrize("line", [
    '  main: {dialect: xtream_masters, url: "http://p", access_code: abc, api_key: "pgUpKey_4f9c1e"x}\n',
    "  main: {dialect: xtream_masters, url: http://p, access_code: abc, api_key: *pgUpKey_4f9c1e}\n",
    "  main: {dialect: xtream_masters, url: http://p, access_code: abc, api_key: pgUpKey_4f9c1e\t\n",
    "  main:\n    api_key: &pgUpKey_4f9c1e\n    url: *pgUpKey_4f9c1e\n  legacy: {url: !pgUpKey_4f9c1e x}\n",
])  # fmt: skip
def test_a_yaml_error_does_not_quote_the_key_on_its_line(workdir: Path, line: str) -> None:
    """PyYAML's message quotes the text around the fault, and names an undefined alias or an unknown tag: the
    refused reload's log line and `panelgate check` printed the upstream key of the line it broke on."""
    with pytest.raises(ConfigError, match="not valid YAML") as err:
        load_config(write(workdir, f"listen: {{port: 8080}}\nupstreams:\n{line}"), env=ENV)
    assert "pgUpKey" not in str(err.value), str(err.value)
    assert re.search(r"at line [3-6], column \d+$", str(err.value)), str(err.value)  # where to look, still


@pytest.mark.parametrize(("section", "value"), [
    ("redis", {"url:redis://:Sup3rRedisPw@h:6379/0": None}),
    ("cache", {"backend": "memory", "redis_url:redis://:Sup3rRedisPw@h:6379/0": None}),
])  # fmt: skip
def test_a_setting_run_into_its_value_is_not_repeated(workdir: Path, section: str, value: dict[str, Any]) -> None:
    """`{url:redis://:pw@h}` (no space after the colon) is YAML for the key `url:redis://:pw@h`: the unknown setting's
    error named it as its path, the Redis password in the refused reload's log line and `panelgate check`."""
    data = base_config()
    data[section] = value
    with pytest.raises(ConfigError, match="unknown setting") as err:
        load_config(write(workdir, data), env=ENV)
    assert "Sup3rRedisPw" not in str(err.value) and "Sup3rRedisPw" not in err.value.path, str(err.value)


def test_bad_policy_file_names_the_file(workdir: Path) -> None:
    (workdir / "policies" / "broken.yaml").write_text("allow: [line.*]\nalow: [x]\n")
    with pytest.raises(ConfigError) as info:
        load_config(write(workdir, base_config()), env=ENV)
    assert "broken.yaml" in str(info.value)
    assert "alow" in str(info.value)


def test_policy_with_bad_allow_names_the_file(workdir: Path) -> None:
    (workdir / "policies" / "broken.yaml").write_text("allow: line.*\n")
    with pytest.raises(ConfigError) as info:
        load_config(write(workdir, base_config()), env=ENV)
    assert "broken.yaml" in str(info.value)


# --- the CLI -----------------------------------------------------------------------------------------------


def test_cli_check_ok(workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAIN_KEY", "k")
    path = write(workdir, base_config())
    assert main(["check", "-c", str(path)]) == 0
    out = capsys.readouterr()
    assert str(path) in out.out
    assert "ok" in out.out
    assert out.err == ""


def test_cli_check_error(workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAIN_KEY", "k")
    data = base_config()
    data["keys"][0]["allowed_ips"][1] = "not-an-ip"
    path = write(workdir, data)
    assert main(["check", "-c", str(path)]) == 2
    out = capsys.readouterr()
    assert str(path) in out.err
    assert "keys[0].allowed_ips[1]" in out.err
    assert "not-an-ip" in out.err
    assert out.out == ""


def test_cli_check_missing_env(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MAIN_KEY", raising=False)
    path = write(workdir, base_config())
    assert main(["check", "-c", str(path)]) == 2
    assert "MAIN_KEY" in capsys.readouterr().err


def test_cli_key_new(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["key", "new", "--id", "x"]) == 0
    out = capsys.readouterr().out
    keys = re.findall(r"^\s+(pg_[A-Za-z0-9_-]{40,})\s*$", out, re.MULTILINE)
    assert len(keys) == 1
    digests = re.findall(r'digest: "(sha256:[0-9a-f]{64})"', out)
    assert digests == [digest_of(keys[0])]
    assert is_digest(digests[0])
    assert "id: x" in out
    assert "policy: reseller" in out
    # Each run makes a new key.
    assert main(["key", "new", "--id", "x"]) == 0
    assert keys[0] not in capsys.readouterr().out


def test_cli_key_new_line_is_valid_config(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["key", "new", "--id", "pasted", "--policy", "admin", "--reseller-id", "7", "--upstream", "main"]) == 0
    out = capsys.readouterr().out
    entry = next(line for line in out.splitlines() if line.strip().startswith("- {id:"))
    pasted = yaml.safe_load(entry.strip())[0]
    data = base_config()
    data["keys"].append(pasted)
    config = parse_config(data, base_dir=workdir, env=ENV)
    key = config.keys[-1]
    assert (key.id, key.policy.name, key.reseller_id, key.upstream) == ("pasted", "admin", 7, "main")

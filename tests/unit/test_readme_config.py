"""README's configuration reference: every setting it names is one the config parser reads, and the defaults it
gives for plain values are the ones a config without them gets. Operators copy names from that table."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway import settings
from gateway.config import Config, load_policy, parse_config
from gateway.redis.settings import parse_redis
from gateway.settings import interpolate

REPO = Path(__file__).resolve().parents[2]
TABLE = re.compile(
    r"^## Configuration reference\n.*?^\| key \| meaning \| default \|\n\|[-|]+\|\n(.*?)\n\n", re.S | re.M
)
POLICIES = REPO / "policies"


def _rows() -> list[tuple[list[str], str]]:
    """(the setting names of a row, as YAML paths with `.x` shorthands expanded; its default cell)."""
    found = TABLE.search((REPO / "README.md").read_text())
    assert found, "README has no configuration reference table"
    rows = []
    for line in found.group(1).splitlines():
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        if "deprecated" in cells[1]:
            continue  # read only when present, beside no `redis:` section (test_redis_layer holds them)
        names: list[str] = []
        for name in re.findall(r"`([^`]+)`", cells[0]):
            if name.startswith(".") and names:
                name = names[-1].rsplit(".", 1)[0] + name
            names.append(name)
        rows.append((names, cells[-1]))
    return rows


def _read_paths(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Every YAML path the parser asks for, with list indexes as `[]` and upstream names as NAME, while it
    loads config/gateway.yaml with every optional section present."""
    seen: set[str] = set()
    get = settings.Reader.get

    def recording(self: settings.Reader, key: str, default: Any = None) -> Any:
        seen.add(settings.join(self.path, key))
        return get(self, key, default)

    monkeypatch.setattr(settings.Reader, "get", recording)
    data = yaml.safe_load((REPO / "config" / "gateway.yaml").read_text())
    data.update(health={}, pools={"both": ["main"]}, access_codes={"abc": "main"}, access_log="json")
    data["upstreams"]["xc"] = {"dialect": "xtream_codes_v2", "url": "http://xc.internal", "api_pass": "p"}
    data["keys"][1]["previous_secrets"] = [{"digest": "sha256:" + "2" * 64, "until": "2027-01-01T00:00:00Z"}]
    parse_config(data, base_dir=REPO / "config", env={"MAIN_PANEL_KEY": "k"})
    return {re.sub(r"\[\d+\]", "[]", re.sub(r"^upstreams\.[^.]+", "upstreams.NAME", p)) for p in seen}


def test_every_setting_the_readme_names_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    read = _read_paths(monkeypatch)
    named = {name for names, _ in _rows() for name in names}
    assert len(named) > 50
    for name in sorted(named):
        # a key chosen by the operator (`pools.NAME`, `access_codes.CODE`, `redis.prefixes.FEATURE`): its section
        path = re.sub(r"\.(NAME|CODE|FEATURE)$", "", name) if not name.startswith("upstreams.NAME.") else name
        assert path in read, f"README names `{name}`, which the config parser never reads"


def _minimal() -> Config:
    """A config with nothing but what is required: every other setting at its default."""
    return parse_config({"policies_dir": str(POLICIES),
                         "upstreams": {"main": {"dialect": "xtream_masters", "url": "http://panel:8000",
                                                "access_code": "abc", "api_key": "k"}},
                         "keys": [{"id": "k1", "digest": "sha256:" + "0" * 64, "policy": "admin"}]},
                        base_dir=REPO, env={})  # fmt: skip


def _value_of(config: Config, name: str) -> Any:
    """The loaded value a README name stands for: attributes, mappings by key, tuples by index."""
    obj: Any = config
    for part in re.sub(r"\[\]", ".0", name.replace("upstreams.NAME", "upstreams.main")).split("."):
        if isinstance(obj, tuple) and part.isdigit():
            obj = obj[int(part)]
        elif hasattr(obj, part):
            obj = getattr(obj, part)
        else:
            obj = obj[part]
    return obj


def test_the_readme_defaults_of_plain_values_hold() -> None:
    config = _minimal()
    checked: list[str] = []
    for names, default in _rows():
        literals = re.findall(r"`([^`]+)`", default)
        if re.sub(r"`[^`]+`|[ ,]", "", default):
            continue  # prose
        if len(names) == 1 and len(literals) > 1:  # a mapping's fields in order: `budget`'s `20`, `20`, `5`, `200`
            try:
                value = _value_of(config, names[0])
            except (AttributeError, KeyError, IndexError, TypeError):
                continue
            if not dataclasses.is_dataclass(value) or len(dataclasses.fields(value)) != len(literals):
                continue
            fields = [getattr(value, f.name) for f in dataclasses.fields(value)]
            assert fields == [float(yaml.safe_load(v)) for v in literals], (names[0], fields, default)
            checked.append(names[0])
            continue
        if len(literals) != len(names):
            continue  # a value per name not spelled out
        for name, literal in zip(names, literals, strict=True):
            try:
                value = _value_of(config, name)
            except (AttributeError, KeyError, IndexError, TypeError):
                continue  # not a plain attribute of the loaded config (a section parsed elsewhere)
            expected = yaml.safe_load(literal)
            if isinstance(value, float | int) and not isinstance(value, bool):
                assert value == float(expected), (name, value, literal)
            else:
                assert value == expected, (name, value, literal)
            checked.append(name)
    assert len(checked) >= 12, checked


def _yaml_blocks(path: Path) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", path.read_text(), re.S)


def test_the_readme_yaml_examples_load(tmp_path: Path) -> None:
    """Each YAML example of the README loads: a policy's `guards` as a policy, the others into a config (with an
    upstream and the policies where the example has none)."""
    digest = "sha256:" + "3" * 64
    blocks = _yaml_blocks(REPO / "README.md")
    assert len(blocks) >= 3
    for block in blocks:
        data = yaml.safe_load(block.replace('"sha256:..."', f'"{digest}"'))
        if set(data) == {"guards"}:
            (tmp_path / "guarded.yaml").write_text(yaml.safe_dump({"allow": ["*"], **data}))
            assert load_policy(tmp_path / "guarded.yaml").guards
            continue
        data.setdefault("upstreams", {"main": {"dialect": "xtream_masters", "url": "http://panel:8000",
                                               "access_code": "abc", "api_key": "k"}})  # fmt: skip
        data["policies_dir"] = str(POLICIES)
        if "keys_from" in data:
            (tmp_path / data["keys_from"]).mkdir()
        config = parse_config(data, base_dir=tmp_path, env={"PROVIDER_RESELLER_KEY": "k"})
        assert config.keys


def test_the_deploy_guides_redis_urls_parse() -> None:
    """docs/deploy.md's `redis:` sections (compose, Sentinel, Cluster) are URLs the config accepts."""
    env = {"PANELGATE_REDIS_URL": "redis://redis:6379/0", "REDIS_PASSWORD": "pw"}
    sections = [yaml.safe_load(b)["redis"] for b in _yaml_blocks(REPO / "docs" / "deploy.md") if b.startswith("redis:")]
    assert len(sections) == 2
    for section in sections:
        redis = parse_redis(settings.Reader(interpolate({"redis": section}, "", env), ""))
        assert redis.endpoint("cache") is not None

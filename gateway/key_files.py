"""Keys kept apart from the main config: `keys_from: FILE_OR_DIRECTORY` (relative to the config file).

A file holds a YAML list of key entries (or one entry); a directory holds `*.yaml` files, each one entry or a list,
read in name order. Entries have the same fields as those under `keys:` and join them. The files are read again
with the config (SIGHUP, `panelgate reload`, or `serve --watch`, which watches them too), so keys are added,
rotated and retired without touching the main config. `panelgate key new -c` and `key rotate` write them: such a
file is rewritten whole (its comments are not kept), with a header saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from gateway.settings import ConfigError

HEADER = "# Gateway keys (gateway.key_files), written by `panelgate key new -c` and `key rotate`: comments are lost.\n"


def files_of(location: Path) -> tuple[Path, ...]:
    """The files `keys_from` names: itself, or a directory's `*.yaml` in name order."""
    if location.is_dir():
        return tuple(sorted(location.glob("*.yaml")))
    return (location,)


def _entries(data: Any) -> list[Any]:
    if data is None:
        return []
    return data if isinstance(data, list) else [data]


def read_key_files(location: Path) -> list[tuple[Any, str, str]]:
    """Every entry: (its data, the path errors name it by, the file it is in)."""
    if not location.exists():
        raise ConfigError("keys_from", f"{str(location)!r} is neither a file nor a directory")
    found: list[tuple[Any, str, str]] = []
    for file in files_of(location):
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"keys_from: {file}", f"cannot read keys: {exc}") from None
        if data is not None and not isinstance(data, list | dict):
            raise ConfigError(f"keys_from: {file}", "expected a list of keys or one key")
        found.extend((entry, f"keys_from: {file}[{i}]", str(file)) for i, entry in enumerate(_entries(data)))
    return found


def _write(file: Path, entries: list[Any]) -> None:
    text = HEADER + yaml.safe_dump(entries, sort_keys=False, default_flow_style=False, width=120)
    temporary = file.with_name(f".{file.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(file)  # whole or not at all: a reload never reads half a file


def replace_entry(file: Path, key_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Rewrite the entry of `key_id` in `file` with `change(entry)`."""
    entries = _entries(yaml.safe_load(file.read_text(encoding="utf-8")))
    for i, entry in enumerate(entries):
        if isinstance(entry, dict) and str(entry.get("id")) == key_id:
            entries[i] = change(dict(entry))
            _write(file, entries)
            return
    raise KeyError(key_id)


def add_entry(location: Path, entry: dict[str, Any]) -> Path:
    """Add a new key entry: its own file in a directory, or the end of a file's list. Returns the file written."""
    if location.is_dir():
        file = location / f"{entry['id']}.yaml"
        if file.exists():
            raise FileExistsError(str(file))
        _write(file, [entry])
        return file
    entries = _entries(yaml.safe_load(location.read_text(encoding="utf-8"))) if location.exists() else []
    _write(location, [*entries, entry])
    return location

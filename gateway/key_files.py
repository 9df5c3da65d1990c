"""Keys kept apart from the main config: `keys_from: FILE_OR_DIRECTORY` (relative to the config file).

A file holds a YAML list of key entries (or one entry); a directory holds `*.yaml` files, each one entry or a list,
read in name order. Entries have the same fields as those under `keys:` and join them. The files are read again
with the config (SIGHUP, `panelgate reload`, or `serve --watch`, which watches them too), so keys are added,
rotated and retired without touching the main config. `panelgate key new -c` and `key rotate` write them: such a
file is rewritten whole (its comments are not kept), with a header saying so.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from gateway.settings import ConfigError, yaml_problem

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
        except UnicodeDecodeError:  # a Windows editor's UTF-16, say
            raise ConfigError(f"keys_from: {file}", "cannot read keys: the file is not UTF-8 text") from None
        except OSError as exc:
            raise ConfigError(f"keys_from: {file}", f"cannot read keys: {exc}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"keys_from: {file}", f"cannot read keys: {yaml_problem(exc)}") from None
        if data is not None and not isinstance(data, list | dict):
            raise ConfigError(f"keys_from: {file}", "expected a list of keys or one key")
        found.extend((entry, f"keys_from: {file}[{i}]", str(file)) for i, entry in enumerate(_entries(data)))
    return found


@contextlib.contextmanager
def _locked(file: Path) -> Iterator[None]:
    """One writer of `file` at a time (two `key new -c` at once must not each write the list without the other's
    entry): an exclusive lock on a lock file beside it, held from the read to the rename."""
    with open(file.with_name(f".{file.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write(file: Path, entries: list[Any]) -> None:
    text = HEADER + yaml.safe_dump(entries, sort_keys=False, default_flow_style=False, width=120)
    try:
        mode = stat.S_IMODE(file.stat().st_mode)  # a rewrite keeps the operator's permissions
    except FileNotFoundError:
        mode = None
    # a temporary name of this writer's own, created as any new file would be (the umask applies)
    temporary = file.with_name(f".{file.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        if mode is not None:
            os.chmod(temporary, mode)
        temporary.replace(file)  # whole or not at all: a reload never reads half a file
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def replace_entry(file: Path, key_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Rewrite the entry of `key_id` in `file` with `change(entry)`."""
    with _locked(file):
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
        with _locked(file):
            if file.exists():
                raise FileExistsError(str(file))
            _write(file, [entry])
        return file
    with _locked(location):
        entries = _entries(yaml.safe_load(location.read_text(encoding="utf-8"))) if location.exists() else []
        _write(location, [*entries, entry])
    return location

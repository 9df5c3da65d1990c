"""Key files written by `panelgate key new -c` and `key rotate`: several at once (a provisioning script making keys
for a batch of resellers in parallel) lose no entry and never leave a file half written; a rewrite keeps the
file's permissions."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from gateway.key_files import add_entry, replace_entry

WRITERS, EACH = 6, 15


def _writer(location: str, n: int, barrier: Any) -> None:
    barrier.wait()
    for i in range(EACH):
        add_entry(Path(location), {"id": f"k{n}-{i}", "digest": "sha256:" + "0" * 64, "policy": "admin"})


def test_concurrent_writers_lose_no_entry(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(WRITERS)
    writers = [context.Process(target=_writer, args=(str(keys), n, barrier)) for n in range(WRITERS)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(60)
    assert [w.exitcode for w in writers] == [0] * WRITERS
    ids = [entry["id"] for entry in yaml.safe_load(keys.read_text())]
    assert sorted(ids) == sorted(f"k{n}-{i}" for n in range(WRITERS) for i in range(EACH))
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_rewrite_keeps_the_files_permissions(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    add_entry(keys, {"id": "shop", "digest": "sha256:" + "0" * 64, "policy": "admin"})
    os.chmod(keys, 0o640)
    replace_entry(keys, "shop", lambda entry: {**entry, "digest": "sha256:" + "1" * 64})
    add_entry(keys, {"id": "bot", "digest": "sha256:" + "2" * 64, "policy": "admin"})
    assert stat.S_IMODE(keys.stat().st_mode) == 0o640
    assert [e["id"] for e in yaml.safe_load(keys.read_text())] == ["shop", "bot"]

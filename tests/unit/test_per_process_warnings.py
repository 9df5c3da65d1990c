"""`serve --workers N` says at start-up what each worker keeps for itself without a shared Redis."""

from __future__ import annotations

from pathlib import Path

from gateway.server import per_process_warnings
from tests.conftest import make_config


def test_one_worker_keeps_nothing_apart(policies_dir: Path, tmp_path: Path) -> None:
    assert per_process_warnings(make_config("http://127.0.0.1:1", policies_dir, tmp_path), 1) == []


def test_workers_without_redis_are_told_what_each_keeps(policies_dir: Path, tmp_path: Path) -> None:
    config = make_config("http://127.0.0.1:1", policies_dir, tmp_path, cache={"backend": "memory"})
    said = "\n".join(per_process_warnings(config, 2))
    for what in ("idempotent writes", "key quotas", "rate limits", "memory cache"):
        assert what in said, said


def test_workers_sharing_redis_are_told_nothing(policies_dir: Path, tmp_path: Path) -> None:
    config = make_config("http://127.0.0.1:1", policies_dir, tmp_path, redis={"url": "redis://127.0.0.1:6379/0"},
                         cache={"backend": "redis"})  # fmt: skip
    assert per_process_warnings(config, 4) == []

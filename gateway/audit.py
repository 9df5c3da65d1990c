"""The audit log: one JSON line per write and per refusal. Never args, so never passwords or keys."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger("panelgate.audit")


@dataclass(frozen=True)
class AuditEntry:
    request_id: str
    key_id: str | None
    client_ip: str
    dialect: str
    operation: str | None
    target: int | None
    upstream: str | None
    outcome: str
    reason: str
    latency_ms: float
    upstream_calls: int = 0  # calls the request's plan sent to panels (lookups and reads included)
    idempotency_key: str | None = None  # the client's Idempotency-Key, when it sent one (gateway.idempotency)
    idempotency: str = ""  # what the key did: stored, replayed, released, mismatch, busy

    def as_dict(self) -> dict[str, Any]:
        return {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "request_id": self.request_id,
            "key_id": self.key_id,
            "client_ip": self.client_ip,
            "dialect": self.dialect,
            "operation": self.operation,
            "target": self.target,
            "upstream": self.upstream,
            "outcome": self.outcome,
            "reason": self.reason,
            "latency_ms": round(self.latency_ms, 2),
            "upstream_calls": self.upstream_calls,
            # only with a key, so lines of requests without one are as they were
            **({"idempotency_key": self.idempotency_key, "idempotency": self.idempotency}
               if self.idempotency_key is not None else {}),
        }


class AuditLog:
    """Appends to a file (line-buffered, so a crash loses at most the line being written) or to logging.

    A reload (SIGHUP, as logrotate's postrotate sends) opens the file again when it was moved or removed, so the
    lines that follow go to the file at the configured path, not to a rotated one that is compressed and deleted."""

    def __init__(self, path: str | None) -> None:
        self._file: TextIO | None = None
        self._path = path
        self._closed = False
        self._opened: tuple[int, int] | None = None  # (device, inode) of the file written
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._open()

    def _open(self) -> None:
        assert self._path
        self._file = open(self._path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives with the app
        opened = os.fstat(self._file.fileno())
        self._opened = (opened.st_dev, opened.st_ino)

    def reopen_if_moved(self) -> None:
        """Open the configured path again if the file written is no longer there (rotated, removed), or could not
        be opened again after a failed write."""
        if not self._path or self._closed:
            return
        if self._file is None:
            with contextlib.suppress(OSError):
                self._open()
            return
        try:
            now = os.stat(self._path)
            if (now.st_dev, now.st_ino) == self._opened:
                return
        except FileNotFoundError:
            pass
        with contextlib.suppress(OSError):
            self._file.close()
        self._file = None
        with contextlib.suppress(OSError):  # else its lines go to the log until it can be opened
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            self._open()

    def write(self, entry: AuditEntry) -> None:
        line = json.dumps(entry.as_dict(), separators=(",", ":"))
        if self._file is None:
            log.info(line)
            return
        try:
            self._file.write(line + "\n")
        except OSError as exc:
            # a full or vanished disk must not turn a write the panel made into an error for its client (who would
            # retry it): the line goes to the log, and the file is opened afresh for the next one
            log.error("audit log %s cannot be written (%s); its line is logged instead", self._path,
                      exc.strerror or exc)  # fmt: skip
            log.warning("audit: %s", line)
            with contextlib.suppress(OSError):
                self._file.close()
            try:
                self._open()
            except OSError:
                self._file = None

    def close(self) -> None:
        self._closed = True
        if self._file is not None:
            self._file.close()
            self._file = None

"""Who watches what right now, in this process: streams per line (and kind), for the status page.

A line is named by its username as the player gave it (case-folded, as the panel compares it), never with its
password; a line a player names by its access token (`/live/{token}/1.ts`, `?token=`) by a digest of it, never the
token, which opens the line as its password does (the logs write it `***`). The counts are this process's: each
replica's status page shows its own players.
"""

from __future__ import annotations

import hashlib
from collections import Counter


class Watching:
    def __init__(self) -> None:
        self._open: Counter[tuple[str, str]] = Counter()

    def opened(self, line: str | None, kind: str, *, token: bool = False) -> None:
        """A stream of `line` (its username, or with `token` its access token) opened."""
        self._open[(_name(line, token), kind)] += 1

    def closed(self, line: str | None, kind: str, *, token: bool = False) -> None:
        key = (_name(line, token), kind)
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]

    def report(self) -> list[dict[str, object]]:
        """[{line, kind, streams}], most streams first."""
        return [{"line": line, "kind": kind, "streams": n}
                for (line, kind), n in sorted(self._open.items(), key=lambda item: (-item[1], item[0]))]  # fmt: skip


def _name(line: str | None, token: bool) -> str:
    if not line:
        return "-"
    if token:
        return "token " + hashlib.sha256(line.encode()).hexdigest()[:10]
    return line.strip().casefold()

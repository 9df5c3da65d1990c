"""Who watches what right now, in this process: streams per line (and kind), for the status page.

A line is named by its username as the player gave it (case-folded, as the panel compares it), never with its
password. The counts are this process's: each replica's status page shows its own players.
"""

from __future__ import annotations

from collections import Counter


class Watching:
    def __init__(self) -> None:
        self._open: Counter[tuple[str, str]] = Counter()

    def opened(self, line: str | None, kind: str) -> None:
        self._open[(_name(line), kind)] += 1

    def closed(self, line: str | None, kind: str) -> None:
        key = (_name(line), kind)
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]

    def report(self) -> list[dict[str, object]]:
        """[{line, kind, streams}], most streams first."""
        return [{"line": line, "kind": kind, "streams": n}
                for (line, kind), n in sorted(self._open.items(), key=lambda item: (-item[1], item[0]))]  # fmt: skip


def _name(line: str | None) -> str:
    return line.strip().casefold() if line else "-"

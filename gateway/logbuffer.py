"""A buffered writer of log lines: the access log's, one per request.

Through `logging`, each access line cost a LogRecord, a Formatter pass (with a strftime) and a write() plus
flush() on stderr: about as much CPU as aiohttp's whole handling of a small request (bench/notes.md). Here a line
is one string appended to a list, or the values it is made of (`write_later`: the line is made when the list is
written, all of them in one loop, bench/notes.md change 22); the list is written in one write() when it holds
FLUSH_BYTES, FLUSH_AFTER seconds after its first line, before any other log record (so lines stay in order with
the rest of the log), and at a clean stop (`flush`, called by the server as it stops and at exit).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

FLUSH_AFTER = 0.1  # seconds a line may wait for others before it is written
FLUSH_BYTES = 64 << 10  # characters that are written at once, without waiting for the timer


class LineBuffer:
    """Lines for one stream, written in batches. Access lines come from the event loop's thread; a flush may come
    from any thread that logs (FlushingHandler), so the list is swapped and written under a lock and only the
    loop's thread touches the timer. Without a running loop a line is written at once. A crash (SIGKILL) loses
    what is buffered: at most FLUSH_AFTER seconds or FLUSH_BYTES of lines."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lines: list[str | tuple[Callable[[Any], str], Any]] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_thread = 0
        self._lock = threading.Lock()

    def write(self, line: str) -> None:
        """Add `line` (with its newline)."""
        self._add(line, len(line))

    def write_later(self, render: Callable[[Any], str], values: Any, size: int) -> None:
        """Add the line `render(values)` makes when the buffer is written (about `size` characters): `values`
        must not change meanwhile, and `render` must not fail."""
        self._add((render, values), size)

    def _add(self, line: str | tuple[Callable[[Any], str], Any], size: int) -> None:
        with self._lock:
            self._lines.append(line)
            self._size += size
            full = self._size >= FLUSH_BYTES
        if full:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._timer = loop.call_later(FLUSH_AFTER, self._timed)
            self._timer_thread = threading.get_ident()

    def _timed(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        """Write every buffered line now."""
        if self._timer is not None and self._timer_thread == threading.get_ident():
            self._timer.cancel()
            self._timer = None
        with self._lock:  # swapped and written together: lines keep their order, none is dropped between
            if not self._lines:
                return
            lines, self._lines, self._size = self._lines, [], 0
            text = "".join(line if isinstance(line, str) else _made(*line) for line in lines)
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):  # a closed or broken stderr must not fail a request (as logging.Handler)
                pass


def _made(render: Callable[[Any], str], values: Any) -> str:
    # a line that cannot be made must not cost the lines written with it (nor print what it was made of)
    try:
        return render(values)
    except Exception:
        return "(an access line could not be formatted)\n"


_MILLIS = tuple(f",{ms:03d}" for ms in range(1000))  # the stamp's tail, made once: formatting it took 0.4 us a line


class Stamp:
    """`logging`'s default asctime (`2026-12-02 17:33:25,123`, local time), its seconds formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def now(self) -> str:
        return self.at(time.time())

    def at(self, created: float) -> str:
        """The stamp of the moment `created` (a `time.time()`)."""
        second = int(created)
        if second != self._second:
            self._second = second
            self._text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created))
        return self._text + _MILLIS[int((created - second) * 1000)]  # 0 <= created - second < 1


class FlushingHandler(logging.StreamHandler[TextIO]):
    """The process's log handler: buffered access lines go out before any other record, so the log keeps the
    order in which things happened."""

    def __init__(self, stream: TextIO, lines: LineBuffer) -> None:
        super().__init__(stream)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.flush()
        super().emit(record)


def install(stream: TextIO) -> LineBuffer:
    """A buffer for `stream`, flushed at interpreter exit too."""
    lines = LineBuffer(stream)
    atexit.register(lines.flush)
    return lines

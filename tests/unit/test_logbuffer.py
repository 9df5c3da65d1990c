"""Access lines written in batches (gateway.logbuffer, gateway.accesslog): the same text as `logging` wrote, still
redacted, in order with other records, and none lost at a flush."""

from __future__ import annotations

import asyncio
import io
import logging
import re

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from gateway import accesslog, logbuffer

KEY = "pg_secret_in_a_url_0000000000000000000000000"


def test_without_a_running_loop_a_line_is_written_at_once() -> None:
    stream = io.StringIO()
    logbuffer.LineBuffer(stream).write("one\n")
    assert stream.getvalue() == "one\n"


async def test_lines_wait_for_the_timer_or_the_size_threshold_or_a_flush() -> None:
    stream = io.StringIO()
    lines = logbuffer.LineBuffer(stream)
    lines.write("a\n")
    lines.write("b\n")
    assert stream.getvalue() == ""
    await asyncio.sleep(logbuffer.FLUSH_AFTER + 0.1)
    assert stream.getvalue() == "a\nb\n"
    big = "x" * (logbuffer.FLUSH_BYTES // 2) + "\n"
    lines.write(big)
    assert stream.getvalue() == "a\nb\n"
    lines.write(big)  # past the threshold: written now, without waiting
    assert stream.getvalue() == "a\nb\n" + big + big
    lines.write("c\n")
    lines.flush()
    assert stream.getvalue().endswith(big + "c\n")


async def test_another_record_goes_out_after_the_buffered_lines() -> None:
    stream = io.StringIO()
    lines = logbuffer.LineBuffer(stream)
    handler = logbuffer.FlushingHandler(stream, lines)
    logger = logging.getLogger("test.logbuffer.order")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        lines.write("access 1\n")
        logger.error("an error after it")
        assert stream.getvalue() == "access 1\nan error after it\n"
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize("json_lines", [False, True])
async def test_a_buffered_access_line_is_the_line_logging_wrote(
    monkeypatch: pytest.MonkeyPatch, json_lines: bool
) -> None:
    request = make_mocked_request("GET", f"/admin/admin/index.php?api_key={KEY}&action=get_lines")
    response = web.Response(body=b"{}", headers={"X-Request-Id": "rid-1", "X-Cache": "HIT"})
    logger = logging.getLogger("test.logbuffer.access")  # not panelgate.access: other tests configure that one
    logger.setLevel(logging.INFO)
    cls = accesslog.access_logger("json" if json_lines else "text")

    # through logging, as before (no sink): captured with the process's own format
    logged = io.StringIO()
    handler = logging.StreamHandler(logged)
    handler.setFormatter(logging.Formatter(accesslog._FORMAT.format(prefix="w1 ")))
    logger.addHandler(handler)
    monkeypatch.setattr(logger, "propagate", False)
    try:
        cls(logger, "").log(request, response, 0.0123)
    finally:
        logger.removeHandler(handler)

    buffered = io.StringIO()
    monkeypatch.setattr(accesslog, "_sink", accesslog._Sink(logbuffer.LineBuffer(buffered), "w1 ",
                                                             logbuffer.Stamp()))  # fmt: skip
    cls(logger, "").log(request, response, 0.0123)
    assert buffered.getvalue() == ""
    accesslog.flush_access_log()

    stamp = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} "
    old, new = logged.getvalue(), buffered.getvalue()
    assert re.match(stamp, old) and re.match(stamp, new)
    assert re.sub(stamp, "", old) == re.sub(stamp, "", new)
    assert KEY not in new and "api_key=***" in new and "rid-1" in new and new.count("\n") == 1
    if not json_lines:  # both paths share one format: held to it here
        assert re.fullmatch(r'w1 test\.logbuffer\.access INFO \S* "GET /admin/admin/index\.php\?api_key=\*\*\*'
                            r'&action=get_lines" 200 \d+ 12\.3ms rid=rid-1\n', re.sub(stamp, "", new)), new


def test_flushes_from_other_threads_lose_no_line_and_keep_the_order() -> None:
    """A record logged on another thread flushes the buffer (FlushingHandler) while lines are being added."""
    import io
    import threading

    from gateway.logbuffer import LineBuffer

    out = io.StringIO()
    lines = LineBuffer(out)
    stop = threading.Event()

    def flusher() -> None:
        while not stop.is_set():
            lines.flush()

    threads = [threading.Thread(target=flusher) for _ in range(3)]
    for thread in threads:
        thread.start()
    async def add() -> None:  # on a loop, as access lines are: they gather between the other threads' flushes
        for n in range(200_000):
            lines.write(f"{n}\n")

    try:
        asyncio.run(add())
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    lines.flush()
    assert out.getvalue().split() == [str(n) for n in range(200_000)]


@pytest.mark.parametrize("created", [1764772405.0, 1764772405.0004, 1764772405.5, 1764772405.9995, 1764772405.999999])
def test_the_stamp_is_loggings_asctime(monkeypatch: pytest.MonkeyPatch, created: float) -> None:
    record = logging.LogRecord("x", logging.INFO, "", 0, "", None, None)
    record.created, record.msecs = created, int((created - int(created)) * 1000) + 0.0  # as LogRecord sets them
    monkeypatch.setattr(logbuffer.time, "time", lambda: created)
    assert logbuffer.Stamp().now() == logging.Formatter().formatTime(record)


async def test_a_line_written_later_is_made_at_the_write_in_its_place() -> None:
    stream = io.StringIO()
    lines = logbuffer.LineBuffer(stream)
    made: list[str] = []

    def render(value: str) -> str:
        made.append(value)
        return f"{value}\n"

    lines.write("a\n")
    lines.write_later(render, "b", 2)
    lines.write("c\n")
    assert made == [] and stream.getvalue() == ""
    lines.flush()
    assert made == ["b"] and stream.getvalue() == "a\nb\nc\n"
    lines.write_later(render, "x" * logbuffer.FLUSH_BYTES, logbuffer.FLUSH_BYTES)  # its size counts: written now
    assert stream.getvalue().endswith("x\n")
    lines.write("d\n")
    lines.write_later(lambda value: f"{1 / value}\n", 0, 10)  # a bug in a render loses its line only
    lines.write("e\n")
    lines.flush()
    assert stream.getvalue().endswith("d\n(an access line could not be formatted)\ne\n")

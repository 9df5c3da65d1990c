"""Access log lines, text or JSON, with request ids and with secrets in URLs redacted.

Players put line credentials in URLs (`/live/user/pass/1.ts`, `get.php?username=..&password=..`) and legacy
scripts put gateway keys there (`/k/KEY/api.php`, `?api_key=`): none of that may reach a log file.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse
from yarl import URL

from gateway import logbuffer
from gateway.dialects.registry import BY_NAME
from gateway.phpform import FormError, split_key

# Names whose values are credentials, wherever PHP would read them: as a parameter (`api_key`, `api.key`,
# `api key` and `api[key` all reach a PHP panel as `api_key`) or as a nested field (`user_data[password]`).
# A MAG box's `mac` is its credential on the portal; a portal `cmd` carries a play token.
SECRET_PARAMS = frozenset({"password", "api_key", "api_pass", "key", "token", "pass", "apikey", "mac", "cmd"})
_STREAM = re.compile(r"^/(live|movie|series|timeshift|thumb|subtitle|player_api|playlist|epg)/([^/]+)/([^/]+)(?=/|$)")
# a line's access token in place of username/password: `/live/{token}/1.ts`, `/timeshift/{token}/60/{start}/1.ts`
_TOKEN_STREAM = re.compile(r"^/(?:(live|movie|series|thumb)/[^/]+(/[^/]+)|(timeshift)/[^/]+((?:/[^/]+){3}))$")
# the whole rest is a token: it seals the line's credentials (`/play/`, `/hls/`) or grants a key (`/key/`); the
# gateway's own origin ids (`/_o/{id}/...`, gateway.clientside.rewrite.Origins) seal such an upstream URL, and open
# it for anyone, from any address, for hours
_TOKEN_PATH = re.compile(r"^/(play|key|hls|auth|vauth|tsauth|thauth|subauth|_o)/.+")
# the route's `\d+(?:\.\w+)?` takes digits and letters of any script, here percent-encoded (`as_routed`)
_SHORT_STREAM = re.compile(r"^/([^/]+)/([^/]+)/((?:\d|%[0-9A-F]{2})+)(\.(?:\w|%[0-9A-F]{2})+)?$")
# Paths that carry a gateway key, each dialect's own (XC v2's `/k/KEY/api.php`, MidnightStreamer's 4th segment).
_PATH_KEYS = tuple(key for d in BY_NAME.values() for key in d.path_keys)
# Anything that looks like a credential in free text (aiohttp's own error logs quote raw request lines).
_SECRET_TEXT = re.compile(
    r"((?:api[ ._+\[]?key|api[ ._+\[]?pass|password|key|token|mac|cmd)(?:\]|%5D)?(?:=|%3D))[^&\s'\"]+", re.IGNORECASE
)
REDACTED = "***"
# what a logged path may show as it is: RFC 3986's path characters; anything else (a space, a `"`, a control
# character, a byte of UTF-8) is written percent-encoded
_PATH_SAFE = "/%!$&'()*+,;=:@~"


def as_routed(path: str) -> str:
    """`path` as sent, decoded as aiohttp decodes it to choose its route (all but `%2F` and `%25`), then written
    percent-encoded again. The patterns that find credentials must see the path the router saw: `/%6Cive/u/p/1.ts`
    and `/u/p/%31.ts` are routed (and relayed) as `/live/u/p/1.ts` and `/u/p/1.ts`, and were logged whole."""
    try:
        decoded = URL.build(path=path, encoded=True).path_safe
    except ValueError:
        decoded = path
    return quote(decoded, safe=_PATH_SAFE, errors="surrogateescape")


def secret_name(name: str) -> bool:
    """Whether PHP reads parameter `name` as a credential: its mangled base name or any bracketed segment. PHP
    reads a name as a C string, up to a NUL byte: `password%00x` is its `password` (this gateway refuses such a
    name on its admin API, but the player routes relay their query to the panel as it came)."""
    name = name.partition("\x00")[0]
    try:
        key = split_key(name)
    except FormError:
        return True  # PHP would read it somehow; we cannot say how, so it is not logged
    parts = [key.base, *(segment for segment in key.path if segment is not None)]
    return any(part.strip().lower() in SECRET_PARAMS for part in parts)


@functools.lru_cache(maxsize=4096)  # clients poll the same few URLs; the regexes and query parsing add up
def redact(path: str, query: str) -> str:
    """The request target with credentials and keys replaced by ***. `path` as it was sent (percent-encoded): a
    decoded one splits a password holding an encoded `/` into segments, and only the first was redacted. It is
    matched as it was routed (`as_routed`)."""
    path = as_routed(path)
    for key in _PATH_KEYS:
        path = key.pattern.sub(key.replace, path)
    path = _TOKEN_PATH.sub(lambda m: f"/{m.group(1)}/{REDACTED}", path)
    path, tokens = _TOKEN_STREAM.subn(lambda m: f"/{m[1] or m[3]}/{REDACTED}{m[2] or m[4]}", path)
    if not tokens:
        path = _STREAM.sub(lambda m: f"/{m.group(1)}/{m.group(2)}/{REDACTED}", path)
    path = _SHORT_STREAM.sub(lambda m: f"/{m.group(1)}/{REDACTED}/{m.group(3)}{m.group(4) or ''}", path)
    if not query:
        return path
    pairs = [(k, REDACTED if secret_name(k) else v) for k, v in parse_qsl(query, keep_blank_values=True)]
    return f"{path}?{urlencode(pairs, safe='*[]')}"


def scrub(text: str) -> str:
    """Free text with credential-looking parameters and key-bearing paths replaced by ***."""
    text = _SECRET_TEXT.sub(lambda m: m.group(1) + REDACTED, text)
    text = re.sub(r"/k/[^/\s]+", f"/k/{REDACTED}", text)
    return re.sub(r"(/api/[^/\s]+/[^/\s]+/)[^\s'\"]+", lambda m: m.group(1) + REDACTED, text)


class ScrubFilter(logging.Filter):
    """For loggers we do not write ourselves (aiohttp.server logs a malformed request's raw bytes): the message
    and any traceback text are scrubbed before a handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = ()
        if record.exc_info:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


_FORMAT = "%(asctime)s {prefix}%(name)s %(levelname)s %(message)s"


@dataclass
class _Sink:
    """Where access lines go once `configure_logging` set up the process: a buffer of lines."""

    lines: logbuffer.LineBuffer
    prefix: str
    stamp: logbuffer.Stamp

    def text_line(self, values: tuple[float, str, str, str, URL, int, int, float, str]) -> str:
        """The text access line of `AccessLogger.log`'s values, as `logging` would have written it."""
        created, name, remote, method, url, status, length, seconds, rid = values
        message = _text_message(remote, method, redact(url.raw_path, url.query_string), status, length, seconds, rid)
        return f"{self.stamp.at(created)} {self.prefix}{name} INFO {message}\n"


def _text_message(remote: str, method: str, target: str, status: int, length: int, seconds: float, rid: str) -> str:
    return f'{remote} "{method} {target}" {status} {length} {seconds * 1000:.1f}ms rid={rid}'


_sink: _Sink | None = None


def configure_logging(prefix: str = "") -> None:
    """The process's logging: INFO and up to stderr, one line per record, `prefix` (a worker's `w1 `) after the
    time. Every request writes an access line, so what no line shows is not gathered: the caller's source file
    and line (a stack walk per record), thread and process names; the logging HOWTO's own optimisations. Access
    lines skip `logging` altogether: formatted as its Formatter would, they are written in batches
    (gateway.logbuffer). Like `logging.basicConfig`, nothing changes when the root logger has handlers already
    (then access lines are records, as anyone who configured logging expects)."""
    global _sink
    logging._srcfile = None  # documented: no findCaller() stack walk for each record
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    if root.handlers:
        return
    lines = logbuffer.install(sys.stderr)
    handler = logbuffer.FlushingHandler(sys.stderr, lines)
    handler.setFormatter(logging.Formatter(_FORMAT.format(prefix=prefix)))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    _sink = _Sink(lines, prefix, logbuffer.Stamp())


def flush_access_log() -> None:
    """Write the access lines still buffered (a server calls it as it stops)."""
    if _sink is not None:
        _sink.lines.flush()


def install_log_scrubbing() -> None:
    """Scrub aiohttp's own loggers (idempotent)."""
    for name in ("aiohttp.server", "aiohttp.web", "aiohttp.access", "aiohttp.client"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, ScrubFilter) for f in logger.filters):
            logger.addFilter(ScrubFilter())


class _UtcSecond:
    """The JSON line's time, formatted once a second."""

    second = -1
    text = ""

    @classmethod
    def now(cls) -> str:
        second = int(time.time())
        if second != cls.second:
            cls.second, cls.text = second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        return cls.text


class AccessLogger(AbstractAccessLogger):
    """aiohttp access logger; `json_lines` picks the format (set per process from config)."""

    json_lines = False

    def log(self, request: BaseRequest, response: StreamResponse, time_taken: float) -> None:
        sink = _sink
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        headers = response.headers
        if not self.json_lines and sink is not None:
            # made when the buffer is written (gateway.logbuffer): the request's URL is immutable, and its path and
            # query are decoded then, in one loop with the other lines', not in this request's turn
            sink.lines.write_later(sink.text_line, (
                time.time(), logger.name, request.remote or "", request.method, request.rel_url, response.status,
                response.body_length, time_taken, headers.get("X-Request-Id", "")), len(request.raw_path) + 90)
            return
        target = redact(request.rel_url.raw_path, request.query_string)
        if not self.json_lines:
            message = _text_message(request.remote or "", request.method, target, response.status,
                                    response.body_length, time_taken, headers.get("X-Request-Id", ""))  # fmt: skip
        else:
            record = {
                "time": _UtcSecond.now(),
                "request_id": headers.get("X-Request-Id", ""),
                "remote": request.remote or "",
                "method": request.method,
                "target": target,
                "status": response.status,
                "bytes": response.body_length,
                "ms": round(time_taken * 1000, 2),
                "cache": headers.get("X-Cache", ""),
            }
            message = json.dumps(record, separators=(",", ":"))
        if sink is None:
            logger.info(message)
        else:  # the line `logging` would have written, without its machinery
            sink.lines.write(f"{sink.stamp.now()} {sink.prefix}{logger.name} INFO {message}\n")


class JsonAccessLogger(AccessLogger):
    json_lines = True


def access_logger(fmt: str) -> type[AbstractAccessLogger]:
    """The logger class for the configured `access_log` format."""
    return JsonAccessLogger if fmt == "json" else AccessLogger

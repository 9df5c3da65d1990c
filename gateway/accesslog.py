"""Access log lines, text or JSON, with request ids and with secrets in URLs redacted.

Players put line credentials in URLs (`/live/user/pass/1.ts`, `get.php?username=..&password=..`) and legacy
scripts put gateway keys there (`/k/KEY/api.php`, `?api_key=`): none of that may reach a log file.
"""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qsl, urlencode

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

SECRET_PARAMS = frozenset({"password", "api_key", "api_pass", "key", "token"})
_STREAM = re.compile(r"^/(live|movie|series|timeshift|hls)/([^/]+)/([^/]+)/")
_SHORT_STREAM = re.compile(r"^/([^/]+)/([^/]+)/(\d+)(\.\w+)?$")
_KEY_PREFIX = re.compile(r"^/k/([^/]+)/")
REDACTED = "***"


def redact(path: str, query: str) -> str:
    """The request target with credentials and keys replaced by ***."""
    path = _KEY_PREFIX.sub(f"/k/{REDACTED}/", path)
    path = _STREAM.sub(lambda m: f"/{m.group(1)}/{m.group(2)}/{REDACTED}/", path)
    path = _SHORT_STREAM.sub(lambda m: f"/{m.group(1)}/{REDACTED}/{m.group(3)}{m.group(4) or ''}", path)
    if not query:
        return path
    pairs = [(k, REDACTED if k.lower() in SECRET_PARAMS else v) for k, v in parse_qsl(query, keep_blank_values=True)]
    return f"{path}?{urlencode(pairs, safe='*[]')}"


class AccessLogger(AbstractAccessLogger):
    """aiohttp access logger; `json_lines` picks the format (set per process from config)."""

    json_lines = False

    def log(self, request: BaseRequest, response: StreamResponse, time_taken: float) -> None:
        target = redact(request.path, request.query_string)
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "request_id": response.headers.get("X-Request-Id", ""),
            "remote": request.remote or "",
            "method": request.method,
            "target": target,
            "status": response.status,
            "bytes": response.body_length,
            "ms": round(time_taken * 1000, 2),
            "cache": response.headers.get("X-Cache", ""),
        }
        if self.json_lines:
            self.logger.info(json.dumps(record, separators=(",", ":")))
        else:
            self.logger.info(
                '%s "%s %s" %s %s %.1fms rid=%s',
                record["remote"], record["method"], target, record["status"], record["bytes"], record["ms"],
                record["request_id"],
            )


class JsonAccessLogger(AccessLogger):
    json_lines = True


def access_logger(fmt: str) -> type[AbstractAccessLogger]:
    """The logger class for the configured `access_log` format."""
    return JsonAccessLogger if fmt == "json" else AccessLogger

"""From an aiohttp request to a RawRequest: bounded body reading and PHP-style form decoding.

Nothing here knows a dialect; every failure is a canonical INVALID_INPUT or PAYLOAD_TOO_LARGE that the
dialect then renders in its own shape.
"""

from __future__ import annotations

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from gateway.bodyread import TooLarge, read_body
from gateway.model import Code, Failure, Reason, Refused
from gateway.phpform import FormError, Params, parse_pairs, parse_urlencoded
from gateway.request import RawRequest

_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"


def _refuse(message: str, code: Code = Code.INVALID_INPUT) -> Refused:
    return Refused(Failure(code, message, reason=Reason.BAD_INPUT if code is Code.INVALID_INPUT else Reason.TOO_LARGE))


def _too_large(limit: int) -> Refused:
    return _refuse(f"request body is larger than {limit} bytes", Code.PAYLOAD_TOO_LARGE)


async def _read_limited(request: web.Request, limit: int) -> bytes:
    """The whole body (Content-Length, or to the end of a chunked one), held to `limit` either way."""
    try:
        return await read_body(request.content, limit, length=request.content_length)
    except TooLarge:
        raise _too_large(limit) from None


async def _read_multipart(request: web.Request, limit: int) -> Params:
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    try:
        return await _multipart_pairs(request, limit)
    except TooLarge:
        raise _too_large(limit) from None


async def _multipart_pairs(request: web.Request, limit: int) -> Params:
    # each part held to the limit as it is read and as it is inflated (a part may say `Content-Encoding: gzip`):
    # a reader made by hand has no limit at all, and read a part sent chunked whole into memory before the check
    reader = MultipartReader(request.headers, request.content, client_max_size=limit, max_size_error_cls=TooLarge)
    pairs: list[tuple[str, str]] = []
    total = 0
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader) or part.name is None:
            raise _refuse("nested or unnamed multipart parts are not accepted")
        if part.filename is not None:
            raise _refuse(f"file uploads are not accepted (part {part.name!r})")
        chunk = await part.read(decode=True)  # to the part's end, or TooLarge past the limit
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
        try:
            pairs.append((part.name, chunk.decode("utf-8")))
        except UnicodeDecodeError:
            raise _refuse(f"parameter {part.name!r} is not valid UTF-8") from None
    return parse_pairs(pairs)


async def read_request(request: web.Request, *, max_body_bytes: int) -> RawRequest:
    """Decode query and body into PHP-style params; refuses what PHP would read ambiguously."""
    try:
        query = parse_urlencoded(request.rel_url.raw_query_string)
        body: Params = {}
        if request.method == "POST" and request.can_read_body:
            ctype = request.content_type
            charset = request.charset
            if charset is not None and charset.lower() not in ("utf-8", "utf8"):
                raise _refuse(f"charset {charset[:20]!r} is not supported; send UTF-8")
            if ctype == _MULTIPART:
                body = await _read_multipart(request, max_body_bytes)
            else:
                raw = await _read_limited(request, max_body_bytes)
                if ctype == _FORM or (not raw.strip()):
                    body = parse_urlencoded(raw)
                else:
                    raise _refuse(f"content type {ctype[:40]!r} is not supported; send a form ({_FORM})")
    except FormError as exc:
        raise _refuse(str(exc)) from None
    except (ValueError, HttpProcessingError) as exc:  # aiohttp's multipart reader on a malformed body or part header
        raise _refuse(f"malformed request body: {type(exc).__name__}") from None
    except (web.RequestPayloadError, ConnectionResetError):  # a bad chunk, or the client left before the end
        raise _refuse("incomplete request body") from None
    return RawRequest(
        method=request.method,
        path=request.path,
        query=query,
        body=body,
        match=dict(request.match_info),
        api_key_header=request.headers.get("X-API-Key"),
    )

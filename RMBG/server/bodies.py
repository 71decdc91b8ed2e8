"""Request bodies: JSON, urlencoded forms and multipart, capped in size and time, errors in remove.bg's format."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import Message, Receive

from RMBG.server.errors import ApiError
from RMBG.server.removebg.params import ALL_FIELDS


def _limited_receive(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises 413 as soon as the body streamed in exceeds ``limit`` bytes."""
    received = 0

    async def wrapped() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise ApiError(413, "file_too_large", "File too large",
                               f"the request body exceeds the limit of {limit} bytes (max_upload_bytes); send a smaller "
                               "image (base64 adds a third)")
        return message

    return wrapped


def _invalid_json(detail: str) -> ApiError:
    return ApiError(400, "invalid_json", "Invalid JSON body", detail)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The JSON object of parameters in ``body``.

    Raises:
        ApiError: 400 ``invalid_json`` for invalid JSON (``NaN``/``Infinity`` included), nesting
            deeper than the parser's recursion limit (a 5,000-level array), an integer of more
            than Python's 4,300 digits, or a top level that is not an object.
    """
    try:
        data = json.loads(body or b"null", parse_constant=_refuse_constant)
    except RecursionError:
        raise _invalid_json("the body is nested too deeply; send a flat JSON object of parameters") from None
    except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError, and int() past its 4,300 digits
        raise _invalid_json(f"the body is not valid JSON ({str(error)[:200]})") from None
    if not isinstance(data, dict):
        raise _invalid_json(f"expected a JSON object of parameters, got {type(data).__name__}")
    return data


async def _read_form(request: Request, limit: int) -> tuple[dict[str, Any], dict[str, bytes]]:
    try:
        form = await request.form(max_files=4, max_fields=len(ALL_FIELDS) + 4, max_part_size=limit)
    except StarletteHTTPException as error:
        raise ApiError(400, "invalid_form", "Malformed form body", str(error.detail)) from None
    fields: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    try:
        for key, value in form.multi_items():
            if key in fields or key in files:
                raise ApiError(400, f"invalid_{key[:64]}", f"Invalid {key[:64]} parameter given",
                               f"{key[:64]}: given more than once; send each parameter once")
            if isinstance(value, UploadFile):
                files[key] = await value.read()
            else:
                fields[key] = value
    finally:
        await form.close()
    return fields, files


async def read_fields(request: Request, max_bytes: int, timeout: float) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Fields and uploaded files of a JSON, urlencoded-form or multipart request, size- and time-capped.

    Raises:
        ApiError: 413 over ``max_bytes``, 408 past ``timeout``, 415 for another content type,
            400 for malformed bodies and repeated fields.
    """
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and (len(declared) > 18 or int(declared) > max_bytes):  # 18 digits: int() stays cheap
        raise ApiError(413, "file_too_large", "File too large",
                       f"Content-Length {declared[:20]} exceeds the limit of {max_bytes} bytes (max_upload_bytes); send a smaller image")
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    limited = Request(request.scope, _limited_receive(request.receive, max_bytes))

    async def read() -> tuple[dict[str, Any], dict[str, bytes]]:
        if content_type == "application/json":
            return parse_json_object(await limited.body()), {}
        if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            return await _read_form(limited, max_bytes)
        raise ApiError(415, "invalid_content_type", "Unsupported content type",
                       f"Content-Type {content_type[:64] or '(none)'!r}: send multipart/form-data, "
                       "application/x-www-form-urlencoded or application/json")

    try:
        return await asyncio.wait_for(read(), timeout=timeout)
    except asyncio.TimeoutError:
        raise ApiError(408, "request_timeout", "Request body took too long",
                       f"the body was not received within {timeout:g} s (read_timeout_s)") from None

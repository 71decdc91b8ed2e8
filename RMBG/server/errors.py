"""Errors answered in remove.bg's JSON format: ``{"errors": [{"title", "code", "detail"}]}``.

Imports neither FastAPI nor TensorFlow: request parsing, URL fetching, decoding and the protocol
guard raise or render these without a web framework.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, Mapping

#: Longest value quoted back in an error detail; longer ones are cut (a 12 MiB field must not
#: come back in the answer or the log).
MAX_SHOWN_CHARS = 80


class ApiError(Exception):
    """An error answered in remove.bg's format.

    Args:
        status: the HTTP status.
        code: a stable machine-readable code (remove.bg's where it has one).
        title: a short summary.
        detail: what was wrong (field and value) and how to fix it.
        headers: extra response headers (``Retry-After``, ``WWW-Authenticate``).
    """

    def __init__(self, status: int, code: str, title: str, detail: str = "", *, headers: Mapping[str, str] | None = None):
        super().__init__(f"{status} {code}: {title}" + (f" ({detail})" if detail else ""))
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})

    def body(self) -> dict:
        """The JSON body."""
        error = {"title": self.title, "code": self.code}
        if self.detail:
            error["detail"] = self.detail
        return {"errors": [error]}


def shown(value: Any) -> str:
    """``repr(value)`` of at most about :data:`MAX_SHOWN_CHARS` characters, for error details.

    A long string is cut before quoting (``'abc...'``); any other long repr is cut after.
    """
    if isinstance(value, str) and len(value) > MAX_SHOWN_CHARS:
        value = value[:MAX_SHOWN_CHARS - 3] + "..."
    text = repr(value)
    return text if len(text) <= MAX_SHOWN_CHARS + 2 else text[:MAX_SHOWN_CHARS - 3] + "..."


def bad_param(field_name: str, value: Any, expected: str, code: str | None = None) -> ApiError:
    """A 400 ``invalid_<field>`` naming the field, the value received (cut) and what is expected."""
    return ApiError(400, code or f"invalid_{field_name}", f"Invalid {field_name} parameter given",
                    f"{field_name}: got {shown(value)}; {expected}")


def raw_error_response(error: ApiError, *, close: bool = True) -> bytes:
    """A complete HTTP/1.1 response carrying ``error``'s JSON body, for the protocol layer.

    Used where no ASGI app runs (a request head that never completed, a refused connection), so
    that those answers have the same format as every other error.
    """
    body = json.dumps(error.body()).encode("utf-8")
    try:
        reason = HTTPStatus(error.status).phrase
    except ValueError:
        reason = "Error"
    lines = [f"HTTP/1.1 {error.status} {reason}", "Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in error.headers.items()]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

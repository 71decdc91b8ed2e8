"""ASGI middleware: security headers on every response, and refusing API keys sent in the query string."""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qsl, quote

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from RMBG.server.auth import API_KEY_HEADER, ApiKeyAuth
from RMBG.server.errors import ApiError

log = logging.getLogger(__name__)

#: Content-Security-Policy of the web page (``/`` and every file under ``/static/``): its own
#: scripts and styles only, result images as blob: URLs, no framing.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)

#: Headers every response carries.
COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
#: Headers the page's responses carry besides.
PAGE_HEADERS = {"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"}

#: Query parameter names (lower case) taken for an API key.
KEY_PARAMETER_NAMES = frozenset({"api_key", "apikey", "api-key", "x-api-key", "x_api_key", "key", "token", "access_token"})
REDACTED = "[redacted]"


def is_page_path(path: str) -> bool:
    """Whether ``path`` is the web page or one of its files."""
    return path == "/" or path.startswith("/static/")


class SecurityHeaders:
    """Adds :data:`COMMON_HEADERS` to every response and :data:`PAGE_HEADERS` to the page's."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = {**COMMON_HEADERS, **(PAGE_HEADERS if is_page_path(scope.get("path", "")) else {})}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def key_parameters(query: str, auth: ApiKeyAuth | None) -> list[str]:
    """Names of query parameters that carry an API key: a key-like name, or a value that is a configured key."""
    names = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name.strip().lower() in KEY_PARAMETER_NAMES or (auth is not None and value and auth.is_valid(value)):
            names.append(name)
    return names


def redact_query(query: str, auth: ApiKeyAuth | None) -> str:
    """``query`` with the value of every key-carrying parameter replaced by ``[redacted]``."""
    flagged = set(key_parameters(query, auth))
    if not flagged:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{quote(name, safe='')}={REDACTED if name in flagged else quote(value, safe='')}" for name, value in pairs)


class KeyInQueryRefusal:
    """Answers 400 ``key_in_query`` to any request whose query string carries an API key.

    The key is never accepted there (URLs end up in access logs, browser history and proxies);
    the refusal is logged with the value redacted, and the request's ``query_string`` is
    redacted too, so nothing downstream (the access log included) sees the key.
    """

    def __init__(self, app: ASGIApp, auth: ApiKeyAuth):
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"").decode("latin-1") if scope["type"] == "http" else ""
        names = key_parameters(query, self.auth) if query else []
        if not names:
            await self.app(scope, receive, send)
            return
        scope["query_string"] = redact_query(query, self.auth).encode("latin-1")
        client = scope.get("client") or ("?", 0)
        log.warning("refused %s %s?%s from %s: an API key was sent in the query string (parameter %r)",
                    scope.get("method"), scope.get("path"), scope["query_string"].decode("latin-1"), client[0], names[0])
        error = ApiError(400, "key_in_query", "API key in the query string",
                         f"query parameter {names[0][:64]!r}: send the key in the {API_KEY_HEADER} header, never in the URL "
                         "(URLs end up in logs, browser history and proxies); if the key was real, consider replacing it")
        body = json.dumps(error.body()).encode("utf-8")
        await send({"type": "http.response.start", "status": 400, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

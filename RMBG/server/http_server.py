"""The HTTP server that runs the app: uvicorn with :class:`~RMBG.server.protocol.GuardedH11Protocol`.

``serve`` and the tests that need real sockets build their server here, so what is tested is
what runs: the request-head timeout and connection cap of the protocol guard, uvicorn's own
keep-alive timeout and 16 KiB head size limit (h11), no ``limit_concurrency`` (it counted idle
sockets as load), and an access log that never shows an API key sent in a query string.
"""

from __future__ import annotations

import logging
from typing import Any

import uvicorn

from RMBG.server.auth import ApiKeyAuth
from RMBG.server.middleware import redact_query
from RMBG.server.protocol import guarded_protocol
from RMBG.server.settings import ServerSettings

#: Seconds an idle keep-alive connection stays open (uvicorn's default).
KEEP_ALIVE_S = 5


class RedactKeysFilter(logging.Filter):
    """Redacts API keys from the query strings of uvicorn's access log records.

    The app already refuses such requests and redacts their ``query_string``; this filter keeps
    the key out of the log whatever reaches the logger.
    """

    def __init__(self, auth: ApiKeyAuth | None):
        super().__init__("rmbg-redact-keys")
        self.auth = auth

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            path, query = args[2].split("?", 1)
            record.args = args[:2] + (f"{path}?{redact_query(query, self.auth)}",) + args[3:]
        return True


def install_access_log_filter(auth: ApiKeyAuth | None) -> None:
    """Put one :class:`RedactKeysFilter` on ``uvicorn.access`` (replacing an earlier one)."""
    logger = logging.getLogger("uvicorn.access")
    for old in [f for f in logger.filters if isinstance(f, RedactKeysFilter)]:
        logger.removeFilter(old)
    logger.addFilter(RedactKeysFilter(auth))


def build_server(app: Any, settings: ServerSettings, *, log_level: str = "info", **config: Any):
    """A ``uvicorn.Server`` for ``app`` on ``settings.host``/``settings.port`` with the guards above.

    Args:
        app: the ASGI app (:func:`RMBG.server.app.create_app`).
        settings: its settings (``header_timeout_s``, ``max_connections``, host, port, keys).
        log_level: uvicorn's log level.
        **config: further ``uvicorn.Config`` arguments (tests pass ``log_config=None``).
    """
    uvicorn_config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=log_level,
        http=guarded_protocol(settings.header_timeout_s, settings.max_connections),
        timeout_keep_alive=KEEP_ALIVE_S, limit_concurrency=None, **config,
    )
    install_access_log_filter(ApiKeyAuth(settings.api_keys) if settings.api_keys else None)
    return uvicorn.Server(uvicorn_config)

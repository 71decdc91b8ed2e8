"""A guard in uvicorn's HTTP/1.1 protocol: no client can hold a connection without sending a request.

uvicorn has a keep-alive timeout but no request-head timeout: a client that sends an unfinished
head (slowloris), or keeps trickling a body the app has already answered, holds its connection
for as long as it likes, and with a connection cap a few dozen such sockets took every slot
(``/healthz`` and keyed requests got 503). :class:`GuardedH11Protocol` adds two rules:

* **head timeout**: a request head must be complete within ``header_timeout_s`` of the
  connection opening or of the previous response ending; past it the server answers 408 (in
  remove.bg's JSON format) and closes. Sending bytes slowly does not extend it.
* **room for new clients**: past ``max_connections`` open connections, the one that has waited
  longest without a request in progress (an unfinished head, an idle keep-alive or a body still
  trickling in after its answer) is closed to make room; only when every connection has a
  request running is the newcomer refused (503 JSON, ``Retry-After``).

Requests whose head is complete are the app's: it caps their body time (``read_timeout_s``),
total time (``request_timeout_s``) and the model queue (``queue_size``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from RMBG.server.errors import ApiError, raw_error_response

log = logging.getLogger(__name__)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head timeout and eviction of idle connections (module docstring).

    Configure through :func:`guarded_protocol`, which sets the two class attributes.
    """

    header_timeout_s: float = 5.0
    max_connections: int = 64

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._waiting_since = 0.0
        self._bytes_while_waiting = 0

    # --- the head timer ------------------------------------------------------------------------
    def _arm(self) -> None:
        self._disarm()
        self._waiting_since = self.loop.time()
        self._bytes_while_waiting = 0
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    @property
    def waiting(self) -> bool:
        """No request in progress: waiting for a head (or for a body it already answered)."""
        return self._head_timer is not None and not self.transport.is_closing()

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
            return
        if self.conn.their_state is h11.IDLE and self._bytes_while_waiting:
            self.transport.write(raw_error_response(ApiError(
                408, "request_timeout", "Request head took too long",
                f"the request line and headers did not arrive within {self.header_timeout_s:g} s (header_timeout_s)")))
        log.info("closed a connection from %s: no complete request head within %g s (%d bytes received)",
                 self.client[0] if self.client else "?", self.header_timeout_s, self._bytes_while_waiting)
        self.transport.close()

    # --- uvicorn's hooks -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()
        self._make_room()

    def data_received(self, data: bytes) -> None:
        self._bytes_while_waiting += len(data)
        cycle = self.cycle
        super().data_received(data)
        if self.cycle is not cycle:  # a new request head was parsed: the app's limits take over
            self._disarm()

    def on_response_complete(self) -> None:
        cycle = self.cycle
        self._arm()
        super().on_response_complete()
        if self.cycle is not cycle or self.transport.is_closing():  # a pipelined request started, or closed
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """A malformed request (h11 refused it): 400 in remove.bg's JSON format, then close."""
        body = json.dumps(ApiError(400, "invalid_http_request", "Invalid HTTP request", msg).body()).encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close"), (b"content-length", str(len(body)).encode())]
        try:
            self.transport.write(self.conn.send(h11.Response(status_code=400, headers=headers, reason=b"Bad Request")))
            self.transport.write(self.conn.send(h11.Data(data=body)))
            self.transport.write(self.conn.send(h11.EndOfMessage()))
        except h11.LocalProtocolError:  # the state machine cannot answer any more: just close
            pass
        self.transport.close()

    # --- room for new connections ----------------------------------------------------------
    def _make_room(self) -> None:
        open_connections = sum(1 for c in self.connections if not c.transport.is_closing())  # closed ones may linger a tick
        if open_connections <= self.max_connections:
            return
        waiting = [c for c in self.connections if c is not self and isinstance(c, GuardedH11Protocol) and c.waiting]
        if waiting:
            oldest = min(waiting, key=lambda c: c._waiting_since)
            log.info("closed a connection from %s waiting %.1f s without a request: %d connections open (max_connections)",
                     oldest.client[0] if oldest.client else "?", self.loop.time() - oldest._waiting_since, open_connections)
            oldest.transport.close()
            return
        log.warning("refused a connection: all %d connections have a request in progress (max_connections)", self.max_connections)
        self._disarm()
        self.transport.write(raw_error_response(ApiError(
            503, "server_busy", "Server busy", f"all {self.max_connections} connections have a request in progress "
            "(max_connections); retry shortly", headers={"Retry-After": "1"})))
        self.transport.close()


def guarded_protocol(header_timeout_s: float, max_connections: int) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` subclass with these limits, for ``uvicorn.Config(http=...)``."""
    if not header_timeout_s > 0 or max_connections < 1:
        raise ValueError(f"header_timeout_s and max_connections must be positive, got {header_timeout_s!r} and {max_connections!r}")
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"header_timeout_s": float(header_timeout_s), "max_connections": int(max_connections)})

"""``image_url`` / ``bg_image_url``: fetch an image without letting a client reach inside the network.

Every address a host resolves to must be public (loopback, private, link-local, reserved,
multicast, unspecified and other non-global addresses are refused, also when an IPv6 address
embeds such an IPv4 address: IPv4-mapped and -compatible, 6to4, Teredo, NAT64); the connection
goes to the address that was checked (no second DNS lookup); redirects are checked again; size and
total time are capped.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from typing import Callable, Sequence
from urllib.parse import urljoin, urlsplit

from RMBG.server.errors import ApiError, bad_param

Resolver = Callable[[str, int], Sequence[str]]

#: NAT64 prefixes: the well-known one (RFC 6052, IPv4 in the last 32 bits) and the local-use one
#: (RFC 8215), which is not globally routable and so refused whatever it embeds.
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
#: IPv4-compatible IPv6 (deprecated, RFC 4291): ``::a.b.c.d``.
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")

REDIRECT_STATUSES = (301, 302, 303, 307, 308)


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (``socket.getaddrinfo``)."""
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def _plain_refusal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    for attribute, label in (  # most specific first: is_private also covers several of the others
        ("is_loopback", "a loopback address"), ("is_link_local", "a link-local address"),
        ("is_unspecified", "the unspecified address"), ("is_multicast", "a multicast address"),
        ("is_reserved", "a reserved address"), ("is_private", "a private address"),
    ):
        if getattr(ip, attribute):
            return label
    if not ip.is_global:
        return "not a globally routable address"
    return None


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address carries, each with the name of its form."""
    found: list[tuple[str, ipaddress.IPv4Address]] = []
    if ip.ipv4_mapped is not None:
        found.append(("IPv4-mapped", ip.ipv4_mapped))
    if ip.sixtofour is not None:
        found.append(("6to4", ip.sixtofour))
    if ip.teredo is not None:
        server, client = ip.teredo
        found += [("Teredo server", server), ("Teredo client", client)]
    if ip in NAT64_WELL_KNOWN:
        found.append(("NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
    if ip in IPV4_COMPATIBLE and int(ip) > 0xFFFF:  # ::/128 and ::1 are the unspecified and loopback addresses
        found.append(("IPv4-compatible", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
    return found


def address_refusal(address: str) -> str | None:
    """Why a fetch must not connect to ``address``, or ``None`` when it is a public address.

    Refuses loopback, private, link-local (cloud metadata services live there), reserved,
    multicast, unspecified and other non-global addresses; an IPv6 address that embeds an IPv4
    address is refused when the embedded address would be; the local-use NAT64 prefix is refused.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        for form, inner in embedded_ipv4(ip):
            reason = _plain_refusal(inner)
            if reason is not None:
                return f"a {form} address embedding {inner}, {reason}"
        if ip.ipv4_mapped is not None:
            return None  # judged by its IPv4 address alone (::ffff:0:0/96 is "reserved" for ipaddress)
        if ip in NAT64_LOCAL_USE:
            return "a local-use NAT64 address (64:ff9b:1::/48, not globally routable)"
    return _plain_refusal(ip)


def check_url_syntax(field_name: str, url: str, *, code: str | None = None) -> None:
    """Refuse anything but ``http(s)://host[:port]/...`` without credentials."""
    code = code or f"invalid_{field_name}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise bad_param(field_name, url, "expected an http:// or https:// URL", code) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_param(field_name, url, "expected an http:// or https:// URL with a host name", code)
    if parts.username or parts.password:
        raise bad_param(field_name, url, "URLs with credentials (user:password@) are not fetched", code)
    if port == 0:
        raise bad_param(field_name, url, "port 0 is not a valid port", code)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to an address checked beforehand (no second DNS lookup that could answer differently)."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address; the certificate is verified against the host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _Fetch:
    """One ``fetch_url`` call: its field's error codes, deadline and checks."""

    def __init__(self, url: str, field_name: str, max_bytes: int, timeout_s: float,
                 resolver: Resolver, refusal: Callable[[str], str | None]):
        self.url = url
        self.field_name = field_name
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.resolver = resolver
        self.refusal = refusal
        self.code_invalid = "invalid_bg_image_url" if field_name == "bg_image_url" else "invalid_image_url"
        self.code_failed = "failed_bg_download" if field_name == "bg_image_url" else "failed_image_download"
        self.deadline = time.monotonic() + timeout_s

    def failed(self, detail: str) -> ApiError:
        return ApiError(400, self.code_failed, f"Failed to download image from given {self.field_name}", f"{self.field_name}: {detail}")

    def remaining(self) -> float:
        """Seconds left; raises the timeout error when none are."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.failed(f"{self.url!r} took longer than {self.timeout_s:g} s (url_fetch_timeout_s)")
        return left

    def checked_addresses(self, host: str, port: int) -> list[str]:
        """The addresses ``host`` resolves to, all checked; raises before any connection otherwise."""
        try:
            addresses = list(self.resolver(host, port))
        except (OSError, UnicodeError) as error:
            raise self.failed(f"cannot resolve host {host!r} ({error})") from None
        if not addresses:
            raise self.failed(f"host {host!r} resolves to no address")
        for address in addresses:
            reason = self.refusal(address)
            if reason is not None:
                raise ApiError(400, self.code_invalid, f"Invalid {self.field_name}: address not allowed",
                               f"{self.field_name}: host {host!r} resolves to {address}, {reason}; only public addresses are fetched")
        return addresses

    def read_body(self, response: http.client.HTTPResponse, sock: socket.socket) -> bytes:
        """The body, refused past ``max_bytes`` (declared or counted) or past the deadline."""
        declared = response.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise ApiError(400, "file_too_large", "File too large",
                           f"{self.field_name}: {declared} bytes exceed the limit of {self.max_bytes} bytes (max_upload_bytes)")
        chunks, total = [], 0
        while True:
            if not response.isclosed():
                sock.settimeout(self.remaining())
            chunk = response.read(65536)
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if total > self.max_bytes:
                raise ApiError(400, "file_too_large", "File too large",
                               f"{self.field_name}: more than {self.max_bytes} bytes (max_upload_bytes)")
            chunks.append(chunk)

    def get(self, url: str) -> tuple[str | None, bytes | None]:
        """One GET: ``(redirect target, None)`` or ``(None, body)``."""
        check_url_syntax(self.field_name, url, code=self.code_invalid)
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = self.checked_addresses(host, port)
        connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
        connection = connection_class(host, port, addresses[0], timeout=min(self.remaining(), self.timeout_s))
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request("GET", target, headers={"User-Agent": "RMBG-server", "Accept": "image/*"})
            sock = connection.sock  # the response may take the socket over; keep it to tighten timeouts
            sock.settimeout(self.remaining())
            response = connection.getresponse()
            if response.status in REDIRECT_STATUSES:
                location = response.getheader("Location")
                if not location:
                    raise self.failed(f"redirect {response.status} without a Location header")
                return urljoin(url, location), None
            if response.status != 200:
                raise self.failed(f"{url!r} answered HTTP {response.status}")
            return None, self.read_body(response, sock)
        except (OSError, http.client.HTTPException) as error:
            if isinstance(error, (TimeoutError, socket.timeout)):
                self.remaining()
            raise self.failed(f"{url!r}: {type(error).__name__}: {error}") from None
        finally:
            connection.close()


def fetch_url(
    url: str,
    *,
    field_name: str = "image_url",
    max_bytes: int,
    timeout_s: float,
    max_redirects: int = 3,
    resolver: Resolver = system_resolver,
    refusal: Callable[[str], str | None] = address_refusal,
) -> bytes:
    """Download ``url`` safely (see the module docstring).

    Args:
        url: an http(s) URL.
        field_name: the request field, for error messages.
        max_bytes: refuse bodies larger than this (``Content-Length`` or counted while reading).
        timeout_s: total seconds for the whole fetch, redirects included.
        max_redirects: redirects followed.
        resolver: ``resolver(host, port) -> addresses`` (tests inject one; no real DNS needed).
        refusal: ``refusal(address) -> reason or None``.

    Raises:
        ApiError: 400 with ``invalid_<field>`` for a refused URL or address,
            ``failed_image_download`` for network failures, bad statuses and timeouts, and
            ``file_too_large`` for a body over ``max_bytes``.
    """
    fetch = _Fetch(url, field_name, max_bytes, timeout_s, resolver, refusal)
    current = url
    for _ in range(max_redirects + 1):
        redirect, body = fetch.get(current)
        if body is not None:
            return body
        current = redirect
    raise fetch.failed(f"more than {max_redirects} redirects (url_max_redirects)")

"""image_url: off by default; when on, private, loopback, link-local and reserved addresses are
refused after DNS resolution. Loopback only: no test fetches a public URL."""

from __future__ import annotations

import http.server
import threading

import pytest

from server_helpers import AUTH, assert_error
from server_helpers import client, horse_path, make_client, photo, served_model, small_photo  # noqa: F401  (pytest fixtures)

from RMBG.server.errors import ApiError
from RMBG.server.removebg.urlfetch import address_refusal, fetch_url


@pytest.mark.parametrize(
    "address, words",
    [
        ("127.0.0.1", "loopback"), ("127.1.2.3", "loopback"), ("::1", "loopback"),
        ("10.0.0.1", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"), ("169.254.0.1", "link-local"), ("fe80::1", "link-local"),
        ("fc00::1", "private"), ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.1.2.3", "private"),
        ("0.0.0.0", "unspecified"), ("240.0.0.1", "reserved"), ("224.0.0.1", "multicast"),
        ("100.64.0.1", "not a globally routable"), ("192.0.2.1", ""),
    ],
)
def test_non_public_addresses_are_refused(address, words):
    reason = address_refusal(address)
    assert reason is not None and words in reason


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111"])
def test_public_addresses_pass_the_check(address):
    assert address_refusal(address) is None  # classification only: nothing is contacted


def test_hostnames_are_checked_after_resolution_without_connecting():
    contacted = []

    def resolver(host, port):
        contacted.append((host, port))
        return {"inside.example": ["10.0.0.1"], "mixed.example": ["8.8.8.8", "169.254.169.254"]}[host]

    for url, address in (("http://inside.example/a.jpg", "10.0.0.1"), ("https://mixed.example:8443/a.jpg", "169.254.169.254")):
        with pytest.raises(ApiError) as caught:
            fetch_url(url, max_bytes=1000, timeout_s=2, resolver=resolver)
        assert caught.value.status == 400 and caught.value.code == "invalid_image_url"
        assert address in caught.value.detail
    assert contacted == [("inside.example", 80), ("mixed.example", 8443)]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.jpg", "http://user:pw@example.com/a.jpg", "http:///nohost", "gopher://x"])
def test_only_plain_http_urls(url):
    with pytest.raises(ApiError) as caught:
        fetch_url(url, max_bytes=1000, timeout_s=2, resolver=lambda h, p: ["8.8.8.8"])
    assert caught.value.code == "invalid_image_url"


class _Handler(http.server.BaseHTTPRequestHandler):
    payload = b""

    def do_GET(self):  # noqa: N802
        if self.path == "/redirect-private":
            self.send_response(302)
            self.send_header("Location", "http://10.0.0.1/secret")
            self.end_headers()
            return
        if self.path == "/redirect-ok":
            self.send_response(301)
            self.send_header("Location", "/image.png")
            self.end_headers()
            return
        if self.path == "/missing":
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        if self.path != "/no-length":
            self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def loopback_server(small_photo):
    _Handler.payload = small_photo
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _allow_loopback_only(address: str):
    """The real check, except this test's own loopback server."""
    return None if address == "127.0.0.1" else address_refusal(address)


def test_fetch_mechanics_against_a_loopback_server(loopback_server, small_photo):
    options = dict(max_bytes=10 * len(small_photo), timeout_s=5, refusal=_allow_loopback_only)
    assert fetch_url(f"{loopback_server}/image.png", **options) == small_photo
    assert fetch_url(f"{loopback_server}/redirect-ok", **options) == small_photo
    with pytest.raises(ApiError) as redirected:
        fetch_url(f"{loopback_server}/redirect-private", **options)
    assert redirected.value.code == "invalid_image_url" and "10.0.0.1" in redirected.value.detail
    with pytest.raises(ApiError) as too_many:
        fetch_url(f"{loopback_server}/redirect-ok", **{**options, "max_redirects": 0})
    assert "redirects" in too_many.value.detail
    with pytest.raises(ApiError) as missing:
        fetch_url(f"{loopback_server}/missing", **options)
    assert missing.value.code == "failed_image_download" and "404" in missing.value.detail
    for path in ("/image.png", "/no-length"):  # declared and counted sizes
        with pytest.raises(ApiError) as large:
            fetch_url(f"{loopback_server}{path}", **{**options, "max_bytes": len(small_photo) // 2})
        assert large.value.code == "file_too_large"


def test_the_real_check_refuses_the_loopback_server(loopback_server):
    with pytest.raises(ApiError) as caught:
        fetch_url(f"{loopback_server}/image.png", max_bytes=10**6, timeout_s=5)
    assert "loopback" in caught.value.detail


@pytest.mark.parametrize(
    "url, words",
    [
        ("http://127.0.0.1:9/a.png", "loopback"),
        ("http://localhost:9/a.png", "loopback"),
        ("http://[::1]:9/a.png", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.1/a.png", "private"),
        ("http://0x7f000001/a.png", "loopback"),
    ],
)
def test_endpoint_refuses_private_urls_when_fetching_is_on(make_client, url, words):
    client = make_client(allow_url_fetch=True, url_fetch_timeout_s=3)
    error = assert_error(client.post("/api/removebg", headers=AUTH, data={"image_url": url}), 400, "invalid_image_url")
    assert error["detail"].startswith("image_url:") and words in error["detail"]
    error = assert_error(client.post("/api/removebg", headers=AUTH, json={"image_file_b64": "aGVsbG8=", "bg_image_url": url}), 400, "invalid_bg_image_url")
    assert error["detail"].startswith("bg_image_url:")


#: IPv6 forms that carry an IPv4 address (issue 10: 6to4 for 127.0.0.1 passed the filter and the server called connect()).
EMBEDDING = [
    ("2002:7f00:1::", "6to4 address embedding 127.0.0.1, a loopback"),
    ("2002:a00:1::5", "6to4 address embedding 10.0.0.1, a private"),
    ("2002:a9fe:a9fe::", "6to4 address embedding 169.254.169.254, a link-local"),
    ("64:ff9b::7f00:1", "NAT64 address embedding 127.0.0.1, a loopback"),
    ("64:ff9b::a9fe:a9fe", "NAT64 address embedding 169.254.169.254, a link-local"),
    ("64:ff9b:1::a00:1", "local-use NAT64"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo client address embedding 127.0.0.1, a loopback"),  # client bits are inverted
    ("2001:0:a00:1::1", "Teredo server address embedding 10.0.0.1, a private"),
    ("::127.0.0.1", "IPv4-compatible address embedding 127.0.0.1, a loopback"),
    ("::ffff:169.254.169.254", "IPv4-mapped address embedding 169.254.169.254, a link-local"),
]


@pytest.mark.parametrize("address, words", EMBEDDING)
def test_ipv6_forms_embedding_a_non_public_ipv4_are_refused(address, words):
    reason = address_refusal(address)
    assert reason is not None and words in reason, reason


@pytest.mark.parametrize("address", ["2002:808:808::1", "::ffff:8.8.8.8"])
def test_embedding_forms_of_public_addresses_pass(address):
    assert address_refusal(address) is None  # classification only: nothing is contacted


@pytest.fixture
def no_connect(monkeypatch):
    """Records (and blocks) every outgoing connection attempt."""
    import socket

    attempts = []

    def refuse(address, *args, **kwargs):
        attempts.append(address)
        raise AssertionError(f"connect() to {address} was attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


@pytest.mark.parametrize("address, words", EMBEDDING)
def test_no_connection_is_attempted_to_an_embedded_private_address(make_client, no_connect, address, words):
    url = f"http://[{address}]:8080/a.png"
    with pytest.raises(ApiError) as caught:
        fetch_url(url, max_bytes=1000, timeout_s=2)  # the real resolver: a literal address needs no DNS
    assert caught.value.code == "invalid_image_url" and words in caught.value.detail
    client = make_client(allow_url_fetch=True, url_fetch_timeout_s=3)
    error = assert_error(client.post("/api/removebg", headers=AUTH, data={"image_url": url}), 400, "invalid_image_url")
    assert words in error["detail"]
    assert no_connect == []

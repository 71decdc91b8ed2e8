"""API keys: 401 without one, 403 with a wrong one (remove.bg's error body), constant-time comparison."""

from __future__ import annotations

import pytest

from server_helpers import API_KEY, AUTH, assert_error
from server_helpers import client, horse_path, make_client, photo, served_model, small_photo  # noqa: F401  (pytest fixtures)

PROTECTED = [("post", "/api/removebg"), ("post", "/v1.0/removebg"), ("get", "/api/account"), ("get", "/v1.0/account"), ("get", "/api/models")]


@pytest.mark.parametrize("method, path", PROTECTED)
def test_missing_key_is_401(client, method, path):
    response = getattr(client, method)(path)
    error = assert_error(response, 401, "auth_missing")
    assert "X-Api-Key" in error["detail"]
    assert "X-Api-Key" in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("method, path", PROTECTED)
def test_wrong_key_is_403(client, method, path):
    response = getattr(client, method)(path, headers={"X-Api-Key": API_KEY + "x"})
    assert_error(response, 403, "auth_failed")


def test_key_is_checked_before_the_body_is_read(client):
    response = client.post("/api/removebg", headers={"X-Api-Key": "wrong", "Content-Type": "image/png"}, content=b"x" * 1000)
    assert_error(response, 403, "auth_failed")


def test_header_name_is_case_insensitive_and_several_keys_work(make_client):
    client = make_client(api_keys=("first-key-aaaaaaaaaaaa", "second-key-bbbbbbbbbbb"))
    assert client.get("/api/account", headers={"x-api-key": "second-key-bbbbbbbbbbb"}).status_code == 200
    assert client.get("/api/account", headers={"X-API-Key": "first-key-aaaaaaaaaaaa"}).status_code == 200
    assert_error(client.get("/api/account", headers={"X-Api-Key": "first-key-aaaaaaaaaaa"}), 403, "auth_failed")


def test_account_has_removebg_shape(client):
    response = client.get("/v1.0/account", headers=AUTH)
    assert response.status_code == 200
    attributes = response.json()["data"]["attributes"]
    assert set(attributes["credits"]) == {"total", "subscription", "payg", "enterprise"}
    assert all(isinstance(v, (int, float)) for v in attributes["credits"].values())
    assert attributes["api"]["sizes"] == "all" and attributes["api"]["free_calls"] > 0


def test_open_routes_need_no_key_and_the_page_holds_no_key(client):
    assert client.get("/healthz").json()["status"] == "ok"
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert API_KEY not in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    script = client.get("/static/app.js")
    assert script.status_code == 200 and API_KEY not in script.text and "sessionStorage" in script.text
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "/api/removebg" in schema["paths"] and "X-Api-Key" in str(schema["components"]["securitySchemes"])


SECURITY_HEADERS = ("Content-Security-Policy", "Cache-Control", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options")


def test_the_page_under_static_carries_the_same_security_headers_as_the_root(client):
    root = client.get("/")
    assert all(name in root.headers for name in SECURITY_HEADERS)
    for path in ("/static/index.html", "/static/app.js", "/static/style.css"):
        response = client.get(path)
        assert response.status_code == 200
        assert {name: response.headers.get(name) for name in SECURITY_HEADERS} == {name: root.headers[name] for name in SECURITY_HEADERS}, path
    assert client.get("/static/index.html").text == root.text
    api = client.get("/healthz")  # the API keeps the common headers, not the page's CSP
    assert api.headers["X-Content-Type-Options"] == "nosniff" and "Content-Security-Policy" not in api.headers


def test_a_key_in_the_query_string_is_refused_without_echoing_it(client, caplog):
    import logging

    caplog.set_level(logging.WARNING, logger="RMBG.server.middleware")
    for path in (f"/api/removebg?api_key={API_KEY}", f"/healthz?X-Api-Key={API_KEY}", f"/?note={API_KEY}"):
        response = client.post(path, headers=AUTH) if "removebg" in path else client.get(path)
        error = assert_error(response, 400, "key_in_query")
        assert "X-Api-Key header" in error["detail"] and API_KEY not in response.text
    assert API_KEY not in caplog.text and caplog.text.count("[redacted]") == 3


def test_api_key_auth_unit():
    from RMBG.server.auth import ApiKeyAuth, generate_api_key
    from RMBG.server.errors import ApiError

    key = generate_api_key()
    assert len(key) >= 40 and key != generate_api_key()
    auth = ApiKeyAuth([key, "other-key"])
    assert auth.is_valid(key) and auth.is_valid("other-key")
    assert not auth.is_valid(key[:-1]) and not auth.is_valid("") and not auth.is_valid("ünïcode")
    with pytest.raises(ApiError) as missing:
        auth.check(None)
    assert missing.value.status == 401
    with pytest.raises(ApiError) as wrong:
        auth.check("nope")
    assert wrong.value.status == 403
    with pytest.raises(ValueError, match="RMBG_API_KEYS"):
        ApiKeyAuth([])


def test_create_app_refuses_to_run_without_keys(served_model):
    from RMBG.server.app import create_app
    from RMBG.server.settings import ServerSettings

    with pytest.raises(ValueError, match="no API key"):
        create_app(ServerSettings())

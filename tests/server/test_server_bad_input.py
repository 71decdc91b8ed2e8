"""Hostile or absurd values are 400s in remove.bg's JSON format, never a 500 or a plain-text answer."""

from __future__ import annotations

import json

import pytest

from server_helpers import AUTH, assert_error
from server_helpers import client, horse_path, make_client, served_model, small_photo  # noqa: F401  (pytest fixtures)

from RMBG.server.errors import ApiError
from RMBG.server.removebg.params import MAX_FIELD_CHARS, parse_bg_color, parse_crop_margin, parse_roi

HUGE = "9" * 400


@pytest.mark.parametrize("value, words", [
    ("rgb(999,0,0)", "0..255"), ("rgba(0,0,0,300)", "0..255"), ("hsl(720,500%,500%)", "0%..100%"),
    ("hsv(0,500%,100%)", "0%..100%"), ("hsl(0,150%,50%)", "0%..100%"), ("rgb(100%,0%,0%,0%,0%)", "hex colour"),
])
def test_out_of_range_css_colours_are_refused(value, words):
    with pytest.raises(ApiError) as caught:
        parse_bg_color(value)
    assert caught.value.status == 400 and caught.value.code == "invalid_bg_color" and words in caught.value.detail


@pytest.mark.parametrize("value, expected", [
    ("rgb(255,0,0)", (255, 0, 0, 255)), ("rgba(0,0,0,128)", (0, 0, 0, 128)), ("hsl(720,50%,50%)", (191, 64, 64, 255)),
    ("rgb(100%,0%,0%)", (255, 0, 0, 255)), ("green", (0, 128, 0, 255)),
])
def test_valid_css_colours_still_parse(value, expected):
    assert parse_bg_color(value) == expected


@pytest.mark.parametrize("parse, value", [
    (parse_roi, f"0px 0px {HUGE}px 10px"), (parse_roi, f"0% 0% {HUGE}% 100%"), (parse_roi, f"0px 0px 1{HUGE}.5px 10px"),
    (parse_crop_margin, f"{HUGE}px"), (parse_crop_margin, f"10px {HUGE}%"),
])
def test_lengths_with_hundreds_of_digits_are_refused(parse, value):
    with pytest.raises(ApiError) as caught:
        parse(value)
    assert caught.value.status == 400 and "too large" in caught.value.detail
    assert len(caught.value.detail) < 400  # the value is quoted cut, not whole


def post_json(client, body: bytes):
    return client.post("/api/removebg", headers={**AUTH, "Content-Type": "application/json"}, content=body)


@pytest.mark.parametrize("field, value", [
    ("bg_color", "rgb(999,0,0)"), ("bg_color", "rgba(0,0,0,300)"), ("bg_color", "hsl(720,500%,500%)"),
    ("roi", f"{HUGE}px 0px 10px 10px"), ("roi", f"0px 0px {HUGE}px 10px"), ("crop_margin", f"{HUGE}px"), ("scale", f"{HUGE}%"), ("position", f"{HUGE}% 0%"),
])
def test_absurd_field_values_are_400_at_the_endpoint(client, small_photo, field, value):
    response = client.post("/api/removebg", headers=AUTH, data={field: value, "crop": "true"},
                           files={"image_file": ("p.png", small_photo)})
    assert_error(response, 400, f"invalid_{field}")


def test_json_nested_5000_levels_deep_is_400(client):
    error = assert_error(post_json(client, b'{"size": ' + b"[" * 5000 + b"]" * 5000 + b"}"), 400, "invalid_json")
    assert "nested too deeply" in error["detail"]
    assert_error(post_json(client, b"[" * 5000 + b"]" * 5000), 400, "invalid_json")


def test_json_with_a_4300_digit_integer_is_400(client):
    error = assert_error(post_json(client, b'{"image_file_b64": "x", "size": ' + b"7" * 4301 + b"}"), 400, "invalid_json")
    assert "digits" in error["detail"]
    assert len(error["detail"]) < 400


@pytest.mark.parametrize("body, code", [
    (b'{"size": NaN, "image_file_b64": "x"}', "invalid_json"),
    (b'{"size": Infinity, "image_file_b64": "x"}', "invalid_json"),
    (b'{"size": ["full"], "image_file_b64": "x"}', "invalid_size"),
    (b'{"roi": {"x1": 0}, "image_file_b64": "x"}', "invalid_roi"),
    (b'{"image_file_b64": "x", "size": 1e999}', "invalid_size"),
    (json.dumps({"image_file_b64": "x", "bg_color": "a" * (MAX_FIELD_CHARS + 1)}).encode(), "invalid_bg_color"),
    (json.dumps({"image_file_b64": "x", "x" * 100_000: 1}).encode(), "unknown_parameter"),
])
def test_json_values_that_are_not_plain_scalars_are_400(client, body, code):
    error = assert_error(post_json(client, body), 400, code)
    assert len(error["detail"]) < 2000


def test_a_content_length_with_hundreds_of_digits_is_413(client):
    response = client.post("/api/removebg", headers={**AUTH, "Content-Type": "application/json", "Content-Length": HUGE}, content=b"{}")
    assert_error(response, 413, "file_too_large")


def test_an_unexpected_exception_is_a_json_500(make_client):
    from fastapi.testclient import TestClient

    app = make_client().app

    @app.get("/test-boom")
    def boom():
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as unchecked:
        error = assert_error(unchecked.get("/test-boom"), 500, "internal_error")
    assert "RuntimeError" in error["detail"] and "a bug" not in error["detail"]

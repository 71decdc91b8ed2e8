"""Every bad request gets remove.bg's error body with a code, a title and a detail naming the field."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from server_helpers import AUTH, assert_error
from server_helpers import client, horse_path, make_client, photo, served_model, small_photo  # noqa: F401  (pytest fixtures)


def post_file(client, data: bytes, **fields):
    return client.post("/api/removebg", headers=AUTH, files={"image_file": ("photo.jpg", data, "image/jpeg")}, data=fields)


@pytest.mark.parametrize(
    "field, value, code",
    [
        ("size", "huge", "invalid_size"),
        ("format", "gif", "invalid_format"),
        ("channels", "rgb", "invalid_channels"),
        ("type", "spaceship", "invalid_type"),
        ("type_level", "3", "invalid_type_level"),
        ("bg_color", "not-a-colour", "invalid_bg_color"),
        ("crop", "maybe", "invalid_crop"),
        ("crop_margin", "10px 20px 30px", "invalid_crop_margin"),
        ("crop_margin", "-5px", "invalid_crop_margin"),
        ("scale", "5%", "invalid_scale"),
        ("scale", "50", "invalid_scale"),
        ("position", "left", "invalid_position"),
        ("position", "10% 20% 30%", "invalid_position"),
        ("position", "150%", "invalid_position"),
        ("roi", "0 0 10 10", "invalid_roi"),
        ("semitransparency", "perhaps", "invalid_semitransparency"),
        ("add_shadow", "true", "invalid_add_shadow"),
        ("shadow_method", "fancy", "invalid_shadow_method"),
        ("model", "../../etc/passwd", "invalid_model"),
        ("model", "u2net_not_offered", "invalid_model"),
        ("post", "no-such-post", "invalid_post"),
    ],
)
def test_invalid_field_values(client, small_photo, field, value, code):
    error = assert_error(post_file(client, small_photo, **{field: value}), 400, code)
    assert error["detail"].startswith(f"{field}:") and repr(value) in error["detail"]


def test_unknown_parameter_is_named(client, small_photo):
    error = assert_error(post_file(client, small_photo, colour="red"), 400, "unknown_parameter")
    assert "colour" in error["detail"] and "bg_color" in error["detail"]


def test_missing_and_multiple_sources(client, small_photo):
    assert_error(client.post("/api/removebg", headers=AUTH, data={"size": "full"}), 400, "missing_source")
    assert_error(client.post("/api/removebg", headers=AUTH, json={"image_file_b64": ""}), 400, "missing_source")
    both = post_file(client, small_photo, image_file_b64=base64.b64encode(small_photo).decode())
    assert_error(both, 400, "multiple_sources")


def test_multiple_background_sources(client, small_photo):
    response = client.post(
        "/api/removebg", headers=AUTH, data={"bg_color": "fff"},
        files={"image_file": ("p.png", small_photo, "image/png"), "bg_image_file": ("b.png", small_photo, "image/png")},
    )
    assert_error(response, 400, "multiple_bg_sources")


def test_text_in_file_field_and_file_in_text_field(client, small_photo):
    error = assert_error(client.post("/api/removebg", headers=AUTH, data={"image_file": "abc"}), 400, "invalid_image_file")
    assert "multipart" in error["detail"]
    response = client.post("/api/removebg", headers=AUTH, files={"image_file": ("p.png", small_photo), "size": ("s.txt", b"full")})
    assert_error(response, 400, "invalid_size")


def test_repeated_field(client, small_photo):
    response = client.post("/api/removebg", headers=AUTH, files=[("image_file", ("a.png", small_photo)), ("image_file", ("b.png", small_photo))])
    assert_error(response, 400, "invalid_image_file")


def test_bad_base64(client):
    error = assert_error(client.post("/api/removebg", headers=AUTH, json={"image_file_b64": "***not base64***"}), 400, "invalid_image_file_b64")
    assert error["detail"].startswith("image_file_b64:")


@pytest.mark.parametrize(
    "make, code, words",
    [
        (lambda photo: b"", "failed_to_read_image", "empty"),
        (lambda photo: b"this is plain text, not a picture" * 10, "invalid_file_type", "not an image"),
        (lambda photo: bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)), "invalid_file_type", "not an image"),
        (lambda photo: photo[: len(photo) // 2], "failed_to_read_image", "truncated"),
        (lambda photo: photo[:40], "failed_to_read_image", "truncated or corrupt"),
    ],
    ids=["empty", "text", "random-bytes", "truncated-half", "header-only"],
)
def test_bad_images_get_a_clear_400(client, small_photo, make, code, words):
    response = post_file(client, make(small_photo))
    error = assert_error(response, 400, code)
    assert error["detail"].startswith("image_file:")
    assert words in error["detail"]


def test_bad_background_image_names_its_field(client, small_photo):
    response = client.post(
        "/api/removebg", headers=AUTH,
        files={"image_file": ("p.png", small_photo, "image/png"), "bg_image_file": ("b.png", b"garbage" * 20, "image/png")},
    )
    error = assert_error(response, 400, "invalid_file_type")
    assert error["detail"].startswith("bg_image_file:")


def test_roi_outside_the_image(client, small_photo):
    assert_error(post_file(client, small_photo, roi="0px 0px 1000px 100px"), 400, "roi_exceeds_bounds")
    assert_error(post_file(client, small_photo, roi="50% 0% 50% 100%"), 400, "roi_region_empty")


def test_image_urls_are_off_by_default(client):
    error = assert_error(client.post("/api/removebg", headers=AUTH, data={"image_url": "https://example.com/a.jpg"}), 400, "url_fetch_disabled")
    assert "allow_url_fetch" in error["detail"]
    error = assert_error(client.post("/api/removebg", headers=AUTH, files={"image_file": ("p.png", b"x")}, data={"bg_image_url": "https://example.com/b.jpg"}), 400, "url_fetch_disabled")
    assert error["detail"].startswith("bg_image_url:")


def test_bodies_that_are_not_requests(client):
    assert_error(client.post("/api/removebg", headers={**AUTH, "Content-Type": "application/json"}, content=b"{not json"), 400, "invalid_json")
    assert_error(client.post("/api/removebg", headers=AUTH, json=[1, 2]), 400, "invalid_json")
    assert_error(client.post("/api/removebg", headers={**AUTH, "Content-Type": "image/png"}, content=b"\x89PNG"), 415, "invalid_content_type")
    assert_error(client.post("/api/removebg", headers={**AUTH, "Content-Type": "multipart/form-data; boundary=x"}, content=b"--y\r\nbroken"), 400, "invalid_form")


def test_unknown_routes_and_methods_answer_json(client):
    assert_error(client.get("/api/nothing-here", headers=AUTH), 404, "http_404")
    assert_error(client.get("/api/removebg", headers=AUTH), 405, "http_405")


def test_no_subject_is_unknown_foreground():
    from RMBG.server.errors import ApiError
    from RMBG.server.removebg.params import RemoveBgParams
    from RMBG.server.removebg.render import render

    with pytest.raises(ApiError) as caught:
        render(RemoveBgParams(image_source="image_file"), np.zeros((20, 30, 3), np.uint8), np.zeros((20, 30), np.float32))
    assert caught.value.status == 400 and caught.value.code == "unknown_foreground"

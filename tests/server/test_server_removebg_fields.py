"""POST /api/removebg with the real u2netp model: every remove.bg field and the response headers."""

from __future__ import annotations

import base64
import io
import zipfile

import numpy as np
import pytest

from server_helpers import AUTH, decode, encode
from server_helpers import client, horse_path, make_client, photo, served_model, small_photo  # noqa: F401  (pytest fixtures)


def post(client, image: bytes, path: str = "/api/removebg", headers: dict | None = None, **fields):
    return client.post(path, headers={**AUTH, **(headers or {})}, files={"image_file": ("photo.jpg", image, "image/jpeg")}, data=fields)


def foreground(response) -> tuple[int, int, int, int]:
    h = response.headers
    return int(h["X-Foreground-Top"]), int(h["X-Foreground-Left"]), int(h["X-Foreground-Width"]), int(h["X-Foreground-Height"])


def test_default_request_is_a_preview_png_with_removebg_headers(client, photo):
    response = post(client, photo)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    image = decode(response.content)
    assert image.mode == "RGBA"
    width, height = image.size
    assert (int(response.headers["X-Width"]), int(response.headers["X-Height"])) == (width, height)
    assert width * height <= 250_000 and width * height > 240_000  # preview = 0.25 MP, aspect kept
    assert abs(width / height - 800 / 590) < 0.01
    assert response.headers["X-Type"] == "other"  # type=auto: no foreground classifier, says 'other'
    assert response.headers["X-Credits-Charged"] == "0"
    top, left, fg_w, fg_h = foreground(response)
    alpha = np.asarray(image)[..., 3]
    assert alpha[top:top + fg_h, left:left + fg_w].mean() > alpha.mean()  # the box holds the subject
    assert 0 < fg_w < width and 0 < fg_h < height
    assert alpha.min() == 0 and alpha.max() == 255


def test_size_full_keeps_the_photo_size_and_v1_path_is_an_alias(client, photo):
    response = post(client, photo, path="/v1.0/removebg", size="full", type="person", format="png")
    assert response.status_code == 200, response.text
    assert decode(response.content).size == (800, 590)
    assert response.headers["X-Type"] == "person"  # requested types are echoed


def test_format_zip_holds_color_jpg_and_alpha_png(client, photo):
    response = post(client, photo, format="zip", size="medium")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
        color = decode(archive.read("color.jpg"))
        alpha = decode(archive.read("alpha.png"))
    assert color.format == "JPEG" and color.mode == "RGB"
    assert alpha.format == "PNG" and alpha.mode == "L"
    assert color.size == alpha.size == (800, 590)  # medium (1.5 MP) does not shrink 0.47 MP
    assert (int(response.headers["X-Width"]), int(response.headers["X-Height"])) == (800, 590)


def test_channels_alpha_returns_the_grayscale_matte(client, small_photo):
    response = post(client, small_photo, channels="alpha", size="full")
    assert response.status_code == 200, response.text
    matte = decode(response.content)
    assert matte.mode == "L" and matte.size == (240, 177)
    values = np.asarray(matte)
    assert values.min() == 0 and values.max() == 255


def test_crop_with_margins_in_px_and_percent(client, small_photo):
    plain = post(client, small_photo, crop="true", size="full")
    assert plain.status_code == 200, plain.text
    top, left, fg_w, fg_h = foreground(plain)
    assert (top, left) == (0, 0)
    assert decode(plain.content).size == (fg_w, fg_h)

    margin = post(client, small_photo, crop="true", crop_margin="10px 5%", size="full")
    assert margin.status_code == 200, margin.text
    width, height = decode(margin.content).size
    side = round(0.05 * fg_w)
    assert (width, height) == (fg_w + 2 * side, fg_h + 20)
    assert foreground(margin) == (10, side, fg_w, fg_h)


def test_bg_color_gives_an_opaque_jpg_with_format_auto_and_alpha_hex_keeps_transparency(client, small_photo):
    opaque = post(client, small_photo, bg_color="81d4fa", size="full")
    assert opaque.status_code == 200, opaque.text
    assert opaque.headers["content-type"] == "image/jpeg"
    pixels = np.asarray(decode(opaque.content).convert("RGB")).astype(int)
    assert np.abs(pixels[0, 0] - [0x81, 0xD4, 0xFA]).max() <= 8  # a corner is background

    half = post(client, small_photo, bg_color="#00ff0080", format="png", size="full")
    assert half.status_code == 200, half.text
    corner = np.asarray(decode(half.content))[0, 0]
    assert abs(int(corner[3]) - 0x80) <= 2 and corner[1] > 240 and corner[0] < 15


def test_bg_image_file_is_resized_to_cover_the_result(client, small_photo):
    background = np.zeros((50, 100, 3), np.uint8)
    background[...] = (200, 30, 40)
    response = client.post(
        "/api/removebg", headers=AUTH, data={"size": "full", "format": "png"},
        files={"image_file": ("p.png", small_photo, "image/png"), "bg_image_file": ("bg.png", encode(background, "PNG"), "image/png")},
    )
    assert response.status_code == 200, response.text
    result = np.asarray(decode(response.content))
    assert result.shape == (177, 240, 4)
    assert result[..., 3].min() == 255
    assert np.abs(result[0, 0, :3].astype(int) - [200, 30, 40]).max() <= 3


def test_scale_and_position_move_and_shrink_the_subject(client, small_photo):
    original = post(client, small_photo, size="full", crop="true")
    _, _, fg_w, fg_h = foreground(original)
    response = post(client, small_photo, size="full", scale="50%", position="0% 100%")
    assert response.status_code == 200, response.text
    top, left, width, height = foreground(response)
    assert decode(response.content).size == (240, 177)
    factor = 0.5 * min(240 / fg_w, 177 / fg_h)
    assert abs(width - fg_w * factor) <= 3 and abs(height - fg_h * factor) <= 3
    assert left <= 1 and abs(top + height - 177) <= 1  # bottom-left corner

    centred = post(client, small_photo, size="full", scale="100%")
    top, left, width, height = foreground(centred)
    assert abs(left - (240 - width - left)) <= 2 and abs(top - (177 - height - top)) <= 2


def test_json_body_with_base64_and_json_response(client, small_photo):
    body = {"image_file_b64": base64.b64encode(small_photo).decode(), "size": "full", "type_level": "none", "crop": True}
    response = client.post("/api/removebg", headers={**AUTH, "Accept": "application/json"}, json=body)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    result = decode(base64.b64decode(data["result_b64"]))
    assert result.size == (int(response.headers["X-Width"]), int(response.headers["X-Height"]))
    assert "X-Type" not in response.headers  # type_level=none
    assert (data["foreground_top"], data["foreground_left"]) == (0, 0)
    assert (data["foreground_width"], data["foreground_height"]) == result.size


def test_urlencoded_form_with_base64_data_url_and_jpg_format(client, small_photo):
    encoded = "data:image/png;base64," + base64.b64encode(small_photo).decode()
    response = client.post("/api/removebg", headers=AUTH, data={"image_file_b64": encoded, "format": "jpg", "size": "full"})
    assert response.status_code == 200, response.text
    image = decode(response.content)
    assert image.format == "JPEG" and image.mode == "RGB"
    assert np.asarray(image)[0, 0].min() > 235  # transparency flattened onto white


def test_roi_semitransparency_model_and_post_fields(client, small_photo):
    response = post(client, small_photo, size="full", roi="0% 0% 50% 100%", semitransparency="false",
                    model="u2netp", post="none", format="webp", channels="alpha")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/webp"
    matte = np.asarray(decode(response.content).convert("L"))
    assert matte[:, 125:].max() <= 8  # outside the roi (webp is lossy: near zero)
    top, left, width, height = foreground(response)
    assert left + width <= 121


@pytest.mark.parametrize("value", ["small", "regular"])
def test_preview_aliases(client, photo, value):
    response = post(client, photo, size=value, channels="alpha")
    assert response.status_code == 200
    width, height = decode(response.content).size
    assert width * height <= 250_000

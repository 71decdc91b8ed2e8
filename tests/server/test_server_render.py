"""The remove.bg rules without a model: parsing of every field and the geometry of the result."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from RMBG.server.errors import ApiError
from RMBG.server.removebg.decode import fit_megapixels
from RMBG.server.removebg.layout import composite_over, cover_resize, crop_to_subject, place_subject, subject_box
from RMBG.server.removebg.params import (
    RemoveBgParams,
    parse_bg_color,
    parse_crop_margin,
    parse_params,
    parse_position,
    parse_scale,
)
from RMBG.server.removebg.render import render


def square_scene(height=100, width=160, box=(40, 20, 80, 60)):
    """A grey photo and a matte with an opaque rectangle (x0, y0, x1, y1)."""
    image = np.full((height, width, 3), 90, np.uint8)
    alpha = np.zeros((height, width), np.float32)
    x0, y0, x1, y1 = box
    image[y0:y1, x0:x1] = (250, 10, 10)
    alpha[y0:y1, x0:x1] = 1.0
    return image, alpha


def params(**changes) -> RemoveBgParams:
    return RemoveBgParams(image_source="image_file", **changes)


def test_bg_color_forms():
    assert parse_bg_color("81d4fa") == (0x81, 0xD4, 0xFA, 255)
    assert parse_bg_color("#fff") == (255, 255, 255, 255)
    assert parse_bg_color("81d4fa77") == (0x81, 0xD4, 0xFA, 0x77)
    assert parse_bg_color("f008") == (255, 0, 0, 0x88)
    assert parse_bg_color("green") == (0, 128, 0, 255)
    with pytest.raises(ApiError, match="bg_color"):
        parse_bg_color("12345")


def test_lengths_scale_position():
    assert parse_crop_margin("10px") == ((10.0, "px"),) * 4
    assert parse_crop_margin("10% 20") == ((10.0, "%"), (20.0, "px"), (10.0, "%"), (20.0, "px"))
    assert parse_crop_margin("1px 2px 3px 4px")[3] == (4.0, "px")
    assert parse_scale("original") is None and parse_scale("75%") == 0.75
    assert parse_position("center") == (0.5, 0.5) and parse_position("20%") == (0.2, 0.2)
    assert parse_position("0% 100%") == (0.0, 1.0) and parse_position("original") == "original"


def _parse(fields, files=None, **options):
    defaults = dict(default_size="preview", max_pixels=25_000_000, models=["u2netp"], default_model="u2netp",
                    post_processors=["none"], allow_url_fetch=False)
    return parse_params(fields, files or {}, **{**defaults, **options})


def test_parse_defaults_and_size_mapping():
    p, image, bg = _parse({}, {"image_file": b"abc"})
    assert (p.size, p.max_megapixels, p.format, p.channels, p.type, p.crop) == ("preview", 0.25, "auto", "rgba", "auto", False)
    assert image == b"abc" and bg is None and p.position == "original"
    assert _parse({"size": "HD"}, {"image_file": b"a"})[0].max_megapixels == 4.0
    assert _parse({"size": "50MP"}, {"image_file": b"a"}, max_pixels=30_000_000)[0].max_megapixels == 30.0  # capped by max_pixels
    assert _parse({"scale": "50%"}, {"image_file": b"a"})[0].position == (0.5, 0.5)  # scale implies centre
    assert _parse({"format": "JPEG", "bg_color": ""}, {"image_file": b"a"})[0].format == "jpg"  # empty = absent


def test_subject_box_and_fit():
    image, alpha = square_scene()
    assert subject_box((alpha * 255).astype(np.uint8)) == (40, 20, 80, 60)
    assert subject_box(np.zeros((5, 5), np.uint8)) is None
    big = np.zeros((1000, 2000, 3), np.uint8)
    small = fit_megapixels(big, 0.25)
    assert small.shape[0] * small.shape[1] <= 250_000 and abs(small.shape[1] / small.shape[0] - 2) < 0.01
    assert fit_megapixels(image, 0.25) is image  # never upscales


def test_crop_margins_are_capped_and_pad_transparently():
    image, alpha = square_scene()
    layer = np.dstack([image, (alpha * 255).astype(np.uint8)])
    cropped = crop_to_subject(layer, ((10.0, "px"), (50.0, "%"), (0.0, "px"), (900.0, "px")))
    # top 10, right 50% of 40 = 20, bottom 0, left 900 capped at 50% of 40 = 20
    assert cropped.shape == (40 + 10, 40 + 20 + 20, 4)
    assert subject_box(cropped[..., 3]) == (20, 10, 60, 50)
    wide = crop_to_subject(layer, ((45.0, "px"),) * 4)  # 45 px capped at 20 (50% of the 40 px subject)
    assert wide.shape == (80, 80, 4)
    edge_image, edge_alpha = square_scene(box=(0, 0, 30, 30))
    padded = crop_to_subject(np.dstack([edge_image, (edge_alpha * 255).astype(np.uint8)]), ((10.0, "px"),) * 4)
    assert padded.shape == (50, 50, 4) and padded[:10, :, 3].max() == 0  # past the photo: transparent


def test_place_subject_scale_and_position():
    image, alpha = square_scene()
    layer = np.dstack([image, (alpha * 255).astype(np.uint8)])
    moved = place_subject(layer, (40, 20, 80, 60), None, (1.0, 0.0))
    assert subject_box(moved[..., 3]) == (120, 0, 160, 40)
    scaled = place_subject(layer, (40, 20, 80, 60), 0.5, (0.5, 0.5))
    assert subject_box(scaled[..., 3]) == (55, 25, 105, 75)  # 50% of the 100 px limiting side
    assert place_subject(layer, (40, 20, 80, 60), None, "original") is layer


def test_composite_and_cover():
    layer = np.zeros((2, 2, 4), np.uint8)
    layer[0, 0] = (255, 0, 0, 255)
    layer[0, 1] = (255, 0, 0, 128)
    out = composite_over(layer, np.broadcast_to(np.array((0, 0, 255, 255), np.uint8), layer.shape))
    assert tuple(out[0, 0]) == (255, 0, 0, 255) and tuple(out[1, 1]) == (0, 0, 255, 255)
    assert out[0, 1, 3] == 255 and 120 <= out[0, 1, 0] <= 136
    background = np.zeros((10, 40, 3), np.uint8)
    background[:, 15:25] = 255
    covered = cover_resize(background, 20, 20)
    assert covered.shape == (20, 20, 3) and covered[:, 10].min() == 255  # centred


def test_render_formats_without_a_model():
    image, alpha = square_scene()
    png = render(params(format="auto"), image, alpha)
    assert png.media_type == "image/png" and (png.width, png.height) == (160, 100)
    assert png.foreground == (20, 40, 40, 40)
    assert png.headers()["X-Foreground-Left"] == "40" and png.headers()["X-Type"] == "other"
    jpg = render(params(format="auto", bg_color=(0, 0, 0, 255)), image, alpha)
    assert jpg.media_type == "image/jpeg"
    archive = zipfile.ZipFile(io.BytesIO(render(params(format="zip"), image, alpha).content))
    alpha_png = np.asarray(Image.open(io.BytesIO(archive.read("alpha.png"))))
    assert alpha_png.shape == (100, 160) and alpha_png[30, 50] == 255 and alpha_png[0, 0] == 0
    matte = render(params(channels="alpha", crop=True), image, alpha)
    assert Image.open(io.BytesIO(matte.content)).size == (40, 40)
    soft = alpha.copy()
    soft[0:10, 0:10] = 0.3
    hard = render(params(channels="alpha", semitransparency=False), image, soft)
    assert set(np.unique(np.asarray(Image.open(io.BytesIO(hard.content))))) == {0, 255}
    no_type = render(params(type_level="none", type="car"), image, alpha)
    assert "X-Type" not in no_type.headers()

"""Only the documented formats are decoded (JPEG, PNG, WebP, BMP, TIFF, GIF): by the server and by the
CLI's reader. Every other Pillow format is refused before its decoder runs; EPS never reaches Ghostscript."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import EpsImagePlugin, Image

from server_helpers import AUTH, assert_error
from server_helpers import client, served_model  # noqa: F401  (pytest fixtures)

from RMBG.inference.image_io import DECODE_FORMATS, ImageReadError, load_image
from RMBG.server.errors import ApiError
from RMBG.server.removebg.decode import decode_photo

#: Formats Pillow decodes (and writes, so the test can make them) that the server must refuse;
#: issue 10 found TGA, PCX, SGI, ICO, PPM, DDS, QOI and IM decoding.
REFUSED = ("TGA", "PCX", "SGI", "ICO", "PPM", "DDS", "QOI", "IM", "EPS", "SPIDER", "ICNS", "JPEG2000", "DIB")
ACCEPTED = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")


def sample(width: int = 48, height: int = 32) -> Image.Image:
    rng = np.random.default_rng(7)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def encoded(fmt: str, image: Image.Image | None = None, **options) -> bytes:
    buffer = io.BytesIO()
    (image or sample()).save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.fixture
def no_ghostscript(monkeypatch):
    """Fails the test if Pillow's EPS plugin is ever asked to open or rasterise anything."""
    calls = []

    def refuse_open(self, *args, **kwargs):
        calls.append("EpsImageFile._open")
        raise AssertionError("the EPS decoder was reached")

    def refuse_ghostscript(*args, **kwargs):
        calls.append("Ghostscript")
        raise AssertionError("Ghostscript was reached")

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", refuse_open)
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", refuse_ghostscript)
    return calls


@pytest.mark.parametrize("fmt", REFUSED)
def test_other_pillow_formats_are_refused_before_decoding(fmt):
    data = encoded(fmt)
    with Image.open(io.BytesIO(data)) as check:  # the sample really is that format for an unrestricted Pillow
        assert check.format == fmt
    with pytest.raises(ApiError) as caught:
        decode_photo(data, "image_file", 25_000_000)
    assert caught.value.status == 400 and caught.value.code == "invalid_file_type"
    assert "JPG, PNG, WebP, BMP, TIFF, GIF" in caught.value.detail
    with pytest.raises(ImageReadError, match="not a recognised image format"):
        load_image(data)  # the CLI's reader uses the same allow-list


@pytest.mark.parametrize("fmt", ACCEPTED)
def test_the_documented_formats_decode(fmt):
    image = sample()
    data = encoded(fmt, image, **({"lossless": True} if fmt == "WEBP" else {}))
    decoded = decode_photo(data, "image_file", 25_000_000)
    assert decoded.shape == (32, 48, 3) and decoded.dtype == np.uint8
    if fmt not in ("JPEG", "GIF"):  # lossless formats give the pixels back exactly
        assert np.array_equal(decoded, np.asarray(image))
    assert np.array_equal(load_image(data), decoded)


def test_camera_mpo_files_open_through_the_jpeg_decoder():
    image = sample()
    data = encoded("MPO", image, save_all=True, append_images=[image])
    assert "MPO" not in DECODE_FORMATS and decode_photo(data, "image_file", 25_000_000).shape == (32, 48, 3)


def test_an_eps_upload_never_reaches_ghostscript(client, no_ghostscript):
    eps = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n%%EndComments\n"
           b"newpath 0 0 moveto 16 0 lineto 16 16 lineto closepath fill\nshowpage\n%%EOF\n")
    for files in ({"image_file": ("x.eps", eps, "application/postscript")},
                  {"image_file": ("photo.jpg", eps, "image/jpeg")}):  # a lying name and type change nothing
        error = assert_error(client.post("/api/removebg", headers=AUTH, files=files), 400, "invalid_file_type")
        assert "JPG, PNG, WebP, BMP, TIFF, GIF" in error["detail"]
    with pytest.raises(ImageReadError):
        load_image(eps)
    assert no_ghostscript == []

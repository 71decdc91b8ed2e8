"""Any real photo becomes HxWx3 uint8 RGB; every bad one raises an error naming it and the problem."""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

from RMBG.inference.image_io import ImageReadError, encode_image, list_images, load_image, load_mask, save_image


def _photo(width=40, height=30) -> np.ndarray:
    y, x = np.mgrid[:height, :width]
    return np.stack([x * 6 % 256, y * 8 % 256, (x + y) * 3 % 256], axis=2).astype(np.uint8)


def test_sources_of_every_kind(tmp_path):
    rgb = _photo()
    path = tmp_path / "a.png"
    Image.fromarray(rgb).save(path)
    for source in (path, str(path), path.read_bytes(), Image.fromarray(rgb), rgb):
        np.testing.assert_array_equal(load_image(source), rgb)


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "CMYK", "I;16", "I", "F", "1"])
def test_modes_convert_to_rgb(tmp_path, mode):
    image = Image.fromarray(_photo()).convert(mode) if mode not in ("I;16", "I", "F") else None
    if mode == "I;16":
        image = Image.fromarray((np.arange(1200).reshape(30, 40) * 50).astype(np.uint16))
    elif mode in ("I", "F"):
        image = Image.fromarray(_photo()[..., 0]).convert(mode)
    path = tmp_path / f"x.{'tif' if mode in ('CMYK', 'I', 'F') else 'png'}"
    image.save(path)
    array = load_image(path)
    assert array.shape == (30, 40, 3) and array.dtype == np.uint8


def test_sixteen_bit_is_scaled_not_clipped():
    array = np.full((4, 4), 65535, np.uint16)
    assert load_image(Image.fromarray(array)).max() == 255
    assert load_image(np.full((4, 4, 3), 32768, np.uint16)).max() in (127, 128)


def test_exif_orientation_applied(tmp_path):
    rgb = _photo(40, 30)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    path = tmp_path / "rotated.jpg"
    Image.fromarray(rgb).save(path, exif=exif.tobytes())
    assert load_image(path).shape == (40, 30, 3)
    assert load_image(path.read_bytes()).shape == (40, 30, 3)
    # A caller's PIL image is rotated in the result but never changed itself (the loader
    # rotates in place only the images it opened).
    caller = Image.open(path)
    caller.load()
    np.testing.assert_array_equal(load_image(caller), load_image(path))
    assert caller.size == (rgb.shape[1], rgb.shape[0]) and caller.getexif()[0x0112] == 6


def test_truncated_corrupt_empty_missing(tmp_path):
    good = tmp_path / "good.jpg"
    Image.fromarray(_photo(200, 200)).save(good, quality=95)
    data = good.read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    (tmp_path / "empty.jpg").write_bytes(b"")
    cases = {
        "truncated.jpg": "truncated",
        "corrupt.png": "corrupt|cannot|not a recognised",
        "empty.jpg": "empty",
        "missing.jpg": "no such file",
    }
    for name, reason in cases.items():
        with pytest.raises(ImageReadError, match=reason) as error:
            load_image(tmp_path / name)
        assert name in str(error.value)


def test_pixel_cap_refuses_bombs():
    with pytest.raises(ImageReadError, match="exceeds the limit"):
        load_image(encode_image(np.zeros((300, 400, 3), np.uint8)), max_pixels=100_000)


def test_wrong_argument_type():
    with pytest.raises(TypeError, match="expected a path, bytes"):
        load_image(3.5)


def test_masks_from_alpha_luminance_and_16_bit(tmp_path):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[:5, :, 3] = 0
    mask = load_mask(Image.fromarray(rgba))
    assert mask[:5].max() == 0 and mask[5:].min() == 1
    assert load_mask(Image.fromarray(np.full((4, 4), 65535, np.uint16))).min() == 1.0
    assert load_mask(np.full((3, 3), 0.25, np.float32)).max() == 0.25


def test_atomic_save_and_jpeg_alpha(tmp_path):
    target = tmp_path / "out" / "cut.png"
    save_image(target, np.zeros((5, 5, 4), np.uint8))
    assert Image.open(target).mode == "RGBA"
    assert not list(target.parent.glob("*.part"))
    with pytest.raises(ValueError, match="cannot store transparency"):
        save_image(tmp_path / "cut.jpg", np.zeros((5, 5, 4), np.uint8))
    assert not (tmp_path / "cut.jpg").exists()


def test_png_cutouts_store_invisible_pixels_as_zero():
    """Fully transparent pixels are written as (0, 0, 0, 0); every visible one (alpha 1 included)
    keeps its colour exactly, and the file is smaller than the same cutout with colours kept."""
    import io

    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (64, 96, 4), dtype=np.uint8)
    rgba[..., 3] = 0
    rgba[16:48, 24:72, 3] = rng.integers(1, 256, (32, 48), dtype=np.uint8)
    original = rgba.copy()
    data = encode_image(rgba, "png")
    np.testing.assert_array_equal(rgba, original)  # the caller's array is not changed
    stored = np.asarray(Image.open(io.BytesIO(data)))
    visible = original[..., 3] > 0
    np.testing.assert_array_equal(stored[visible], original[visible])
    assert not stored[~visible].any()
    kept = io.BytesIO()
    Image.fromarray(original).save(kept, format="PNG", compress_level=1)
    assert len(data) < 0.8 * kept.tell()
    rgb = original[..., :3].copy()
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encode_image(rgb, "png")))), rgb)  # no alpha: as given


@pytest.mark.parametrize("shape", [(7, 5), (7, 5, 1), (7, 5, 3), (40, 30, 4)])
def test_png_is_lossless_and_carries_text_chunks_before_the_image_data(shape):
    """PNG outputs (zlib level 1, RLE strategy) give every channel back exactly and carry their
    text before the image data: Latin-1 as tEXt, anything else (a photo named in Chinese) as iTXt."""
    import io

    rng = np.random.default_rng(1)
    array = rng.integers(0, 256, shape, dtype=np.uint8)
    if len(shape) == 3 and shape[2] == 4:
        array[..., 3] = np.maximum(array[..., 3], 1)  # every pixel visible: colours kept exactly
    data = encode_image(array, "png", text={"RMBG-source": "a.jpg", "other": "照片.jpg"})
    assert data.index(b"tEXt") < data.index(b"IDAT") and data.index(b"iTXt") < data.index(b"IDAT")
    image = Image.open(io.BytesIO(data))
    assert image.text == {"RMBG-source": "a.jpg", "other": "照片.jpg"}
    expected = array[..., 0] if len(shape) == 3 and shape[2] == 1 else array
    np.testing.assert_array_equal(np.asarray(image), expected)


def test_png_text_of_one_output_never_reaches_the_next():
    """Each PNG carries only its own text chunks: the shared encoder settings are not changed by a
    call (an output written after another must not name the other's source photo)."""
    import io

    encode_image(np.zeros((4, 4, 4), np.uint8), "png", text={"RMBG-source": "first.jpg"})
    assert Image.open(io.BytesIO(encode_image(np.zeros((4, 4, 4), np.uint8), "png"))).text == {}
    second = encode_image(np.zeros((4, 4, 4), np.uint8), "png", text={"RMBG-source": "second.jpg"})
    assert Image.open(io.BytesIO(second)).text == {"RMBG-source": "second.jpg"}


def test_list_images_sorted_filtered(tmp_path):
    for name in ("b.JPG", "a.png", ".hidden.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.webp").write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["a.png", "b.JPG"]
    assert [p.name for p in list_images(tmp_path, recursive=True)] == ["a.png", "b.JPG", "c.webp"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_images(tmp_path / "nope")

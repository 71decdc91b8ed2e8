"""Inputs that used to be read wrongly or not at all: a JPEG whose middle is garbage (decoded grey
without a word), float RGB TIFF (called corrupt), GIFs and what a folder scan skips."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from RMBG.inference.image_io import (
    ImageReadError,
    encode_image,
    jpeg_structure_problem,  # re-exported by image_io
    list_images,
    load_image,
    load_mask,
    scan_images,
)


def _jpeg(seed: int = 1, **options) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90, **options)
    return buffer.getvalue()


def _silently_damaged_jpeg() -> bytes:
    """The issue's file: 3,000 random bytes written over the data at a third of the length, for a
    seed where Pillow decodes it without any error (the case that went unnoticed)."""
    clean = _jpeg()
    for seed in range(200):
        data = bytearray(clean)
        start = len(data) // 3
        data[start:start + 3000] = np.random.default_rng(seed).integers(0, 256, 3000, dtype=np.uint8).tobytes()
        try:
            Image.open(io.BytesIO(bytes(data))).load()
        except OSError:
            continue  # Pillow notices this one itself
        return bytes(data)
    pytest.fail("no seed in 0..199 gives a damaged JPEG that Pillow decodes silently")


def test_damaged_jpeg_that_pillow_decodes_silently_is_refused(tmp_path):
    data = _silently_damaged_jpeg()
    path = tmp_path / "damaged.jpg"
    path.write_bytes(data)
    for source in (path, data):
        with pytest.raises(ImageReadError, match="corrupt JPEG data"):
            load_image(source)
    with pytest.raises(ImageReadError, match="corrupt JPEG data"):
        load_mask(path)


@pytest.mark.parametrize("options", [{}, {"progressive": True}, {"optimize": True}, {"subsampling": 0}],
                         ids=["baseline", "progressive", "optimized", "444"])
def test_sound_jpegs_pass_the_structure_check(options):
    assert jpeg_structure_problem(_jpeg(**options)) is None
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).convert("CMYK").save(buffer, "JPEG", exif=exif)
    assert jpeg_structure_problem(buffer.getvalue()) is None
    assert jpeg_structure_problem(_jpeg() + b"camera trailer after EOI") is None


def test_restart_markers_are_checked_in_sequence():
    import cv2

    pixels = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    data = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_RST_INTERVAL, 2])[1].tobytes()
    assert jpeg_structure_problem(data) is None
    first = data.index(b"\xff\xd0")
    swapped = data[:first] + b"\xff\xd3" + data[first + 2:]  # RST3 where RST0 belongs
    assert "instead of RST0" in jpeg_structure_problem(swapped)


def test_structure_problems_are_named():
    data = _jpeg()
    assert "premature end" in jpeg_structure_problem(data[:-2])
    assert "start-of-image" in jpeg_structure_problem(b"\x00" + data)


def test_float_rgb_tiff_is_read(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    values = np.random.default_rng(0).random((20, 30, 3)).astype(np.float32)
    path = tmp_path / "float.tif"
    tifffile.imwrite(path, values)
    with pytest.raises(OSError):
        Image.open(path)  # the case: Pillow has no mode for it
    rgb = load_image(path)
    assert rgb.shape == (20, 30, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, np.clip(values * 255 + 0.5, 0, 255).astype(np.uint8))  # RGB order kept
    np.testing.assert_array_equal(load_image(path.read_bytes()), rgb)
    assert load_mask(path).shape == (20, 30)
    with pytest.raises(ImageReadError, match="exceeds the limit"):
        load_image(path, max_pixels=100)  # the cap is checked before decoding


def test_gif_first_frame_and_folder_scan(tmp_path):
    frames = [Image.fromarray(np.full((10, 12, 3), value, np.uint8)) for value in (40, 200)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    (tmp_path / "notes.txt").write_text("not a photo")
    (tmp_path / ".hidden.png").write_bytes(encode_image(np.zeros((4, 4, 3), np.uint8)))
    first = load_image(tmp_path / "anim.gif")
    assert first.shape == (10, 12, 3) and abs(int(first.mean()) - 40) <= 2
    scan = scan_images(tmp_path)
    assert [p.name for p in scan.images] == ["anim.gif"]
    assert [p.name for p in scan.not_images] == ["notes.txt"]
    assert list_images(tmp_path) == scan.images


@pytest.mark.skipif(os.name != "posix", reason="symbolic links and permission bits")
def test_recursive_scan_reports_symlinked_and_unreadable_folders(tmp_path):
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    (root / "locked").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for folder in (root, root / "sub", root / "locked", elsewhere):
        (folder / "p.png").write_bytes(encode_image(np.zeros((4, 4, 3), np.uint8)))
    (root / "link").symlink_to(elsewhere, target_is_directory=True)
    os.chmod(root / "locked", 0)
    try:
        scan = scan_images(root, recursive=True, exclude=[root / "sub"])
        readable = os.access(root / "locked", os.R_OK)  # root ignores permission bits
    finally:
        os.chmod(root / "locked", 0o755)
    reasons = {path.name: reason for path, reason in scan.skipped_folders}
    assert "symbolic link" in reasons["link"] and "output folder" in reasons["sub"]
    assert [p.relative_to(root).as_posix() for p in scan.images] == (["locked/p.png", "p.png"] if readable else ["p.png"])
    if not readable:
        assert "cannot be read" in reasons["locked"]


def test_png_text_chunks_are_written():
    data = encode_image(np.zeros((4, 4, 4), np.uint8), "png", text={"RMBG-source": "a.jpg"})
    assert Image.open(io.BytesIO(data)).text == {"RMBG-source": "a.jpg"}

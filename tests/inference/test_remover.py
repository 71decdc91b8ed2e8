"""The remover: sizes, formats, caller's types, and folder runs that survive bad files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import RMBG
from RMBG.inference.compose import compose, parse_color
from RMBG.inference.remover import Remover


@pytest.fixture(scope="module")
def remover():
    return Remover(RMBG.create_model("u2netp", image_size=(64, 64)), batch_size=2)


def _photo(width, height, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)


def test_masks_come_back_at_each_photo_size(remover):
    photos = [_photo(50, 30), _photo(81, 97, 1), _photo(64, 64, 2)]
    masks = remover.predict_masks(photos)
    assert [m.shape for m in masks] == [(30, 50), (97, 81), (64, 64)]
    assert all(m.dtype == np.float32 and 0 <= m.min() and m.max() <= 1 for m in masks)


def test_batching_does_not_change_results(remover):
    photos = [_photo(70, 40, s) for s in range(3)]
    together = remover.predict_masks(photos)
    alone = [remover.predict_masks([p])[0] for p in photos]
    for a, b in zip(together, alone):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_remove_returns_the_callers_type(remover):
    photo = _photo(40, 30)
    model = remover.backend.model
    assert RMBG.remove(photo, model=model).shape == (30, 40, 4)
    assert RMBG.remove(Image.fromarray(photo), model=model, format="mask").mode == "L"
    png = RMBG.remove(RMBG.inference.image_io.encode_image(photo), model=model, format="color", bg_color="#00ff00")
    assert Image.open(io.BytesIO(png)).mode == "RGB"


def test_compose_formats():
    image = np.full((2, 3, 3), 200, np.uint8)
    alpha = np.array([[0, 0.5, 1], [1, 1, 0]], np.float32)
    rgba = compose(image, alpha, "rgba")
    assert rgba.shape == (2, 3, 4) and rgba[0, 1, 3] == 128
    assert compose(image, alpha, "mask", threshold=0.5).tolist() == [[0, 255, 255], [255, 255, 0]]
    colour = compose(image, alpha, "color", bg_color="0,0,0")
    assert colour[0, 0].tolist() == [0, 0, 0] and colour[0, 2].tolist() == [200, 200, 200] and colour[0, 1, 0] == 100
    assert compose(image, alpha, "side-by-side").shape == (2, 6, 3)
    with pytest.raises(ValueError, match="format"):
        compose(image, alpha, "jpeg")
    with pytest.raises(ValueError, match="does not match"):
        compose(image, alpha[:1], "rgba")
    assert parse_color("#FF8000") == (255, 128, 0) and parse_color("white") == (255, 255, 255)
    with pytest.raises(ValueError, match="bg_color"):
        parse_color("#GG0000")


def test_folder_run_goes_on_past_bad_files(remover, tmp_path):
    inputs = tmp_path / "images"
    (inputs / "sub").mkdir(parents=True)
    Image.fromarray(_photo(60, 40)).save(inputs / "a.jpg")
    Image.fromarray(_photo(60, 40, 1)).save(inputs / "a.png")  # same stem: outputs must not collide
    Image.fromarray(_photo(33, 21, 2)).convert("CMYK").save(inputs / "cmyk.jpg")
    Image.fromarray(_photo(30, 30, 3)).save(inputs / "sub" / "deep.png")
    data = (inputs / "a.jpg").read_bytes()
    (inputs / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (inputs / "broken.png").write_bytes(b"not an image")
    report = remover.process_folder(inputs, tmp_path / "out", recursive=True, progress=False)
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in report.written)
    assert written == ["a.jpg.png", "a.png.png", "cmyk.png", "sub/deep.png"]
    failed = {p.name: reason for p, reason in report.failed}
    assert set(failed) == {"truncated.jpg", "broken.png"}
    assert "truncated" in failed["truncated.jpg"]
    assert "2 failed" in report.summary() and "broken.png" in report.summary()
    assert Image.open(tmp_path / "out" / "cmyk.png").size == (33, 21)

    again = remover.process_folder(inputs, tmp_path / "out", recursive=True, progress=False)
    assert len(again.skipped) == 4 and not again.written


def test_outputs_never_overwrite_inputs(remover, tmp_path):
    Image.fromarray(_photo(20, 20)).save(tmp_path / "x.png")
    before = (tmp_path / "x.png").read_bytes()
    report = remover.process_folder(tmp_path, tmp_path, overwrite=True, progress=False)
    assert [p.name for p in report.written] == ["x.png.png"] and not report.failed  # planned around the input
    assert (tmp_path / "x.png").read_bytes() == before
    report = remover.process_paths([tmp_path / "x.png"], [tmp_path / "x.png"], overwrite=True, progress=False)
    assert report.failed and "would overwrite an input" in report.failed[0][1]
    assert (tmp_path / "x.png").read_bytes() == before


def test_cli_remove_exit_code_and_summary(tmp_path, capsys):
    from RMBG.cli import main

    model_path = tmp_path / "tiny.keras"
    RMBG.create_model("u2netp", image_size=(32, 32)).save(model_path)
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(_photo(40, 30)).save(images / "ok.png")
    (images / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    code = main(["remove", "-i", str(images), "-m", str(model_path), "--format", "mask"])
    assert code == 1
    assert (tmp_path / "outputs" / "ok.png").exists()
    assert "bad.jpg" in capsys.readouterr().err


def test_unknown_model_and_bad_arguments():
    with pytest.raises(ValueError, match="neither a registered model"):
        Remover("u2netq")
    with pytest.raises(ValueError, match="no pretrained weights"):
        Remover("resnet50_unet")
    with pytest.raises(ValueError, match="batch_size"):
        Remover("u2netp", batch_size=0)
    with pytest.raises(ValueError, match="backend"):
        Remover(RMBG.create_model("u2netp", image_size=(32, 32)), backend="cuda")


def test_samples_fill_only_an_empty_folder(tmp_path):
    from RMBG.inference.samples import fill_sample_photos

    assert len(fill_sample_photos(tmp_path)) == 5
    assert fill_sample_photos(tmp_path) == []


def test_cli_post_trimap_cf_with_options(tmp_path):
    from conftest import require_asset
    from RMBG.cli import main
    from RMBG.inference.samples import sample_photo_paths

    require_asset("weights", "u2netp.onnx")
    images = tmp_path / "images"
    images.mkdir()
    Image.open(sample_photo_paths()[1]).resize((225, 150)).save(images / "cat.png")
    code = main(["remove", "-i", str(images), "--post", "trimap-cf", "--trimap-erosion", "6",
                 "--trimap-dilation", "6", "--no-foreground-estimation"])
    assert code == 0
    alpha = np.asarray(Image.open(tmp_path / "outputs" / "cat.png"))[..., 3]
    assert alpha.shape == (150, 225)
    assert 0 < ((alpha > 0) & (alpha < 255)).mean() < 0.5  # a soft band at the edges, not a hard mask


def test_matting_models_are_not_background_removers():
    with pytest.raises(ValueError, match="matting model, not a segmentation model: it does not remove backgrounds"):
        Remover("matting_net")
    assert "matting_net" not in RMBG.list_models(task="segmentation")
    with pytest.raises(ValueError, match="task"):
        RMBG.list_models(task="detection")

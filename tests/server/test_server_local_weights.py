"""The server with local weight files: ``weights`` (a model's checkpoint instead of its official
weights, as ``remove --weights``) and ``post_weights`` (FBA's checkpoint for ``post=fba``).

The served model is real: the official U^2-NetP ONNX with its last convolution negated
(``sigmoid(-x) = 1 - sigmoid(x)``), so a server that ran the official weights instead of the
local file would answer the opposite matte.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from RMBG.server.settings import ServerSettings, load_settings, settings_from_mapping
from server_helpers import API_KEY, AUTH, horse_path, make_client, photo, served_model, small_photo  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def inverted_u2netp(tmp_path_factory, served_model):  # noqa: F811
    """The official U^2-NetP ONNX with ``outconv`` (the fusing 1x1 convolution) negated: inverted masks."""
    import onnx
    from onnx import numpy_helper

    from RMBG.paths import assets_dir

    model = onnx.load(str(assets_dir() / "weights" / "u2netp.onnx"))
    negated = 0
    for initializer in model.graph.initializer:
        if initializer.name in ("outconv.weight", "outconv.bias"):
            initializer.CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(initializer), initializer.name))
            negated += 1
    assert negated == 2, "the official graph no longer names outconv.weight and outconv.bias"
    path = tmp_path_factory.mktemp("weights") / "inverted u2netp.onnx"
    onnx.save(model, str(path))
    return path


def _alpha(client, image: bytes, **fields) -> np.ndarray:
    response = client.post("/api/removebg", headers=AUTH, files={"image_file": ("photo.png", image)},
                           data={"size": "preview", "format": "png", **fields})
    assert response.status_code == 200, response.text
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA"))[..., 3].astype(np.float64)


def test_weights_settings_from_a_config_mapping_and_the_command_line(tmp_path):
    config = tmp_path / "server.yaml"
    config.write_text("models: [u2netp, tracer_b7]\nweights: {tracer_b7: /models/mine.pth}\npost_weights: /models/fba.pth\n")
    settings = load_settings(config, environ={})
    assert settings.weights == (("tracer_b7", "/models/mine.pth"),) and settings.post_weights == "/models/fba.pth"
    assert settings.weights_for("tracer_b7") == "/models/mine.pth" and settings.weights_for("u2netp") is None
    cli = load_settings(None, environ={}, overrides={"models": "u2netp,tracer_b7", "weights": ["tracer_b7=/m/a b.pth"]})
    assert cli.weights == (("tracer_b7", "/m/a b.pth"),)


@pytest.mark.parametrize(
    "data, words",
    [
        ({"weights": ["tracer_b7"]}, "weights must map model names to weight files"),
        ({"weights": "tracer_b7=/x.pth"}, "weights must map model names to weight files"),
        ({"weights": {"tracer_b7": 3}}, "weights must map model names to weight files"),
        ({"weights": {"u2net": "/x.pth"}}, r"weights: 'u2net' is not one of models \['u2netp'\]"),
        ({"models": ["u2netp"], "weights": ["u2netp=/a.pth", "u2netp=/b.pth"]}, "one weight file per model"),
        ({"post_weights": ""}, "post_weights: expected the path of an FBA checkpoint"),
    ],
)
def test_bad_weights_settings_name_the_setting(data, words):
    with pytest.raises(ValueError, match=words):
        settings_from_mapping(data)


def test_create_app_refuses_unusable_weight_files_before_loading_anything(tmp_path):
    pytest.importorskip("fastapi")
    from RMBG.server.app import create_app

    present = tmp_path / "present.pth"
    present.write_bytes(b"not read before the model loads")
    (tmp_path / "fba.txt").write_text("x")
    cases = [
        (dict(models=("u2netp",), weights=(("u2netp", str(tmp_path / "absent.pth")),)),
         "weights: u2netp: no such file '.*absent.pth'"),
        (dict(models=("resnet50_unet",), weights=(("resnet50_unet", str(present)),)),
         "weights: resnet50_unet: .*has no weight importer"),
        (dict(models=("resnet50_unet",)), r"models: \['resnet50_unet'\] are not registered models with pretrained weights"),
        (dict(post_weights=str(tmp_path / "fba.pth")), "post_weights: no such file '.*fba.pth'"),
        (dict(post_weights=str(tmp_path / "fba.txt")), r"post_weights: '.*fba.txt' is a '\.txt' file; FBA takes \.pth"),
        (dict(post_weights=str(present), post_processors=("none", "trimap-cf")),
         r"post_weights: set for post-processor 'fba', which post_processors \['none', 'trimap-cf'\] does not offer"),
    ]
    for changes, words in cases:
        with pytest.raises(ValueError, match=words):
            create_app(ServerSettings(api_keys=(API_KEY,), preload=True, **changes))


def test_serve_refuses_a_missing_weight_file_in_one_line(tmp_path, capsys):
    pytest.importorskip("fastapi")
    from RMBG.cli import main

    code = main(["serve", "--api-key", API_KEY, "--weights", f"u2netp={tmp_path / 'gone.pth'}"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("serve: weights: u2netp:") and "gone.pth" in err and "\n" not in err
    assert main(["serve", "--api-key", API_KEY, "--weights", "u2netp"]) == 2
    assert "weights must map model names to weight files" in capsys.readouterr().err


def test_the_server_runs_the_local_weight_file_not_the_official_weights(inverted_u2netp, small_photo):  # noqa: F811
    from fastapi.testclient import TestClient

    from RMBG.server.app import create_app

    with TestClient(create_app(ServerSettings(api_keys=(API_KEY,)))) as official_client:
        official = _alpha(official_client, small_photo)
    settings = ServerSettings(api_keys=(API_KEY,), weights=(("u2netp", str(inverted_u2netp)),))
    with TestClient(create_app(settings)) as client:
        local = _alpha(client, small_photo)
        health = client.get("/healthz").json()
    assert health["models"]["u2netp"]["loaded"] is True
    assert official.std() > 60, "the official matte should separate the horse from its background"
    # One matte is the other's complement up to the two artefacts' fp32 kernels and uint8 rounding.
    assert np.abs(local - (255 - official)).mean() < 2.0
    assert np.abs(local - official).mean() > 60


def test_post_weights_reach_the_fba_post_processor(make_client, small_photo, tmp_path, monkeypatch):  # noqa: F811
    """The server hands ``post_weights`` to ``post=fba`` as its ``fba_model`` (FBA's own handling of a
    checkpoint path is tested with a CarveKit-written one in tests/matting); other post-processors get no options."""
    from RMBG.inference import postprocess

    checkpoint = tmp_path / "my fba.pth"
    checkpoint.write_bytes(b"an FBA checkpoint")
    seen = []

    def recording_fba(image, mask, **options):
        seen.append(options)
        return mask, None

    monkeypatch.setitem(postprocess.POSTPROCESSOR_TARGETS, "fba", recording_fba)
    client = make_client(post_weights=str(checkpoint))
    _alpha(client, small_photo, post="fba")
    _alpha(client, small_photo, post="none")
    assert seen == [{"fba_model": str(checkpoint)}]

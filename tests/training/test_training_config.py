"""TrainConfig: YAML round trip, --set overrides, validation, and the CLI's --print-config."""

from __future__ import annotations

import argparse
import sys

import pytest
import yaml

from RMBG.data.augment import AugmentConfig
from RMBG.training import cli
from RMBG.training.config import TrainConfig


def test_yaml_round_trip_keeps_every_field(tmp_path):
    config = TrainConfig(
        model="u2netp", model_overrides={"encoder_mid_channels": (4,) * 6, "output_normalization": None},
        pretrained=True, freeze_encoder=True, image_size=(64, 96), batch_size=3, learning_rate=1e-4,
        epochs=7, steps_per_epoch=2, data="x/index.csv", train_split="train,val", loss="hybrid",
        precision="mixed_bfloat16", augment=AugmentConfig(hflip=False, scale=(1.0, 1.5)), fbeta_threshold="adaptive",
        run_dir="runs/a", early_stopping_patience=0, tensorboard="off", seed=11, side_weight=0.0,
    )
    path = tmp_path / "run.yaml"
    text = config.to_yaml(path)
    assert path.read_text() == text
    loaded = TrainConfig.from_yaml(path)
    assert loaded == config
    assert loaded.image_size == (64, 96) and loaded.augment.scale == (1.0, 1.5)
    assert loaded.model_overrides["encoder_mid_channels"] == (4,) * 6
    assert yaml.safe_load(text)["augment"]["hflip"] is False
    assert TrainConfig.from_yaml_text(text) == config


def test_defaults_are_the_u2net_recipe():
    config = TrainConfig()
    assert (config.learning_rate, config.beta_1, config.beta_2, config.epsilon) == (1e-3, 0.9, 0.999, 1e-8)
    assert config.loss == "deep_bce" and config.precision == "float32" and config.image_size is None


def test_overrides_parse_yaml_values_and_reject_unknown_keys():
    config = TrainConfig().with_overrides([
        "epochs=3", "image_size=[64, 64]", "augment.hflip=false", "learning_rate=2e-4",
        "model_overrides={encoder_mid_channels: [4, 4, 4, 4, 4, 4]}", "model_overrides.name=small",
    ])
    assert config.epochs == 3 and config.image_size == (64, 64) and config.augment.hflip is False
    assert config.learning_rate == 2e-4
    assert config.model_overrides == {"encoder_mid_channels": (4,) * 6, "name": "small"}
    with pytest.raises(ValueError, match="unknown setting 'epoch'"):
        TrainConfig().with_overrides(["epoch=3"])
    with pytest.raises(ValueError, match="key=value"):
        TrainConfig().with_overrides(["epochs"])
    with pytest.raises(ValueError, match="augment.hflip"):
        TrainConfig().with_overrides(["augmentation.hflip=false"])


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"loss": "dice"}, r"loss: expected one of \('deep_bce', 'hybrid'\), got 'dice'"),
        ({"precision": "float16"}, "precision"),
        ({"batch_size": 0}, "batch_size: expected a positive integer, got 0"),
        ({"image_size": [64]}, "image_size"),
        ({"fbeta_threshold": 1.5}, "fbeta_threshold"),
        ({"reduce_lr_factor": 2}, "reduce_lr_factor"),
        ({"side_weight": -0.5}, r"side_weight: expected a number >= 0 .*got -0.5"),
        ({"side_weight": "heavy"}, "side_weight: expected a number, got 'heavy'"),
        ({"early_stopping_patience": -1}, "early_stopping_patience"),
        ({"augment": {"hue": 0.9}}, "augment.hue"),
        ({"tensorboard": "yes"}, "tensorboard"),
        ({"batchnorm": "train"}, "batchnorm"),
        ({"run_eagerly": "yes"}, "run_eagerly: expected true or false, got 'yes'"),
        ({"run_eagerly": True, "jit_compile": True}, "run_eagerly: true and jit_compile: true exclude each other"),
    ],
)
def test_bad_values_are_named(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig().replace(**changes)


def test_unknown_yaml_keys_are_errors(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("epochs: 3\nlearning_rat: 0.1\n")
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['learning_rat'\]"):
        TrainConfig.from_yaml(path)
    path.write_text("augment: {flip: true}\n")
    with pytest.raises(ValueError, match=r"augment: unknown setting\(s\) \['flip'\]"):
        TrainConfig.from_yaml(path)
    with pytest.raises(FileNotFoundError, match="--print-config"):
        TrainConfig.from_yaml(tmp_path / "absent.yaml")


def _parse(argv):
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_cli_prints_a_loadable_config_without_tensorflow(tmp_path, capsys):
    args = _parse(["train", "--print-config", "--set", "epochs=2", "--set", "image_size=[32,32]"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    config = TrainConfig.from_yaml_text(printed)
    assert config.epochs == 2 and config.image_size == (32, 32)
    assert config == TrainConfig().replace(epochs=2, image_size=[32, 32])
    (tmp_path / "run.yaml").write_text(printed)
    args = _parse(["train", "--config", str(tmp_path / "run.yaml"), "--print-config", "--set", "seed=3"])
    args.func(args)
    assert TrainConfig.from_yaml_text(capsys.readouterr().out).seed == 3


def test_cli_module_does_not_import_tensorflow():
    import subprocess

    code = "import sys, RMBG.training.cli, RMBG.training.config; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_train_command_refuses_a_missing_index_before_any_work(tmp_path, capsys):
    from RMBG.cli import main

    run_dir = tmp_path / "run"
    code = main(["train", "--set", f"data={tmp_path / 'absent.csv'}", "--set", f"run_dir={run_dir}"])
    assert code == 2 and "is not a file" in capsys.readouterr().err
    assert not run_dir.exists()


def test_weights_is_a_path_or_null_and_not_with_pretrained(tmp_path):
    assert TrainConfig().weights is None and not TrainConfig().starts_from_weights
    config = TrainConfig().with_overrides(["model=tracer_b7", f"weights={tmp_path / 'mine.pth'}"])
    assert config.weights == str(tmp_path / "mine.pth") and config.starts_from_weights
    assert TrainConfig.from_yaml_text(config.to_yaml()) == config
    with pytest.raises(ValueError, match="weights: '.*mine.pth' and pretrained: true both give the starting weights"):
        config.replace(pretrained=True)
    with pytest.raises(ValueError, match="weights: expected the path of a weight file or null, got 3"):
        TrainConfig(weights=3)


def test_check_weights_names_the_missing_file_and_a_family_without_importer(tmp_path):
    missing = tmp_path / "missing.pth"
    with pytest.raises(FileNotFoundError, match=f"weights: '{missing}' is not a file"):
        TrainConfig(model="tracer_b7", weights=str(missing)).check_weights()
    present = tmp_path / "present.pth"
    present.write_bytes(b"x")
    with pytest.raises(ValueError, match="'resnet50_unet' .* has no weight importer"):
        TrainConfig(model="resnet50_unet", weights=str(present)).check_weights()
    TrainConfig(model="tracer_b7", weights=str(present)).check_weights()  # existence and importer only; read when built


def test_print_config_shows_weights(capsys):
    args = _parse(["train", "--print-config"])
    assert args.func(args) == 0
    assert "\nweights: null\n" in capsys.readouterr().out


def test_train_command_refuses_missing_weights_before_any_work(tmp_path, capsys):
    import subprocess

    run_dir, missing = tmp_path / "run", tmp_path / "my_tracer.pth"
    code = ("import sys; from RMBG.cli import main; "
            f"rc = main(['train', '--set', 'model=tracer_b7', '--set', 'weights={missing}', '--set', 'run_dir={run_dir}']); "
            "assert 'tensorflow' not in sys.modules; sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"train: weights: '{missing}' is not a file" in done.stderr and "Traceback" not in done.stderr
    assert not run_dir.exists()

"""Shared helpers of the training tests (imported by them; also a script for worker processes).

``python tests/training/training_helpers.py train --config run.yaml`` registers the tiny test
model and runs the ``train`` command of :mod:`RMBG.training.cli` (the CLI code path), so
subprocess tests (SIGKILL resume, two workers) pay for a tiny graph, not U^2-Net's.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

#: A reduced-width U^2-NetP (same depth and structure as the preset, 4/8 channels).
TINY_U2NET = {
    "encoder_mid_channels": (4,) * 6,
    "encoder_out_channels": (8,) * 6,
    "decoder_mid_channels": (4,) * 5,
    "decoder_out_channels": (8,) * 5,
    "output_normalization": None,
}

#: Name under which :func:`register_tiny_model` registers a three-convolution segmenter.
TINY_MODEL = "tiny_test_net"

REPO_ROOT = Path(__file__).resolve().parents[2]


def build_tiny(image_size=(32, 32), width: int = 6, maps: int = 2, name: str = TINY_MODEL):
    """A :class:`~RMBG.models.segmenter.Segmenter` around a three-convolution functional backbone
    with ``maps`` output maps (so deep-supervision code paths see K > 1)."""
    import keras

    from RMBG.models.segmenter import Segmenter
    from RMBG.preprocessing import ImageConverter

    inputs = keras.Input((None, None, 3), name="images")
    x = keras.layers.Conv2D(width, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU(name="relu1")(x)
    x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name="conv2")(x)
    logits = keras.layers.Conv2D(maps, 1, name="maps", dtype="float32")(x)
    backbone = keras.Model(inputs, logits, name=f"{name}_backbone")
    converter = ImageConverter(image_size, "unit", name=f"{name}_converter")
    model = Segmenter(backbone, converter, name=name)
    model.build((None, *image_size, 3))
    return model


def register_tiny_model() -> None:
    """Register :data:`TINY_MODEL` (idempotent)."""
    from RMBG.registry import Preset, list_models, register_presets

    if TINY_MODEL in list_models():
        return
    register_presets([Preset(
        name=TINY_MODEL, family="test", task="segmentation", description="three convolutions, for trainer tests",
        builder=build_tiny, config={"image_size": (32, 32)},
    )])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a worker subprocess: quiet TensorFlow, the repository importable."""
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("TF_CONFIG", None)
    env.update(extra or {})
    return env


def train_command(config_path: Path, *sets: str) -> list[str]:
    """argv running the ``train`` command in a fresh interpreter (tiny model registered)."""
    command = [sys.executable, str(Path(__file__).resolve()), "train", "--config", str(config_path), "--verbose", "2"]
    for assignment in sets:
        command += ["--set", assignment]
    return command


def start(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    handle = open(log, "w")
    return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)


def main(argv: list[str]) -> int:
    import argparse

    from RMBG.training import cli

    register_tiny_model()
    parser = argparse.ArgumentParser(prog="training_helpers")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def kill_after_backed_up_epochs(command: list[str], log: Path, run_dir: Path, epochs: int, *, timeout: float) -> int:
    """Run ``command`` (a training process), SIGKILL it once ``run_dir`` has backed up ``epochs``
    epochs, and return its exit status (``-SIGKILL``); fails with the log if it ends or times out first."""
    import signal
    import time

    from RMBG.training.run_dir import backed_up_epoch

    process = start(command, log, worker_env())
    deadline = time.monotonic() + timeout
    try:
        while backed_up_epoch(run_dir / "backup") < epochs:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no epoch was backed up in time"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
    return process.returncode

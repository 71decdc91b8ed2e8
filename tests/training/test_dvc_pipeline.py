"""The DVC pipeline of the repository (``dvc.yaml`` + ``params.yaml``) in smoke mode on the real
horse set: ``dvc repro`` runs prepare -> train -> evaluate -> export through our commands, a
changed training setting reruns train, evaluate and export only, and the data go to a local
remote.

The pipeline runs in a temporary DVC project (``dvc init --no-scm``) holding the repository's
``dvc.yaml``, its ``params.yaml`` with smoke settings (12 horses at 64 px, a 4-channel U^2-NetP at
32x32, one step), and links to the code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import require_asset
from training_helpers import REPO_ROOT, TINY_U2NET

pytestmark = pytest.mark.slow

SMOKE = {
    "data": {"limit": 12, "size": 64},
    "train": {"pretrained": False, "model_overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in TINY_U2NET.items()},
              "image_size": [32, 32], "batch_size": 4, "epochs": 1, "steps_per_epoch": 1, "validation_steps": 1,
              "tensorboard": "off", "early_stopping_patience": 0, "reduce_lr_patience": 0,
              # One step: tracing U^2-Net's train step would cost most of the stage; traced training
              # is covered by tests/training/test_training_run.py and notebooks/02_training.ipynb.
              "run_eagerly": True},
    "tracking": {"track": "none"},
}


def _dvc(project: Path, *arguments: str) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "RMBG_SMOKE": "1",
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    result = subprocess.run([str(Path(sys.executable).parent / "dvc"), *arguments], cwd=project, env=env,
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, f"dvc {' '.join(arguments)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout + result.stderr


def _write_params(project: Path, train_changes: dict | None = None) -> dict:
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["data"]["source"] = str(require_asset("horse"))
    for section, values in SMOKE.items():
        params[section].update(values)
    params["train"].update(train_changes or {})
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return params


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    require_asset("horse")
    if shutil.which("dvc", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("dvc is not installed in this environment (pip install dvc==3.67.1)")
    project = tmp_path_factory.mktemp("dvc_project")
    for name in ("RMBG", "Preprocess"):
        (project / name).symlink_to(REPO_ROOT / name, target_is_directory=True)
    shutil.copyfile(REPO_ROOT / "dvc.yaml", project / "dvc.yaml")
    _write_params(project)
    _dvc(project, "init", "--no-scm", "-q")
    first = _dvc(project, "repro")
    return project, first


def test_repro_runs_every_stage_through_our_commands(project):
    project, output = project
    for stage in ("prepare", "train", "evaluate", "export"):
        assert f"Running stage '{stage}'" in output, output[-3000:]
    params = yaml.safe_load((project / "params.yaml").read_text())
    index = project / params["train"]["data"]
    assert len(index.read_text().strip().splitlines()) == 1 + 12, "12 horses indexed"
    run = project / params["train"]["run_dir"]
    assert {"best.keras", "config.yaml", "metrics.json", "log.csv"} <= {p.name for p in run.iterdir()}
    assert (project / params["evaluate"]["out"] / "summary.json").is_file()
    assert (project / params["export"]["output"]).stat().st_size > 10_000
    assert "summary.json" in _dvc(project, "metrics", "show")
    assert "up to date" in _dvc(project, "status").lower()


def test_changed_training_setting_reruns_train_evaluate_export_only(project):
    project, _ = project
    _write_params(project, {"learning_rate": 3e-3})
    output = _dvc(project, "repro")
    assert "Stage 'prepare' didn't change, skipping" in output, output[-3000:]
    for stage in ("train", "evaluate", "export"):
        assert f"Running stage '{stage}'" in output, (stage, output[-3000:])
    assert "Running stage 'prepare'" not in output


def test_data_and_models_go_to_a_local_remote(project, tmp_path):
    project, _ = project
    remote = tmp_path / "remote"
    _dvc(project, "remote", "add", "-d", "local", str(remote))
    _dvc(project, "push")
    pushed = [p for p in remote.rglob("*") if p.is_file()]
    assert len(pushed) >= 2 * 12, "the prepared photos and masks (and the run's files) are in the remote"
    assert "are in sync" in _dvc(project, "status", "--cloud")

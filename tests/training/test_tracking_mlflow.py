"""MLflow tracking of training runs in a local SQLite store: params, per-epoch metrics, provenance
tags, artefacts and the logged model; one MLflow run across a SIGKILL and resume; an unusable store
is a warning and the training still completes; the one-shot commands' decorator.

One tracked training run (module fixture) of the three-convolution test model on 16 synthetic
32x32 images; the SIGKILL test trains the same model in a subprocess."""

from __future__ import annotations

import argparse
import json
import os
import warnings

import keras
import numpy as np
import pytest
from training_helpers import TINY_MODEL, kill_after_backed_up_epochs, register_tiny_model, train_command

from RMBG.data.synthetic import write_synthetic_dataset
from RMBG.tracking.commands import tracked_command
from RMBG.tracking.options import TrackingOptions, TrackingWarning, add_tracking_arguments, default_store
from RMBG.training.config import TrainConfig
from RMBG.checksums import file_sha256
from RMBG.training.run_dir import backed_up_epoch, read_log
from RMBG.training.trainer import train

mlflow = pytest.importorskip("mlflow")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("shapes") / "ds", 16, (32, 32), seed=2, split=(0.5, 0.5, 0.0))


def _config(dataset, run_dir, **changes) -> TrainConfig:
    settings = dict(model=TINY_MODEL, batch_size=4, epochs=2, steps_per_epoch=2, data=str(dataset),
                    run_dir=str(run_dir), tensorboard="off")
    return TrainConfig(**{**settings, **changes})


@pytest.fixture(scope="module")
def tracked_run(dataset, tmp_path_factory):
    register_tiny_model()
    config = _config(dataset, tmp_path_factory.mktemp("runs") / "tiny")
    result = train(config, verbose=0, tracking=TrackingOptions("mlflow", experiment="tests"))
    uri = default_store(config.run_dir)[0]
    return config, result, mlflow.tracking.MlflowClient(uri), uri


def test_run_logs_config_metrics_per_epoch_and_provenance(tracked_run, dataset):
    config, result, client, uri = tracked_run
    assert uri.endswith("/mlflow.db") and os.path.isfile(uri[len("sqlite:///"):]), "default store beside the run"
    run = client.get_run(result.tracking_run_id)
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["model"] == TINY_MODEL and params["epochs"] == "2" and params["augment.hflip"] == "true"
    assert set(params) >= {f for f in config.to_dict() if f != "augment"}
    for key in ("loss", "val_loss", "mae", "val_mae", "fbeta", "val_fbeta", "iou", "val_iou", "learning_rate"):
        history = client.get_metric_history(run.info.run_id, key)
        assert sorted(m.step for m in history) == [0, 1], key
    val_loss = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "val_loss")}
    assert [val_loss[0], val_loss[1]] == pytest.approx(result.history["val_loss"], rel=1e-6)
    assert run.data.metrics["final_val_loss"] == pytest.approx(result.metrics["loss"], rel=1e-6)
    tags = run.data.tags
    info = json.loads((result.run_dir / "run_info.json").read_text())
    assert tags["dataset.sha256"] == file_sha256(dataset) == info["dataset"]["sha256"]
    if info["git"] != "unknown":
        assert tags["mlflow.source.git.commit"] == info["git"]["commit"] and tags["git.dirty"] in ("True", "False")
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "run")}
    assert logged == {f"run/{n}" for n in ("best.keras", "metrics.json", "config.yaml", "run_info.json", "log.csv")}


def test_logged_model_predicts_the_masks_of_the_checkpoint(tracked_run):
    _, result, _, uri = tracked_run
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        model = mlflow.pyfunc.load_model(f"runs:/{result.tracking_run_id}/model")
    finally:
        mlflow.set_tracking_uri(previous)
    images = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype(np.float32)
    masks = model.predict(images)
    checkpoint = keras.saving.load_model(result.paths["best"])
    assert masks.shape == (3, 32, 32, 1) and masks.min() >= 0 and masks.max() <= 1
    # the same file and kernels in the same process: equal up to the last bit
    np.testing.assert_array_equal(masks, checkpoint.predict(images, verbose=0))


def test_unusable_store_warns_at_start_and_training_completes(dataset, tmp_path):
    register_tiny_model()
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the store's folder should be")
    config = _config(dataset, tmp_path / "run", epochs=1)
    with pytest.warns(TrackingWarning, match="cannot use the MLflow store"):
        result = train(config, verbose=0, tracking=TrackingOptions("mlflow", tracking_uri=f"sqlite:///{blocker}/x/mlflow.db"))
    assert result.tracking_run_id is None and result.epochs_completed == 1 and result.paths["best"].is_file()


def test_resume_after_sigkill_continues_the_same_mlflow_run(dataset, tmp_path):
    run_dir = tmp_path / "runs" / "killed"
    config = _config(dataset, run_dir, epochs=300, early_stopping_patience=0, reduce_lr_patience=0)
    config_path = tmp_path / "run.yaml"
    config.to_yaml(config_path)
    command = train_command(config_path) + ["--track", "mlflow", "--experiment", "resume"]
    kill_after_backed_up_epochs(command, tmp_path / "first.log", run_dir, 3, timeout=240)
    first_id = json.loads((run_dir / "tracking.json").read_text())["run_id"]
    completed = backed_up_epoch(run_dir / "backup")

    register_tiny_model()
    result = train(TrainConfig.from_yaml(run_dir / "config.yaml").replace(epochs=completed + 2), verbose=0,
                   tracking=TrackingOptions("mlflow", experiment="resume"))
    client = mlflow.tracking.MlflowClient(default_store(run_dir)[0])
    experiment = client.get_experiment_by_name("resume")
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.run_id for r in runs] == [first_id] == [result.tracking_run_id], "one run, continued"
    assert runs[0].info.status == "FINISHED" and runs[0].data.tags["changed_param.epochs"] == str(completed + 2)
    for key in ("loss", "val_loss"):
        steps = sorted(m.step for m in client.get_metric_history(first_id, key))
        assert steps == list(range(completed + 2)), f"{key}: every epoch once, none repeated ({steps})"
    assert read_log(run_dir / "log.csv")["epoch"] == list(range(completed + 2))


def test_tracked_command_logs_params_summary_and_files(tmp_path):
    parser = argparse.ArgumentParser()
    parser.add_argument("--out")
    parser.add_argument("--split", default="test")
    add_tracking_arguments(parser)
    out = tmp_path / "eval"

    @tracked_command("evaluate")
    def fake_evaluate(args):
        out.mkdir()
        (out / "summary.json").write_text(json.dumps({"metrics": {"mae": 0.25, "sm": 0.5}, "images": 3, "name": "x"}))
        (out / "per_image.csv").write_text("name,mae\na,0.25\n")
        return 0

    args = parser.parse_args(["--out", str(out), "--track", "mlflow"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrackingWarning)
        assert fake_evaluate(args) == 0
    client = mlflow.tracking.MlflowClient(default_store(out)[0])
    (run,) = client.search_runs([client.get_experiment_by_name("rmbg-evaluate").experiment_id])
    assert run.info.status == "FINISHED" and run.data.params["split"] == "test"
    assert run.data.metrics == {"metrics.mae": 0.25, "metrics.sm": 0.5, "images": 3.0}
    assert {a.path for a in client.list_artifacts(run.info.run_id, "evaluate")} == {
        "evaluate/summary.json", "evaluate/per_image.csv"}

"""End-to-end runs of ``train``: learning on synthetic data, the run folder, ``.keras`` round trip,
resuming after SIGKILL, and two CPU workers with MultiWorkerMirroredStrategy on loopback.

All marked ``slow`` (graph tracing of U^2-Net, subprocesses): ``pytest -m "not slow"`` skips them."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from training_helpers import (
    TINY_MODEL,
    TINY_U2NET,
    free_port,
    kill_after_backed_up_epochs,
    register_tiny_model,
    start,
    train_command,
    worker_env,
)

from RMBG.data.synthetic import write_synthetic_dataset
from RMBG.training.config import TrainConfig
from RMBG.training.losses import DeepSupervisionBCE
from RMBG.training.trainer import backed_up_epoch, read_log, train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shapes64(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("shapes64") / "ds", 40, (64, 64), seed=1, split=(0.8, 0.2, 0.0))


@pytest.fixture(scope="module")
def shapes32(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("shapes32") / "ds", 16, (32, 32), seed=2, split=(0.5, 0.5, 0.0))


#: Six epochs, not four: runs on different CPUs (fp32 kernels round differently, and training
#: amplifies it) follow the same curve shifted by about an epoch. val_loss / val_loss[0] after
#: 4 / 5 / 6 epochs, AMD EPYC Zen 4: 0.660-0.686 / 0.503-0.539 / 0.401-0.453 (TF_ENABLE_ONEDNN_OPTS
#: 0 and 1, 1 and 2 intra-op threads); Intel Xeon AMX after 4: 0.837 (issue 10), AMD's curve one epoch
#: late. After 6 the bound 0.8 holds with a margin of two epochs of such lag (AMD after 4: <= 0.69).
EPOCHS = 6


@pytest.fixture(scope="module")
def synthetic_run(shapes64, tmp_path_factory):
    config = TrainConfig(
        model="u2netp", model_overrides=TINY_U2NET, image_size=(64, 64), batch_size=8, learning_rate=3e-3,
        epochs=EPOCHS, steps_per_epoch=4, data=str(shapes64), run_dir=str(tmp_path_factory.mktemp("runs") / "tiny_u2netp"),
        seed=0,
    )
    return config, train(config, verbose=0)


def test_validation_loss_falls_clearly(synthetic_run):
    _, result = synthetic_run
    val = result.history["val_loss"]
    assert result.history["epoch"] == list(range(EPOCHS))
    assert val[-1] < 0.8 * val[0], val  # margins across CPUs: see EPOCHS
    assert result.history["val_iou"][-1] > result.history["val_iou"][0]
    assert result.metrics["loss"] == pytest.approx(min(val), rel=1e-4)


def test_run_folder_holds_everything(synthetic_run):
    config, result = synthetic_run
    run = Path(config.run_dir)
    assert result.run_dir == run
    for name in ("config.yaml", "run_info.json", "log.csv", "best.keras", "last.keras", "metrics.json"):
        assert (run / name).is_file(), name
    assert TrainConfig.from_yaml(run / "config.yaml") == config
    metrics = json.loads((run / "metrics.json").read_text())
    val = result.history["val_loss"]
    assert metrics["best_epoch"] == int(np.argmin(val)) + 1 and metrics["epochs_completed"] == EPOCHS
    assert set(metrics["val"]) == {"loss", "mae", "fbeta", "iou"} and metrics["image_size"] == [64, 64]
    info = json.loads((run / "run_info.json").read_text())
    assert info["git"] == "unknown" or len(info["git"]["commit"]) == 40 and isinstance(info["git"]["dirty"], bool)
    assert info["environment"]["keras"] == keras.__version__ and info["environment"]["tf.__version__"] == tf.__version__
    for split in ("train", "validation"):
        tags = set()
        for event_file in (run / "tensorboard" / split).iterdir():
            for event in tf.compat.v1.train.summary_iterator(str(event_file)):
                tags |= {value.tag for value in event.summary.value}
        assert {"epoch_loss", "epoch_iou", "epoch_mae", "epoch_fbeta"} <= tags, (split, tags)


def test_checkpoints_load_without_custom_objects_and_predict_the_same(synthetic_run, shapes64):
    config, result = synthetic_run
    from RMBG.data.pipeline import make_dataset

    images, _ = next(iter(make_dataset(shapes64, (64, 64), splits="val", batch_size=4)))
    best = keras.saving.load_model(Path(config.run_dir) / "best.keras")
    assert isinstance(best.loss, DeepSupervisionBCE), "the compiled loss comes back too"
    for training in (False, True):  # inference output, and every stacked map in training mode
        np.testing.assert_allclose(best(images, training=training), result.model(images, training=training), atol=1e-6)
    assert [v.path for v in best.weights] == [v.path for v in result.model.weights]
    import zipfile

    with zipfile.ZipFile(Path(config.run_dir) / "last.keras") as archive:  # complete, not truncated
        assert archive.testzip() is None and {"config.json", "model.weights.h5"} <= set(archive.namelist())


def test_run_resumes_at_the_next_epoch_after_sigkill(shapes32, tmp_path):
    run_dir = tmp_path / "run"
    config = TrainConfig(
        model=TINY_MODEL, batch_size=4, epochs=300, steps_per_epoch=2, data=str(shapes32), run_dir=str(run_dir),
        early_stopping_patience=3, reduce_lr_patience=2,
    )
    config_path = tmp_path / "run.yaml"
    config.to_yaml(config_path)
    code = kill_after_backed_up_epochs(train_command(config_path), tmp_path / "first.log", run_dir, 3, timeout=180)
    assert code == -signal.SIGKILL
    completed = backed_up_epoch(run_dir / "backup")
    before = read_log(run_dir / "log.csv")
    assert completed >= 3 and len(before["epoch"]) >= completed  # the log may be one epoch ahead

    register_tiny_model()
    saved = TrainConfig.from_yaml(run_dir / "config.yaml")
    with pytest.raises(ValueError, match=r"different settings \(learning_rate"):
        train(saved.replace(learning_rate=0.5), verbose=0)
    result = train(saved.replace(epochs=completed + 2), verbose=0)
    assert result.initial_epoch == completed
    after = read_log(run_dir / "log.csv")
    assert after["epoch"] == list(range(completed + 2)), "rows continue at the next epoch, none repeated"
    for key in ("loss", "val_loss"):
        assert after[key][:completed] == before[key][:completed]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["initial_epoch"] == completed
    if not metrics["stopped_early"]:
        assert metrics["best_epoch"] == int(np.argmin(after["val_loss"])) + 1, "best value survives the kill"


def test_two_cpu_workers_train_in_sync(shapes32, tmp_path):
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    run_dir = tmp_path / "run"
    config = TrainConfig(
        model=TINY_MODEL, batch_size=4, epochs=1, steps_per_epoch=2, validation_steps=1, data=str(shapes32),
        run_dir=str(run_dir), tensorboard="off",
    )
    config_path = tmp_path / "run.yaml"
    config.to_yaml(config_path)
    processes = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        env = worker_env({"TF_CONFIG": tf_config, "CUDA_VISIBLE_DEVICES": ""})
        processes.append(start(train_command(config_path), tmp_path / f"worker{index}.log", env))
    try:
        for index, process in enumerate(processes):
            process.wait(timeout=300)
    except subprocess.TimeoutExpired:
        pytest.fail("the two-worker run did not finish in 300 s")
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    for index, process in enumerate(processes):
        assert process.returncode == 0, (tmp_path / f"worker{index}.log").read_text()[-4000:]
    info = json.loads((run_dir / "run_info.json").read_text())
    # CollectiveAllReduceStrategy is the class behind tf.distribute.MultiWorkerMirroredStrategy
    assert info["strategy"] == tf.distribute.MultiWorkerMirroredStrategy.__name__ and info["replicas"] == 2
    assert info["task"] == {"type": "worker", "index": 0, "chief": True}
    other = run_dir / ".workers" / "worker_1"
    assert json.loads((other / "run_info.json").read_text())["task"]["chief"] is False
    assert read_log(run_dir / "log.csv")["epoch"] == [0]
    register_tiny_model()
    chief_model = keras.saving.load_model(run_dir / "last.keras")
    other_model = keras.saving.load_model(other / "last.keras")
    # trainable weights: gradients all-reduced each step; BatchNorm moving statistics: averaged
    # over the workers at the end of the epoch (SyncBatchNormStatistics)
    for a, b in zip(chief_model.weights, other_model.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6, err_msg=a.path)
    # the logs are reduced over both workers, so both see (and act on) the same validation values
    chief_metrics = json.loads((run_dir / "metrics.json").read_text())["val"]
    other_metrics = json.loads((other / "metrics.json").read_text())["val"]
    assert chief_metrics == pytest.approx(other_metrics, rel=1e-6)

"""The matting and refinement tasks go through the one trainer: tiny runs of ``matting_net`` and
``refiner`` (the front end of ``python -m RMBG.matting.train_nets``), their run folders and
metrics, and the task checks."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from RMBG.data.synthetic import write_synthetic_dataset
from RMBG.matting.train_nets import net_config
from RMBG.training.config import TrainConfig
from RMBG.training.trainer import train

TINY = {
    "matting": "{encoder_filters: [4, 6], decoder_filters: [6, 4], context_rates: [2], head_filters: 4, trimap_context: 3}",
    "refiner": "{scales: [2, 1], encoder_filters: [4, 6], decoder_filters: [6, 4], context_rates: [2], head_filters: 4}",
}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("shapes") / "ds", 8, (48, 48), seed=3, split=(0.5, 0.5, 0.0))


@pytest.mark.parametrize("kind, data_needed", [("matting", False), ("refiner", True)])
def test_tiny_run_of_each_task_writes_the_common_run_folder(kind, data_needed, shapes, tmp_path):
    config = net_config(
        kind, tmp_path / kind, str(shapes) if data_needed else None, [f"model_overrides={TINY[kind]}"],
        image_size=(32, 32), batch_size=4, samples=8, val_samples=4, epochs=2, steps_per_epoch=1, tensorboard="off",
    )
    result = train(config, verbose=0)
    run = tmp_path / kind
    for name in ("config.yaml", "run_info.json", "log.csv", "best.keras", "last.keras", "metrics.json"):
        assert (run / name).is_file(), name
    assert TrainConfig.from_yaml(run / "config.yaml") == config
    metrics = json.loads((run / "metrics.json").read_text())
    expected = {"loss", "unknown_l1"} if kind == "matting" else {"loss", "mae", "iou"}
    assert set(metrics["val"]) == expected and metrics["task"] == config.task
    assert set(metrics["val_baseline"]) == expected - {"loss"}
    assert result.history["epoch"] == [0, 1] and np.all(np.isfinite(result.history["val_loss"]))
    # the cosine schedule of the recipe: the learning rate decays from 3e-3 over the 2 steps
    assert result.model.optimizer.learning_rate.numpy() < 3e-3
    best = keras.saving.load_model(run / "best.keras")  # compiled loss and metric come back, no custom_objects
    x = np.random.default_rng(0).uniform(0, 1, (1, 32, 32, 4)).astype(np.float32) * [255, 255, 255, 1]
    np.testing.assert_allclose(best(x), result.model(x), atol=1e-6)


def test_a_model_of_another_task_is_refused(shapes, tmp_path):
    config = TrainConfig(model="refiner", data=str(shapes), run_dir=str(tmp_path / "r"))
    with pytest.raises(ValueError, match="'refiner' is a refinement model.*set task: refinement"):
        train(config, verbose=0)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"task": "matting", "loss": "deep_bce"}, r"loss: expected one of \('matting',\)"),
        ({"task": "refinement", "loss": "refinement"}, "augment: the refinement task makes its own"),
        ({"task": "segmentation", "foregrounds": "fg.csv"}, "foregrounds: real foregrounds are matting data"),
        ({"lr_schedule": "cosine"}, "reduce_lr_patience: 8 reduces the learning rate"),
        ({"task": "painting"}, "task: expected one of"),
    ],
)
def test_task_settings_are_checked(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)

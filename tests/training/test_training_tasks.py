"""The matting and refinement tasks go through the one trainer: tiny runs of ``matting_net`` and
``refiner`` (the front end of ``python -m RMBG.matting.train_nets``) and of FBA matting (its three
inputs, ``loss: fba``), their run folders and metrics, and the task checks."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from RMBG.data.synthetic import write_synthetic_dataset
from RMBG.matting.train_nets import net_config
from RMBG.training.config import TrainConfig
from RMBG.training.tasks import get_task
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


@pytest.mark.slow
def test_fba_matting_trains_through_the_matting_task(tmp_path):
    """One block per encoder stage keeps the graph small; the task feeds FBA's three inputs
    (image, two-channel trimap, distance encoding) and trains alpha, F and B with FBALoss."""
    from RMBG.matting import fba
    from RMBG.training.matting_data import fba_training_inputs, matting_samples

    x, y = matting_samples(2, 32, seed=0)
    inputs = fba_training_inputs(x)
    assert {k: v.shape for k, v in inputs.items()} == {"image": (2, 32, 32, 3), "trimap": (2, 32, 32, 2),
                                                        "trimap_transform": (2, 32, 32, 6)}
    np.testing.assert_allclose(inputs["image"], x[..., :3] / 255.0)
    np.testing.assert_array_equal(inputs["trimap"][1], fba.two_channel_trimap(x[1, ..., 3]))
    np.testing.assert_array_equal(inputs["trimap_transform"][1], fba.trimap_transform(inputs["trimap"][1]))
    assert np.all(inputs["trimap"][..., 1][x[..., 3] == 1] == 1) and np.all(inputs["trimap"][..., 0][x[..., 3] == 0] == 1)

    config = TrainConfig(task="matting", model="fba_matting", loss="fba", model_overrides={"block_counts": [1, 1, 1, 1]},
                         data=None, augment={"enabled": False}, image_size=(32, 32), batch_size=2, samples=4,
                         val_samples=2, epochs=1, steps_per_epoch=1, tensorboard="off", run_dir=str(tmp_path / "fba"))
    result = train(config, verbose=0)
    metrics = json.loads((tmp_path / "fba" / "metrics.json").read_text())
    assert set(metrics["val"]) == {"loss", "unknown_l1"} and metrics["image_size"] == [32, 32]
    assert np.isfinite(result.history["val_loss"]).all()
    best = keras.saving.load_model(tmp_path / "fba" / "best.keras")
    sample = {k: v[:1] for k, v in inputs.items()}
    assert best(sample).shape == (1, 32, 32, 7)
    np.testing.assert_allclose(best(sample), result.model(sample), atol=1e-5)


@pytest.mark.parametrize("model, loss, wanted", [("fba_matting", "matting", "fba"), ("matting_net", "fba", "matting")])
def test_the_matting_loss_must_fit_the_model(model, loss, wanted, tmp_path):
    config = TrainConfig(task="matting", model=model, loss=loss, data=None, augment={"enabled": False},
                         image_size=(32, 32), run_dir=str(tmp_path / "r"))
    with pytest.raises(ValueError, match=f"set loss: {wanted}, got loss: {loss}"):
        train(config, verbose=0)
    assert not (tmp_path / "r").exists()


def test_fba_needs_sides_that_are_multiples_of_8(tmp_path):
    config = TrainConfig(task="matting", model="fba_matting", loss="fba", model_overrides={"block_counts": [1, 1, 1, 1]},
                         data=None, augment={"enabled": False}, image_size=(36, 36), samples=2, val_samples=2,
                         run_dir=str(tmp_path / "r"))
    with pytest.raises(ValueError, match=r"multiples of 8, got 36; use e.g. \[40, 40\]"):
        train(config, verbose=0)
    assert not (tmp_path / "r").exists()  # refused before the run folder is made


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"task": "matting", "loss": "deep_bce"}, r"loss: expected one of \('matting', 'fba'\)"),
        ({"task": "refinement", "loss": "refinement"}, "augment: the refinement task makes its own"),
        ({"task": "segmentation", "foregrounds": "fg.csv"}, "foregrounds: real foregrounds are matting data"),
        ({"lr_schedule": "cosine"}, "reduce_lr_patience: 8 reduces the learning rate"),
        ({"task": "painting"}, "task: expected one of"),
        ({"task": "matting", "loss": "matting", "augment": {"enabled": False}, "side_weight": 0.0},
         "side_weight: 0.0 weighs the side maps of the segmentation losses; the matting task has none"),
    ],
)
def test_task_settings_are_checked(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


@pytest.mark.parametrize("loss", ["deep_bce", "hybrid"])
def test_side_weight_reaches_the_segmentation_loss(loss):
    built = get_task("segmentation").loss(TrainConfig(loss=loss, side_weight=0.25))
    assert built.side_weight == 0.25
    assert get_task("segmentation").loss(TrainConfig(loss=loss)).side_weight == 1.0

"""The registry, the leaf of the package: presets as data, model building, the model cache.

It imports nothing above it (only ``RMBG.paths`` and ``RMBG.weights.sources``) and no TensorFlow:
families register their presets from their TensorFlow-free ``__init__`` (``RMBG.models`` imports
them all), and builders are imported only when a model is built.

    register_presets(PRESETS)            # a family's __init__
    list_models(task="segmentation")     # names for the CLI, the docs' tables, the server
    model_info("u2netp")                 # the Preset (input size, mean/std, weights, licence)
    create_model("u2netp", pretrained=True)
    load_model("run/best.keras")         # cached; imports the modules the file names
    load_model(ModelWithWeights.of("tracer_b7", "mine.pth"))   # a registry model with a local checkpoint
"""

from RMBG.registry.build import create_model, official_weights_path
from RMBG.registry.loading import (
    ModelWithWeights,
    check_keras_file,
    check_pretrained_name,
    check_task,
    clear_model_cache,
    import_custom_objects,
    load_model,
)
from RMBG.registry.preset import IMAGENET_MEAN, IMAGENET_STD, TASKS, Preset, resolve
from RMBG.registry.store import list_models, model_info, models_table, register_presets

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "ModelWithWeights", "TASKS", "Preset", "check_keras_file", "check_pretrained_name", "check_task", "clear_model_cache", "create_model", "import_custom_objects",
    "list_models", "load_model", "model_info", "models_table", "official_weights_path", "register_presets", "resolve",
]

"""``create_model``: build a registered model and place its weights.

Building imports the family's code (and so TensorFlow) at call time, never when the registry is
imported. Weights are placed strictly; converted official weights are cached once as a strict
``.npz`` keyed by the weight file's checksum and the architecture config.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from pathlib import Path
from typing import Any

from RMBG.paths import assets_dir, cache_dir
from RMBG.registry.preset import Preset, resolve
from RMBG.registry.store import list_models, model_info
from RMBG.weights.sources import fetch

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def _config_digest(preset: Preset, config: dict) -> str:
    text = json.dumps({k: config[k] for k in sorted(config) if k != "name"}, sort_keys=True, default=str)
    return hashlib.sha256(f"{preset.weights.checksum}|{text}".encode()).hexdigest()[:16]


def official_weights_path(preset: Preset) -> Path:
    """A verified local copy of the preset's official weight file (fetched if needed).

    Raises:
        ValueError: the preset has no pretrained weights.
        RMBG.weights.sources.WeightsUnavailableError: no source could provide it.
    """
    if preset.weights is None:
        raise ValueError(
            f"model {preset.name!r} has no pretrained weights; models with weights: "
            f"{', '.join(list_models(pretrained=True))}"
        )
    folders = [assets_dir() / "weights"] + [
        folder if Path(folder).is_absolute() else _PACKAGE_ROOT / folder for folder in preset.weights_dirs
    ]
    return fetch(preset.weights, local_dirs=folders)


def place_official_weights(model: Any, preset: Preset, config: dict) -> None:
    """Load the preset's official weights into ``model`` (converted once, then from the cache)."""
    # deferred: numpy (~0.1 s) stays out of `import RMBG` start-up
    from RMBG.weights.strict import load_variables, save_variables

    converted = cache_dir() / "converted" / f"{preset.name}-{_config_digest(preset, config)}.npz"
    if converted.is_file():
        load_variables(model, converted)
        return
    resolve(preset.importer)(model, official_weights_path(preset))
    save_variables(model, converted)


def place_file_weights(model: Any, preset: Preset, path: str | os.PathLike) -> None:
    """Load a local weight file (a user's checkpoint in the family's format) into ``model``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the family has no importer.
    """
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"weights: no such file '{source}'")
    if preset.importer is None:
        raise ValueError(f"weights: model {preset.name!r} (family {preset.family}) has no weight importer")
    resolve(preset.importer)(model, source)


def create_model(
    name: str,
    /,
    *,
    pretrained: bool = False,
    weights: str | os.PathLike | None = None,
    **overrides: Any,
):
    """Build a registered model.

    Args:
        name: a name from :func:`~RMBG.registry.list_models` (positional only, so that
            ``name=`` among the overrides names the built Keras model).
        pretrained: load the preset's official weights (fetched, verified, converted once).
            Architecture overrides then make loading fail loudly (the tensors no longer fit).
        weights: a local weight file in the family's format (e.g. a fine-tuned ``.pth``), placed
            strictly instead of the official weights.
        **overrides: builder arguments replacing the preset's (e.g. ``image_size=(512, 512)``).

    Returns:
        The built Keras model (a :class:`~RMBG.models.segmenter.Segmenter` for most families).

    Raises:
        ValueError: unknown name; ``pretrained`` for a model without weights; both ``pretrained``
            and ``weights``.
        TypeError: an override the builder does not take (the message lists the valid ones).
    """
    preset = model_info(name)
    if pretrained and weights is not None:
        raise ValueError(f"create_model({name!r}): give pretrained=True or weights=<file>, not both")
    if pretrained and preset.weights is None:
        raise ValueError(
            f"model {name!r} has no pretrained weights; models with weights: {', '.join(list_models(pretrained=True))}"
        )
    builder = resolve(preset.builder)
    accepted = set(inspect.signature(builder).parameters)
    unknown = sorted(set(overrides) - accepted)
    if unknown:
        raise TypeError(f"create_model({name!r}): unknown overrides {unknown}; valid ones are {sorted(accepted)}")
    config = {**preset.config, **overrides}
    if "name" in accepted:
        config.setdefault("name", name)
    model = builder(**config)
    if pretrained:
        place_official_weights(model, preset, config)
    elif weights is not None:
        place_file_weights(model, preset, weights)
    return model

"""Import FBA matting checkpoints (PyTorch ``.pth`` state dicts) into :class:`~RMBG.models.fba_matting.FBAMatting`.

Strict: every Keras variable takes exactly one tensor, shapes are checked, and a missing tensor or
one left over raises :class:`~RMBG.weights.strict.WeightMismatchError` naming the layer. Our layers
carry the PyTorch module paths (``encoder.layer2.0.conv2``, ``decoder.ppm.3.2``), so tensors are
matched by name: convolutions ``weight`` (OIHW -> HWIO) and ``bias``; GroupNorm ``weight`` ->
``gamma``, ``bias`` -> ``beta``. A ``module.`` prefix (DataParallel) is removed.

Reading a ``.pth`` never executes pickled code: the zip format (``torch.save`` since torch 1.6,
CarveKit's ``fba_matting.pth`` included) is read by :mod:`RMBG.weights.torch_state`, a restricted
unpickler with numpy, so the runtime needs no torch; a legacy (pre-1.6) file is read with
``torch.load(weights_only=True)`` when torch is installed, else the error says how to convert it.
The registry caches the converted variables once (``$RMBG_HOME/converted``).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

from RMBG.weights.strict import WeightMismatchError
from RMBG.weights.torch_state import read_state_dict


def read_fba_checkpoint(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The tensors of an FBA ``.pth`` as ``{name: float32 array}`` (no pickled code runs).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a legacy checkpoint without torch installed, or not a checkpoint.
        RMBG.weights.torch_state.UnsafeCheckpointError: the pickle asks for anything beyond tensors.
    """
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"weights: no such file '{source}'")
    if zipfile.is_zipfile(source):
        return {key: np.asarray(value, np.float32) for key, value in read_state_dict(source).items()}
    try:
        import torch  # deferred: optional (torch) for legacy checkpoints; absent → clear error below
    except ImportError:
        raise ValueError(
            f"weights: '{source}' is a legacy (pre-1.6) PyTorch checkpoint, which only torch reads safely; "
            "install torch (CPU is enough) or re-save it with torch>=1.6: torch.save(torch.load(p, weights_only=True), p)"
        ) from None
    state = torch.load(source, map_location="cpu", weights_only=True)
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    return {key: value.detach().cpu().numpy().astype(np.float32) for key, value in state.items() if hasattr(value, "detach")}


def _weighted_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer holding variables, the backbone's included (nested models are walked)."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += _weighted_layers(layer)
        elif layer.weights:
            found.append(layer)
    return found


def load_fba_weights(model: keras.Model, weights: str | os.PathLike | Mapping[str, Any]) -> None:
    """Place an FBA state dict (or a ``.pth`` path) into ``model`` strictly.

    Args:
        model: an :class:`~RMBG.models.fba_matting.FBAMatting`.
        weights: a ``.pth`` file, or ``{name: array}`` (torch tensors or numpy).

    Nothing is assigned unless every tensor fits (a failed import leaves the model unchanged).

    Raises:
        WeightMismatchError: a layer without its tensor, a tensor no layer takes, or a shape mismatch.
    """
    if isinstance(weights, (str, os.PathLike)):
        weights = read_fba_checkpoint(weights)
    state = {}
    for key, value in weights.items():
        if key.endswith("num_batches_tracked"):
            continue
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        state[key.removeprefix("module.")] = np.asarray(value, np.float32)
    used: set[str] = set()
    plan: list[tuple[Any, str, np.ndarray, str]] = []  # checked first, assigned only when all fit

    def take(layer, suffix: str) -> tuple[str, np.ndarray]:
        key = f"{layer.name}.{suffix}"
        if key not in state:
            raise WeightMismatchError(f"layer {layer.name}: the checkpoint has no tensor {key!r}")
        if key in used:
            raise WeightMismatchError(f"layer {layer.name}: tensor {key!r} was already placed (duplicate layer name)")
        used.add(key)
        return key, state[key]

    def place(layer, attribute: str, key: str, value: np.ndarray) -> None:
        variable = getattr(layer, attribute)
        if tuple(variable.shape) != value.shape:
            raise WeightMismatchError(
                f"layer {layer.name}: {attribute} has shape {tuple(variable.shape)}, tensor {key!r} gives {value.shape} "
                "(a checkpoint of another architecture?)"
            )
        plan.append((variable, attribute, value, key))

    for layer in _weighted_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            key, weight = take(layer, "weight")
            if weight.ndim != 4:
                raise WeightMismatchError(f"layer {layer.name}: tensor {key!r} has shape {weight.shape}, expected OIHW")
            place(layer, "kernel", key, np.transpose(weight, (2, 3, 1, 0)))
            if layer.use_bias:
                place(layer, "bias", *take(layer, "bias"))
        elif isinstance(layer, keras.layers.GroupNormalization):
            place(layer, "gamma", *take(layer, "weight"))
            place(layer, "beta", *take(layer, "bias"))
        else:
            raise WeightMismatchError(f"layer {layer.name} ({type(layer).__name__}) has variables the FBA importer does not know")
    leftover = sorted(set(state) - used)
    if leftover:
        raise WeightMismatchError(
            f"the checkpoint has {len(leftover)} tensors no Keras layer takes, e.g. {leftover[:6]} "
            "(is it an FBA resnet50_GN_WS checkpoint?)"
        )
    placed = {id(variable) for variable, *_ in plan}
    unplaced = [variable.path for variable in model.weights if id(variable) not in placed]
    if unplaced:
        raise WeightMismatchError(f"the model has variables no tensor fills: {unplaced[:6]}")
    for variable, _attribute, value, _key in plan:
        variable.assign(value)

"""Import a TRACER-B7 PyTorch state dict (CarveKit's ``tracer_b7.pth`` or a fine-tuned one) strictly.

Reading the ``.pth``: :func:`RMBG.weights.torch_state.read_state_dict`, a restricted unpickler of
the ``torch.save`` zip format into numpy, rather than ``torch.load(weights_only=True)``. Both refuse
to run pickled code; ours also means that converting CarveKit's checkpoint needs no torch (2 GB)
at run time: torch stays a test-only dependency (the parity tests compare the two readers).

Placement is by name: every Keras layer of :class:`~RMBG.models.tracer_b7.TracerB7Backbone` is
named after its PyTorch module (``encoder._blocks.3._depthwise_conv``), and each of its weights
takes exactly one tensor (``<module>.weight``, ``.bias``, ``.running_mean``, ``.running_var``),
shape checked. A Keras weight with no tensor, a tensor of the wrong shape, or a tensor no layer
takes raises :class:`~RMBG.weights.strict.WeightMismatchError` naming the layer and tensor.
``num_batches_tracked`` (a counter with no effect in inference) and a DataParallel ``module.``
prefix are dropped.

One documented exception: CarveKit's published checkpoint also holds the original TRACER's
frequency edge module (``encoder.Frequency_Edge_Module1.*``), which CarveKit's architecture does
not build and its loader skips (``load_state_dict(strict=False)``, "TODO remove edge detector from
weights"). Those tensors, and only those, are skipped and reported (:data:`UNUSED_PREFIXES`).

The converted official weights are cached once as a strict ``.npz`` by the registry
(:func:`RMBG.registry.build.place_official_weights`, through :func:`RMBG.weights.strict.save_variables`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from RMBG.weights.strict import WeightMismatchError
from RMBG.weights.torch_state import read_state_dict

logger = logging.getLogger(__name__)

#: Tensor name prefixes that CarveKit's TRACER-B7 checkpoint carries but its model never uses.
UNUSED_PREFIXES = ("encoder.Frequency_Edge_Module1.",)

_BATCH_NORM = (("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"), ("moving_variance", "running_var"))


@dataclass
class ImportReport:
    """What an import placed and what it skipped by design."""

    placed: int = 0
    skipped: list[str] = field(default_factory=list)


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float32)


def _layer_tensors(layer, take) -> list[tuple[Any, np.ndarray, str]]:
    """(variable, value in Keras layout, tensor name) for every weight of ``layer``."""
    name = layer.name
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        weight = take(f"{name}.weight")
        if weight.ndim != 4 or weight.shape[1] != 1:
            raise WeightMismatchError(f"layer {name}: {name}.weight has shape {weight.shape}, not a depthwise (C*m, 1, kh, kw) kernel")
        channels = layer.kernel.shape[2]
        kernel = weight.reshape(channels, -1, *weight.shape[2:]).transpose(2, 3, 0, 1)  # (C*m,1,kh,kw) → (kh,kw,C,m)
        pairs = [(layer.kernel, kernel, f"{name}.weight")]
        if layer.use_bias:
            pairs.append((layer.bias, take(f"{name}.bias"), f"{name}.bias"))
        return pairs
    if isinstance(layer, keras.layers.Conv2D):
        pairs = [(layer.kernel, np.transpose(take(f"{name}.weight"), (2, 3, 1, 0)), f"{name}.weight")]  # OIHW → HWIO
        if layer.use_bias:
            pairs.append((layer.bias, take(f"{name}.bias"), f"{name}.bias"))
        return pairs
    if isinstance(layer, keras.layers.BatchNormalization):
        return [(getattr(layer, attr), take(f"{name}.{key}"), f"{name}.{key}") for attr, key in _BATCH_NORM]
    raise WeightMismatchError(f"layer {name}: no import rule for a {type(layer).__name__} with weights")


def import_tracer_state_dict(
    model: keras.Model, state_dict: Mapping[str, Any] | str | os.PathLike
) -> ImportReport:
    """Place a TRACER-B7 PyTorch state dict (or a ``.pth`` path) into ``model`` (strict).

    Args:
        model: a ``tracer_b7`` :class:`~RMBG.models.segmenter.Segmenter` or its backbone.
        state_dict: ``{name: tensor or ndarray}`` as ``TracerDecoder.state_dict()`` gives, or the
            path of a ``torch.save`` file holding one.

    Returns:
        The number of tensors placed and the names skipped by design (:data:`UNUSED_PREFIXES`).

    Raises:
        WeightMismatchError: a weight has no tensor, shapes differ, or a tensor is left over.
        FileNotFoundError, ValueError, RMBG.weights.torch_state.UnsafeCheckpointError: an
            unreadable, non-zip or unsafe ``.pth``.
    """
    if isinstance(state_dict, (str, os.PathLike)):
        source = os.fspath(state_dict)
        state_dict = read_state_dict(state_dict)
    else:
        source = "the state dict"
    backbone = getattr(model, "backbone", model)
    state = {
        key.removeprefix("module."): value
        for key, value in state_dict.items()
        if not key.endswith("num_batches_tracked")
    }
    used: set[str] = set()
    current = [""]

    def take(key: str) -> np.ndarray:
        if key not in state:
            raise WeightMismatchError(f"layer {current[0]}: {source} has no tensor {key!r}")
        if key in used:
            raise WeightMismatchError(f"layer {current[0]}: tensor {key!r} would be placed twice")
        used.add(key)
        return _to_numpy(state[key])

    assigned: set[int] = set()
    report = ImportReport()
    for layer in backbone.layers:
        if not layer.weights:
            continue
        current[0] = layer.name
        for variable, value, key in _layer_tensors(layer, take):
            if tuple(variable.shape) != value.shape:
                raise WeightMismatchError(
                    f"layer {layer.name}: {variable.path} has shape {tuple(variable.shape)}, "
                    f"tensor {key!r} gives {value.shape} (Keras layout)"
                )
            variable.assign(value)
            assigned.add(id(variable))
            report.placed += 1
    unplaced = [v.path for v in backbone.weights if id(v) not in assigned]
    if unplaced:
        raise WeightMismatchError(f"{source} left Keras weights unset: {unplaced[:8]}")
    leftover = sorted(set(state) - used)
    report.skipped = [k for k in leftover if k.startswith(UNUSED_PREFIXES)]
    unexpected = [k for k in leftover if not k.startswith(UNUSED_PREFIXES)]
    if unexpected:
        raise WeightMismatchError(
            f"{source} has {len(unexpected)} tensors no layer of {backbone.name} takes: {unexpected[:10]}"
            f"{' ...' if len(unexpected) > 10 else ''} (is it a TRACER-B7 checkpoint of another architecture?)"
        )
    if report.skipped:
        logger.info("%s: skipped %d tensors CarveKit's TRACER-B7 does not use (%s)", source, len(report.skipped), ", ".join(UNUSED_PREFIXES))
    return report


def load_tracer_weights(model: keras.Model, path: str | os.PathLike) -> None:
    """The registry's importer: place the ``.pth`` at ``path`` into ``model`` (see :func:`import_tracer_state_dict`)."""
    import_tracer_state_dict(model, path)

"""Import InSPyReNet checkpoints (``ckpt_base.pth``, ``ckpt_fast.pth`` or any state dict of the
reference ``InSPyReNet_SwinB``) into :class:`~RMBG.models.inspyrenet.InSPyReNet`, strictly.

Our layers carry the reference's module paths, so every Keras variable has exactly one PyTorch
tensor: Linear weights are transposed (out, in → in, out), convolutions OIHW → HWIO, LayerNorm /
BatchNorm / scalar parameters copied. The importer refuses (naming the layer and the tensor) a
Keras variable without a tensor, a tensor without a variable, and any shape mismatch; the
``relative_position_index`` buffers are checked against the index our windows use (a different
window size would give a different index). ``num_batches_tracked`` counters carry no weights and
are skipped.

The ``.pth`` file is read by :func:`RMBG.weights.torch_state.read_state_dict`, a restricted
unpickler: it never runs pickled code and does not need PyTorch, which RMBG does not depend on
at run time (``torch.load(weights_only=True)`` would be equally safe but would make torch a
runtime dependency for two files).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import keras
import numpy as np

from RMBG.models.inspyrenet.inspyrenet_network import InSPyReNet
from RMBG.models.inspyrenet.layers.axial_self_attention import AxialSelfAttention
from RMBG.models.inspyrenet.layers.class_probability import ClassProbability
from RMBG.models.swin.patch_merging import PatchMerging
from RMBG.models.swin.swin_transformer import SwinTransformer
from RMBG.models.swin.window_attention import WindowAttention
from RMBG.weights.strict import WeightMismatchError
from RMBG.weights.torch_state import read_state_dict

#: Reference buffers with no Keras variable: checked or skipped, never silently left over.
SKIPPED_SUFFIXES = (".num_batches_tracked",)


def _linear(value: np.ndarray) -> np.ndarray:
    return value.T


def _conv(value: np.ndarray) -> np.ndarray:
    return np.transpose(value, (2, 3, 1, 0))


def _copy(value: np.ndarray) -> np.ndarray:
    return value


def _layer_tensors(layer: keras.layers.Layer, key: str) -> Iterator[tuple[str, Any, Callable]]:
    """``(PyTorch key, Keras variable, conversion)`` for every variable of one layer."""
    if isinstance(layer, keras.layers.Conv2D):
        yield f"{key}.weight", layer.kernel, _conv
        if layer.use_bias:
            yield f"{key}.bias", layer.bias, _copy
    elif isinstance(layer, keras.layers.Dense):
        yield f"{key}.weight", layer.kernel, _linear
        if layer.use_bias:
            yield f"{key}.bias", layer.bias, _copy
    elif isinstance(layer, keras.layers.LayerNormalization):
        yield f"{key}.weight", layer.gamma, _copy
        yield f"{key}.bias", layer.beta, _copy
    elif isinstance(layer, keras.layers.BatchNormalization):
        for attribute, suffix in (("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"), ("moving_variance", "running_var")):
            yield f"{key}.{suffix}", getattr(layer, attribute), _copy
    elif isinstance(layer, WindowAttention):
        yield f"{key}.relative_position_bias_table", layer.relative_position_bias_table, _copy
        yield from _layer_tensors(layer.qkv, f"{key}.qkv")
        yield from _layer_tensors(layer.proj, f"{key}.proj")
    elif isinstance(layer, PatchMerging):
        yield from _layer_tensors(layer.norm, f"{key}.norm")
        yield from _layer_tensors(layer.reduction, f"{key}.reduction")
    elif isinstance(layer, AxialSelfAttention):
        yield f"{key}.gamma", layer.gamma, _copy
    elif isinstance(layer, ClassProbability):
        yield f"{key}.threshold", layer.threshold, _copy
        if layer.lmap_in:
            yield f"{key}.lthreshold", layer.lthreshold, _copy
    elif layer.weights:
        raise WeightMismatchError(f"layer {layer.name} ({type(layer).__name__}) has weights but no import rule")


def _index_buffers(model: keras.Model, prefix: str) -> dict[str, np.ndarray]:
    return {f"{prefix}{layer.name}.relative_position_index": layer.index for layer in model.layers if isinstance(layer, WindowAttention)}


def tensor_map(network: keras.Model) -> tuple[dict[str, tuple[Any, Callable, str]], dict[str, np.ndarray]]:
    """``({PyTorch key: (variable, conversion, layer name)}, {buffer key: expected value})`` for an
    :class:`InSPyReNet` (encoder under ``backbone.``) or a bare :class:`SwinTransformer`.

    Raises:
        WeightMismatchError: a variable of the network that no key maps to.
    """
    mapping: dict[str, tuple[Any, Callable, str]] = {}
    buffers: dict[str, np.ndarray] = {}

    def walk(model: keras.Model, prefix: str) -> None:
        for layer in model.layers:
            if isinstance(layer, SwinTransformer):
                walk(layer, f"{prefix}backbone.")
                continue
            for key, variable, conversion in _layer_tensors(layer, f"{prefix}{layer.name}"):
                if key in mapping:
                    raise WeightMismatchError(f"layer {layer.name}: the PyTorch key {key!r} maps to two variables")
                mapping[key] = (variable, conversion, layer.name)
        buffers.update(_index_buffers(model, prefix))

    walk(network, "")
    mapped = {id(variable) for variable, _, _ in mapping.values()}
    unmapped = [v.path for v in network.weights if id(v) not in mapped]
    if unmapped:
        raise WeightMismatchError(f"model {network.name}: variables with no PyTorch tensor: {unmapped[:8]}")
    return mapping, buffers


def import_inspyrenet_state_dict(network: keras.Model, state_dict: Mapping[str, Any] | str | os.PathLike) -> None:
    """Place a reference state dict (or a ``.pth`` path) into ``network`` (strict).

    ``network`` is an :class:`InSPyReNet` (keys ``backbone.*``, ``context1.*``, ``attention0.*``...)
    or a bare :class:`SwinTransformer` (keys ``patch_embed.*``, ``layers.*``, ``norm0..3.*``).
    ``module.`` prefixes (DataParallel) are removed.

    Raises:
        WeightMismatchError: a variable without a tensor, a tensor without a variable, a shape
            mismatch or a relative position index that differs (all name the layer).
    """
    if isinstance(state_dict, (str, os.PathLike)):
        state_dict = read_state_dict(state_dict)
    state = {
        key.removeprefix("module."): (value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value))
        for key, value in state_dict.items()
        if not key.endswith(SKIPPED_SUFFIXES)
    }
    mapping, buffers = tensor_map(network)
    for key, expected in buffers.items():
        if key not in state:
            raise WeightMismatchError(f"layer {key.rsplit('.', 1)[0]}: the state dict has no buffer {key!r}")
        if state[key].shape != expected.shape or not np.array_equal(state[key], expected):
            raise WeightMismatchError(
                f"layer {key.rsplit('.', 1)[0]}: {key} differs from the index of a {int(np.sqrt(expected.shape[0]))}x"
                f"{int(np.sqrt(expected.shape[0]))} window (shape {state[key].shape} vs {expected.shape}); "
                "the checkpoint was trained with another window_size"
            )
    missing = sorted(key for key in mapping if key not in state)
    if missing:
        raise WeightMismatchError(
            f"layer {mapping[missing[0]][2]}: the state dict has no tensor {missing[0]!r}"
            + (f" (and {len(missing) - 1} more missing: {missing[1:6]})" if len(missing) > 1 else "")
        )
    leftover = sorted(set(state) - set(mapping) - set(buffers))
    if leftover:
        raise WeightMismatchError(f"the state dict has tensors no Keras layer takes: {leftover[:8]}")
    converted = []
    for key, (variable, conversion, layer_name) in mapping.items():
        value = conversion(state[key].astype(np.float32))
        if tuple(value.shape) != tuple(variable.shape):
            raise WeightMismatchError(
                f"layer {layer_name}: {key} has shape {state[key].shape} (converted {value.shape}), "
                f"the Keras variable {variable.path} expects {tuple(variable.shape)}"
            )
        converted.append((variable, value))
    for variable, value in converted:  # assign only once everything fits: a failed import leaves the model untouched
        variable.assign(value)


def _network(model: keras.Model) -> keras.Model:
    """The InSPyReNet network of a segmenter (its ``backbone``), or ``model`` itself."""
    return model if _is_network(model) else model.backbone


def _is_network(model: keras.Model) -> bool:
    return isinstance(model, (InSPyReNet, SwinTransformer))


def load_inspyrenet_weights(model: keras.Model, path: str | os.PathLike) -> None:
    """The registry's importer, ``importer(model, path)``: an InSPyReNet ``.pth`` state dict
    (official ``ckpt_base.pth`` / ``ckpt_fast.pth`` or a user's checkpoint of the same
    architecture) into a built segmenter, or into a bare network (strict).

    The registry caches the converted official weights once (a strict ``.npz`` keyed by checksum
    and config, :func:`RMBG.weights.strict.save_variables`); a local file is read directly each
    time (NumPy only: about as fast as reading the cache).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not a ``.pth``/``.pt`` zip-format state dict.
        UnsafeCheckpointError: the file's pickle names a global outside the allow-list.
        WeightMismatchError: the checkpoint does not fit the model (see :func:`import_inspyrenet_state_dict`).
    """
    path = Path(path)
    if path.suffix.lower() not in (".pth", ".pt"):
        raise ValueError(f"weights: '{path}' is not a PyTorch state dict (.pth/.pt) of InSPyReNet")
    import_inspyrenet_state_dict(_network(model), path)

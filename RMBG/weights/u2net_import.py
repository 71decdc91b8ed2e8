"""Import official U^2-Net / U^2-NetP weights into :class:`~RMBG.models.u2net.U2NetBackbone`.

Two sources, both strict (every tensor placed exactly once, shapes checked, anything missing or
left over raises naming the layer):

* the official ONNX export (BatchNorm folded into the convolutions, opset 11): convolutions are
  matched in execution order (the export numbers them), ``side1..6`` and ``outconv`` by name;
  each BatchNorm becomes the identity (gamma 1, beta 0, mean 0, variance 1 - eps).
* an official PyTorch state dict (``.pth``): matched by module name, since our layers carry the
  PyTorch module paths (``stage1.rebnconvin.conv_s1``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import keras
import numpy as np

from RMBG.models.u2net.u2net_backbone import NUM_STAGES, STAGE_HEIGHTS
from RMBG.weights.strict import WeightMismatchError
from RMBG.weights.torch_state import read_state_dict

HEAD_NAMES = tuple(f"side{i}" for i in range(1, NUM_STAGES + 1)) + ("outconv",)


def rsu_module_names(prefix: str, height: int) -> list[str]:
    """REBNCONV module names of one RSU block, in PyTorch execution order."""
    encoder = ["rebnconvin"] + [f"rebnconv{i}" for i in range(1, height + 1)]
    decoder = [f"rebnconv{i}d" for i in range(height - 1, 0, -1)]
    return [f"{prefix}.{name}" for name in encoder + decoder]


def u2net_module_names() -> list[str]:
    """Every REBNCONV of U^2-Net in execution order: encoder stages 1..6, then decoder 5d..1d."""
    names = []
    for stage in range(1, NUM_STAGES + 1):
        names += rsu_module_names(f"stage{stage}", STAGE_HEIGHTS[stage - 1])
    for stage in range(NUM_STAGES - 1, 0, -1):
        names += rsu_module_names(f"stage{stage}d", STAGE_HEIGHTS[stage - 1])
    return names


def _layer(backbone: keras.Model, name: str):
    try:
        return backbone.get_layer(name)
    except ValueError:
        raise WeightMismatchError(f"the Keras model has no layer {name!r}") from None


def _assign_conv(layer, weight: np.ndarray, bias: np.ndarray, source: str) -> None:
    kernel = np.transpose(weight, (2, 3, 1, 0))  # OIHW → HWIO
    if tuple(layer.kernel.shape) != kernel.shape or tuple(layer.bias.shape) != bias.shape:
        raise WeightMismatchError(
            f"layer {layer.name}: kernel {tuple(layer.kernel.shape)} / bias {tuple(layer.bias.shape)} "
            f"cannot take {source} with kernel {kernel.shape} / bias {bias.shape}"
        )
    layer.kernel.assign(kernel)
    layer.bias.assign(bias)


def _identity_batchnorm(layer) -> None:
    channels = layer.gamma.shape[0]
    layer.gamma.assign(np.ones(channels, np.float32))
    layer.beta.assign(np.zeros(channels, np.float32))
    layer.moving_mean.assign(np.zeros(channels, np.float32))
    layer.moving_variance.assign(np.full(channels, 1.0 - layer.epsilon, np.float32))


def import_u2net_onnx(backbone: keras.Model, onnx_path: str | os.PathLike) -> None:
    """Load the official ONNX export of U^2-Net or U^2-NetP into ``backbone`` (strict).

    Raises:
        WeightMismatchError: the ONNX graph does not have exactly one convolution of the right
            shape and dilation for each convolution of ``backbone``.
    """
    import onnx  # deferred: onnx only for the official .onnx weights
    from onnx import numpy_helper  # deferred: onnx only for the official .onnx weights

    graph = onnx.load(str(onnx_path)).graph
    initializers = {t.name: t for t in graph.initializer}
    convs = [node for node in graph.node if node.op_type == "Conv"]
    heads = {f"{name}.weight": name for name in HEAD_NAMES}
    named = {heads[n.input[1]]: n for n in convs if n.input[1] in heads}
    numbered = [n for n in convs if n.input[1] not in heads]
    modules = u2net_module_names()
    if len(numbered) != len(modules) or len(named) != len(HEAD_NAMES):
        raise WeightMismatchError(
            f"'{onnx_path}' has {len(numbered)} block convolutions and heads {sorted(named)}; "
            f"the Keras model needs {len(modules)} and {list(HEAD_NAMES)}"
        )

    def arrays(node) -> tuple[np.ndarray, np.ndarray]:
        if len(node.input) != 3:
            raise WeightMismatchError(f"ONNX node {node.name} has no bias input")
        try:
            return tuple(numpy_helper.to_array(initializers[i]).astype(np.float32) for i in node.input[1:3])
        except KeyError as error:
            raise WeightMismatchError(f"ONNX node {node.name}: initializer {error} is missing") from None

    for module, node in zip(modules, numbered):
        conv = _layer(backbone, f"{module}.conv_s1")
        dilation = next(
            (list(a.ints) for a in node.attribute if a.name == "dilations"), [1, 1]
        )
        if tuple(dilation) != tuple(conv.dilation_rate):
            raise WeightMismatchError(
                f"layer {conv.name} (dilation {conv.dilation_rate}) met ONNX node {node.name} with dilation {dilation}"
            )
        weight, bias = arrays(node)
        _assign_conv(conv, weight, bias, f"ONNX node {node.name}")
        _identity_batchnorm(_layer(backbone, f"{module}.bn_s1"))
    for name in HEAD_NAMES:
        weight, bias = arrays(named[name])
        _assign_conv(_layer(backbone, name), weight, bias, f"ONNX node {named[name].name}")


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float32)


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read an official PyTorch ``.pth`` state dict (no torch needed, no pickled code run)."""
    return read_state_dict(path)


def import_u2net_state_dict(backbone: keras.Model, state_dict: Mapping[str, Any] | str | os.PathLike) -> None:
    """Load an official PyTorch U^2-Net state dict (or a ``.pth`` path) into ``backbone`` (strict).

    ``module.`` prefixes (DataParallel) are removed; ``num_batches_tracked`` is ignored.

    Raises:
        WeightMismatchError: a Keras layer has no tensor, a tensor has no layer, or shapes differ.
    """
    if isinstance(state_dict, (str, os.PathLike)):
        state_dict = load_state_dict(state_dict)
    state = {
        key.removeprefix("module."): _to_numpy(value)
        for key, value in state_dict.items()
        if not key.endswith("num_batches_tracked")
    }
    used: set[str] = set()

    def take(key: str, layer_name: str) -> np.ndarray:
        if key not in state:
            raise WeightMismatchError(f"layer {layer_name}: the state dict has no tensor {key!r}")
        used.add(key)
        return state[key]

    for module in u2net_module_names():
        conv_name, bn_name = f"{module}.conv_s1", f"{module}.bn_s1"
        conv = _layer(backbone, conv_name)
        _assign_conv(conv, take(f"{conv_name}.weight", conv_name), take(f"{conv_name}.bias", conv_name), conv_name)
        bn = _layer(backbone, bn_name)
        for attribute, suffix in (("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"), ("moving_variance", "running_var")):
            value = take(f"{bn_name}.{suffix}", bn_name)
            variable = getattr(bn, attribute)
            if tuple(variable.shape) != value.shape:
                raise WeightMismatchError(f"layer {bn_name}: {attribute} {tuple(variable.shape)} cannot take {value.shape}")
            variable.assign(value)
    for name in HEAD_NAMES:
        _assign_conv(_layer(backbone, name), take(f"{name}.weight", name), take(f"{name}.bias", name), name)
    leftover = sorted(set(state) - used)
    if leftover:
        raise WeightMismatchError(f"the state dict has tensors no Keras layer takes: {leftover[:8]}")


def load_u2net_file(model: keras.Model, path: str | os.PathLike) -> None:
    """The registry's importer: an official ONNX export or a PyTorch ``.pth`` state dict into a
    U^2-Net :class:`~RMBG.models.segmenter.Segmenter` (strict; see the module docstring).

    Raises:
        ValueError: a file that is neither ``.onnx`` nor ``.pth``/``.pt``.
        WeightMismatchError: a tensor missing, left over or of the wrong shape.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".onnx":
        import_u2net_onnx(model.backbone, path)
    elif suffix in (".pth", ".pt"):
        import_u2net_state_dict(model.backbone, path)
    else:
        raise ValueError(f"weights: '{path}' is neither an ONNX export (.onnx) nor a PyTorch state dict (.pth) of U^2-Net")

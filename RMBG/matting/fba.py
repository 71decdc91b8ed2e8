"""Pre- and post-processing of FBA matting (:class:`~RMBG.models.fba_matting.FBAMatting`), TensorFlow-free.

The reference (CarveKit 4.1.2, ``carvekit/ml/arch/fba_matting/transforms.py`` and
``carvekit/ml/wrap/fba_matting.py``; FBA_Matting by Marco Forte) feeds the network:

* the image in [0, 1] and its normalisation ``(image - mean) / std`` with ImageNet's constants
  (:func:`groupnorm_normalise_image`; the model applies it itself);
* the two-channel trimap: channel 0 = known background, channel 1 = known foreground
  (:func:`two_channel_trimap`);
* ``trimap_transform``: for each known region ``k`` (when it is not empty), the Euclidean distance
  ``d`` of every pixel to the region (exact: :func:`squared_distance_to`) encoded as three
  Gaussians ``exp(-d^2 / (2 (s L)^2))``, ``L = 320``, ``s in (0.02, 0.08, 0.16)``: six channels,
  background's first (:func:`trimap_transform`).

Working size (:func:`plan_fba`): the network needs sides that are multiples of 8 and its cost
grows with the pixel count. By default (``band_only``) FBA sees only the bounding box of the
trimap's unknown region plus ``margin`` (the rest of the alpha is known), and that box is scaled
down so its long side is at most ``max_side`` (default 1024; CarveKit caps at 2048, see
:data:`DEFAULT_MAX_SIDE`). The box is then padded
(edge replicate) to a multiple of 8, where CarveKit resizes with Lanczos; padding leaves the pixels
untouched and the padding is cropped off the outputs.

Back at the photo's size (:func:`finish_fba`): the alpha is 0 on known background and 1 on known
foreground (the reference zeroes the known background; CarveKit's extra ``alpha < 0.3 -> 0`` is not
applied: it cuts fine hair). In the unknown region alpha, F and B are sampled bilinearly from the
working size; a downscaled F and B are then corrected by the smallest change that makes
``alpha F + (1 - alpha) B`` equal the full-resolution photo (as :mod:`RMBG.matting.foreground`
does), so the cutout keeps the photo's texture. F is the photo itself outside the unknown region.

Channel order: CarveKit's wrapper reverses the PIL image to BGR before the network
(``image[:, :, ::-1]``) while FBA_Matting's own demo feeds RGB (``cv2.imread(...)[:, :, ::-1]``)
with RGB ImageNet constants; ``channel_order="rgb"`` (default) follows the paper's code,
``"bgr"`` reproduces CarveKit's wrapper. F and B come back in RGB either way.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

import RMBG.models.fba_matting  # noqa: F401  (registers the preset, whether or not RMBG.models lists it)
from RMBG.matting.closed_form import as_rgb_float, bounding_box, sample_at, scaled_size
from RMBG.matting.postprocessors import trimap_config_from_options
from RMBG.matting.trimap import make_trimap, split_trimap
from RMBG.registry import create_model, load_model
from RMBG.registry.preset import IMAGENET_MEAN, IMAGENET_STD

logger = logging.getLogger(__name__)

#: The reference's ``group_norm_mean`` / ``group_norm_std`` (ImageNet, RGB, on [0, 1] colours).
FBA_MEAN = IMAGENET_MEAN
FBA_STD = IMAGENET_STD
#: ``trimap_transform``: length scale ``L`` and the three Gaussian widths (fractions of ``L``).
TRANSFORM_LENGTH = 320.0
TRANSFORM_SCALES = (0.02, 0.08, 0.16)
#: The network's sides must be multiples of this.
SIZE_MULTIPLE = 8
#: Working-size cap of the long side. CarveKit uses 2048 (``FBAMatting(input_tensor_size=2048)``, a
#: GPU setting); on CPU a 24 MP photo's band at 2048 px needed more than 15 GB (stopped there on a
#: 24 GB machine), at 1024 px 7.7 GB peak RSS and 119 s on 2 shared cores, hence 1024 here.
DEFAULT_MAX_SIDE = 1024
#: Context around the unknown region's bounding box, in working-size pixels (``band_only``).
DEFAULT_MARGIN = 64
CHANNEL_ORDERS = ("rgb", "bgr")


def groupnorm_normalise_image(image: np.ndarray, mean=FBA_MEAN, std=FBA_STD) -> np.ndarray:
    """``(image - mean) / std`` over the last axis of an ``(..., 3)`` float image in [0, 1] (float32).

    Raises:
        ValueError: the last axis is not 3 channels.
    """
    image = np.asarray(image, np.float32)
    if image.shape[-1] != 3:
        raise ValueError(f"image: expected (..., 3) colours, got shape {image.shape}")
    return (image - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)


def two_channel_trimap(trimap: np.ndarray) -> np.ndarray:
    """``HxWx2`` float32: channel 0 = known background, channel 1 = known foreground, 0/1 values.

    Args:
        trimap: ``HxW`` uint8 0/128/255 (or float 0/0.5/1; see :func:`RMBG.matting.trimap.split_trimap`).
    """
    is_fg, is_bg, _ = split_trimap(trimap)
    return np.stack([is_bg, is_fg], axis=-1).astype(np.float32)


def squared_distance_to(region: np.ndarray) -> np.ndarray:
    """Exact squared Euclidean distance (float32 integers) of every pixel to the nearest ``True``
    pixel of the ``HxW`` boolean ``region`` (0 on the region).

    OpenCV's ``DIST_MASK_PRECISE`` transform is exact up to its float32 square root, and that
    rounding differs between CPUs and even between calls on one CPU (IPP's code path depends on the
    buffer's alignment: one Intel Xeon gave 1-ulp differences on the same trimap twice). The true
    squared distance is an integer ``dy^2 + dx^2``, so rounding ``d^2`` (computed in float64) to the
    nearest integer recovers it exactly while ``d`` is within ``k`` ulp (2^-24 relative each) and
    ``d^2 < 2^22 / k``; that is beyond the encoding's range for any ``k <= 7``: the widest Gaussian
    of :func:`trimap_transform` underflows to 0 from ``d^2 ~ 5.5e5``. The result is the same on
    every CPU and every call.

    Raises:
        ValueError: ``region`` is not 2-D.
    """
    region = np.asarray(region, bool)
    if region.ndim != 2:
        raise ValueError(f"region: expected an HxW boolean mask, got shape {region.shape}")
    # distanceTransform measures the distance to the nearest zero pixel: zero on the region.
    outside = np.where(region, 0, 255).astype(np.uint8)
    distance = cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE).astype(np.float64)
    return np.rint(np.square(distance)).astype(np.float32)


def trimap_transform(two_channel: np.ndarray) -> np.ndarray:
    """FBA's distance encoding ``HxWx6`` float32 of a two-channel trimap (see the module docstring).

    A channel's region is where its value is above 0.5; an empty region leaves its three channels 0.
    Distances are exact (:func:`squared_distance_to`), so the encoding is bit-identical across CPUs.

    Raises:
        ValueError: not an ``HxWx2`` array.
    """
    two_channel = np.asarray(two_channel)
    if two_channel.ndim != 3 or two_channel.shape[2] != 2:
        raise ValueError(f"two_channel: expected an HxWx2 trimap (background, foreground), got shape {two_channel.shape}")
    height, width = two_channel.shape[:2]
    encoded = np.zeros((height, width, 6), np.float32)
    for k in range(2):
        region = two_channel[..., k] > 0.5
        if not region.any():
            continue
        negative_squared = -squared_distance_to(region)
        for j, scale in enumerate(TRANSFORM_SCALES):
            encoded[..., 3 * k + j] = np.exp(negative_squared / np.float32(2.0 * (scale * TRANSFORM_LENGTH) ** 2))
    return encoded


def padded_size(height: int, width: int, multiple: int = SIZE_MULTIPLE) -> tuple[int, int]:
    """``(height, width)`` rounded up to multiples of ``multiple``."""
    return -(-height // multiple) * multiple, -(-width // multiple) * multiple


@dataclass(frozen=True)
class FBAPlan:
    """Where and at what size FBA runs for one photo.

    Attributes:
        box: ``(top, bottom, left, right)`` of the photo region FBA sees (half-open).
        size: ``(height, width)`` of that region at the working scale (before padding).
        padded: ``(height, width)`` fed to the network (multiples of 8).
    """

    box: tuple[int, int, int, int]
    size: tuple[int, int]
    padded: tuple[int, int]

    @property
    def scaled(self) -> bool:
        """Whether the region is resampled (else FBA sees the photo's own pixels)."""
        return self.size != (self.box[1] - self.box[0], self.box[3] - self.box[2])


def plan_fba(unknown: np.ndarray, *, max_side: int | None = DEFAULT_MAX_SIDE, band_only: bool = True,
             margin: int = DEFAULT_MARGIN) -> FBAPlan:
    """The :class:`FBAPlan` for a photo whose trimap's unknown region is ``unknown`` (``HxW`` bool).

    Args:
        max_side: cap of the region's long side at the working scale (None: no cap).
        band_only: crop to the unknown region's bounding box plus ``margin`` (else the whole photo).
        margin: context in working-size pixels kept around the bounding box.

    Raises:
        ValueError: bad ``max_side`` or ``margin``.
    """
    if max_side is not None and (not isinstance(max_side, (int, np.integer)) or max_side < SIZE_MULTIPLE):
        raise ValueError(f"max_side: expected None or an int >= {SIZE_MULTIPLE} (pixels), got {max_side!r}")
    if not isinstance(margin, (int, np.integer)) or margin < 0:
        raise ValueError(f"margin: expected an int >= 0 (pixels), got {margin!r}")
    height, width = unknown.shape
    if band_only and unknown.any():
        box = bounding_box(unknown, 0)
        long_side = max(box[1] - box[0], box[3] - box[2]) + 2 * margin
        scale = 1.0 if max_side is None else min(1.0, max_side / long_side)
        box = bounding_box(unknown, int(np.ceil(margin / scale)))
    else:
        box = (0, height, 0, width)
    box_h, box_w = box[1] - box[0], box[3] - box[2]
    scale = 1.0 if max_side is None else min(1.0, max_side / max(box_h, box_w))
    size = scaled_size(box_h, box_w, scale)
    return FBAPlan(box=box, size=size, padded=padded_size(*size))


def prepare_fba(image: np.ndarray, trimap: np.ndarray, plan: FBAPlan, *, channel_order: str = "rgb") -> dict[str, np.ndarray]:
    """The network's inputs (batch of 1, NHWC float32) for ``plan``: ``image``, ``trimap``, ``trimap_transform``.

    The image region is resized with ``INTER_AREA`` (antialiased) when the plan scales, the
    trimap with nearest neighbour (it stays categorical); both are padded by edge replication.

    Raises:
        ValueError: a bad ``channel_order``, or image and trimap of different sizes.
    """
    if channel_order not in CHANNEL_ORDERS:
        raise ValueError(f"channel_order: expected one of {CHANNEL_ORDERS}, got {channel_order!r}")
    if trimap.shape[:2] != image.shape[:2]:
        raise ValueError(f"trimap: size {trimap.shape[1]}x{trimap.shape[0]} differs from the image's {image.shape[1]}x{image.shape[0]} (WxH)")
    top, bottom, left, right = plan.box
    colours = as_rgb_float(image[top:bottom, left:right])
    two = two_channel_trimap(trimap[top:bottom, left:right])
    if plan.scaled:
        colours = cv2.resize(colours, plan.size[::-1], interpolation=cv2.INTER_AREA)
        two = cv2.resize(two, plan.size[::-1], interpolation=cv2.INTER_NEAREST)
    pad_h, pad_w = plan.padded[0] - plan.size[0], plan.padded[1] - plan.size[1]
    if pad_h or pad_w:
        colours = cv2.copyMakeBorder(colours, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
        two = cv2.copyMakeBorder(two, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
    if channel_order == "bgr":
        colours = colours[..., ::-1]
    return {
        "image": np.ascontiguousarray(colours, np.float32)[None],
        "trimap": two[None],
        "trimap_transform": trimap_transform(two)[None],
    }


def finish_fba(output: np.ndarray, image: np.ndarray, trimap: np.ndarray, plan: FBAPlan, *,
               channel_order: str = "rgb") -> tuple[np.ndarray, np.ndarray]:
    """``(alpha HxW, foreground HxWx3)`` float32 in [0, 1] at the photo's size from FBA's output.

    Args:
        output: ``(1, H', W', 7)`` or ``(H', W', 7)``, the network's output for ``plan``.
        image, trimap: the photo (uint8 or float RGB) and its ``0/128/255`` trimap.
    """
    output = np.asarray(output, np.float32)
    if output.ndim == 4:
        output = output[0]
    if output.shape != (*plan.padded, 7):
        raise ValueError(f"output: expected shape {(*plan.padded, 7)} for this plan, got {output.shape}")
    if channel_order == "bgr":
        output = np.concatenate([output[..., :1], output[..., 3:0:-1], output[..., 6:3:-1]], axis=-1)
    output = output[: plan.size[0], : plan.size[1]]
    is_fg, _, unknown = split_trimap(trimap)
    alpha = is_fg.astype(np.float32)
    foreground = as_rgb_float(image).copy()
    top, bottom, left, right = plan.box
    rows, cols = np.nonzero(unknown[top:bottom, left:right])
    if not len(rows):
        return alpha, foreground
    if plan.scaled:
        scale_y, scale_x = plan.size[0] / (bottom - top), plan.size[1] / (right - left)
        sampled = sample_at(output, rows, cols, scale_y, scale_x)
        a, f, b = np.clip(sampled[:, :1], 0.0, 1.0), sampled[:, 1:4], sampled[:, 4:7]
        colours = foreground[rows + top, cols + left]
        residual = colours - a * f - (1.0 - a) * b
        f = f + residual * (a / (a * a + (1.0 - a) ** 2))
    else:
        values = output[rows, cols]
        a, f = values[:, :1], values[:, 1:4]
    alpha[rows + top, cols + left] = a[:, 0]
    foreground[rows + top, cols + left] = np.clip(f, 0.0, 1.0)
    return alpha, foreground


def fba_matte(model: Any, image: np.ndarray, trimap: np.ndarray, *, max_side: int | None = DEFAULT_MAX_SIDE,
              band_only: bool = True, margin: int = DEFAULT_MARGIN, channel_order: str = "rgb") -> tuple[np.ndarray, np.ndarray]:
    """``(alpha HxW, foreground HxWx3)`` of a photo and its trimap with an FBA model.

    Args:
        model: a callable on the dict of :func:`prepare_fba` returning ``(1, H, W, 7)`` (a Keras
            :class:`~RMBG.models.fba_matting.FBAMatting`, or an exported-model runner).
        image: ``HxWx3`` uint8 RGB (or float in [0, 1]).
        trimap: ``HxW`` uint8 0/128/255.
        max_side, band_only, margin: see :func:`plan_fba`; channel_order: ``"rgb"`` or ``"bgr"``
            (CarveKit's wrapper), see the module docstring.

    Raises:
        ValueError: bad arrays or options (the message names them).
    """
    is_fg, _, unknown = split_trimap(trimap)
    if not unknown.any():
        logger.info("fba_matte: the trimap has no unknown pixel; the alpha is the trimap itself")
        return is_fg.astype(np.float32), as_rgb_float(image).copy()
    plan = plan_fba(unknown, max_side=max_side, band_only=band_only, margin=margin)
    started = time.perf_counter()
    inputs = prepare_fba(image, trimap, plan, channel_order=channel_order)
    output = model(inputs)
    output = output.numpy() if hasattr(output, "numpy") else np.asarray(output)
    logger.debug("fba_matte: box %s at %s (padded %s), %.2f s", plan.box, plan.size, plan.padded, time.perf_counter() - started)
    return finish_fba(output, image, trimap, plan, channel_order=channel_order)


#: The trimap preset of CarveKit's FBA pipeline (threshold 231, dilation offset 30, 5 erosions).
DEFAULT_TRIMAP = "carvekit"
#: Registry name of the network (its official weights by default).
DEFAULT_MODEL = "fba_matting"


#: What ``fba_model`` (``--post-weights``) takes as a file: a checkpoint, a Keras file, or an export
#: (``python -m RMBG export -m fba_matting -f onnx``; the ``.onnx`` runs on onnxruntime, no TensorFlow).
FBA_MODEL_SUFFIXES = (".pth", ".pt", ".keras", ".onnx", ".tflite")


@functools.lru_cache(maxsize=2)
def _model_from_checkpoint(path: str, _stamp: tuple[int, int]):
    return create_model(DEFAULT_MODEL, weights=path)


def check_fba_model_file(path: str | os.PathLike, argument: str = "fba_model") -> None:
    """Before any model loads: ``path`` is a kind of file FBA takes and, for an export, FBA's.

    Args:
        path: an existing file (``--post-weights``, the server's ``post_weights``).
        argument: the name the error messages give the path.

    Raises:
        ValueError: another suffix, an unreadable export, or an export of another layout.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FBA_MODEL_SUFFIXES:
        raise ValueError(f"{argument}: '{path}' is a '{suffix}' file; FBA takes {', '.join(FBA_MODEL_SUFFIXES)} "
                         "(a checkpoint, a Keras file, or `python -m RMBG export -m fba_matting`'s file)")
    if suffix in (".onnx", ".tflite"):
        from RMBG.export import read_metadata  # deferred: onnx / flatbuffer parsing only for an export

        try:
            layout = read_metadata(path).get("layout")
        except Exception as error:  # a damaged file raises the parser's own errors: report them as this file's
            raise ValueError(f"{argument}: cannot read '{path}' as an RMBG export ({error})") from None
        if layout != "fba":
            raise ValueError(f"{argument}: '{path}' is an RMBG export of layout {layout!r}, not FBA's; "
                             "write one with `python -m RMBG export -m fba_matting -f onnx`")


@functools.lru_cache(maxsize=2)
def _runner_from_export(path: str, _stamp: tuple[int, int]):
    if path.endswith(".onnx"):
        from RMBG.export.fba_onnx import OnnxFBA  # deferred: onnxruntime only for an ONNX export

        return OnnxFBA(path)
    from RMBG.export.fba_tflite import TFLiteFBA  # deferred: the TFLite interpreter only for a .tflite

    return TFLiteFBA(path)


def resolve_fba_model(model: Any = None):
    """The FBA network for ``model``.

    Args:
        model: None (the ``fba_matting`` preset with its official weights), a registry name, a
            ``.pth`` checkpoint (official layout, e.g. fine-tuned: placed strictly into
            ``create_model("fba_matting", weights=path)``, cached while the file is unchanged), a
            ``.keras`` file, an FBA export (``.onnx``: :class:`~RMBG.export.fba_onnx.OnnxFBA` on
            onnxruntime, without TensorFlow; ``.tflite``: :class:`~RMBG.export.fba_tflite.TFLiteFBA`;
            cached while the file is unchanged), or a model object.

    Raises:
        FileNotFoundError: a ``.pth``, ``.onnx`` or ``.tflite`` path that does not exist.
        ValueError: an ``.onnx`` or ``.tflite`` file that is not an FBA export.
        RMBG.weights.sources.WeightsUnavailableError: the official weights are needed but absent.
    """
    suffix = Path(model).suffix.lower() if isinstance(model, (str, os.PathLike)) else None
    if suffix in (".pth", ".pt", ".onnx", ".tflite"):
        path = Path(model).resolve()
        if not path.is_file():
            what = "checkpoint" if suffix in (".pth", ".pt") else "export"
            raise FileNotFoundError(f"fba_model: no such {what} '{model}'; pass an FBA .pth (resnet50_GN_WS state dict) "
                                    "or a file of `python -m RMBG export -m fba_matting`")
        stat = path.stat()
        load = _model_from_checkpoint if suffix in (".pth", ".pt") else _runner_from_export
        return load(str(path), (stat.st_mtime_ns, stat.st_size))
    if model is not None and not isinstance(model, (str, os.PathLike)):
        return model

    return load_model(DEFAULT_MODEL if model is None else os.fspath(model), task=None)


def fba_postprocess(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    trimap: str = DEFAULT_TRIMAP,
    trimap_threshold: float | None = None,
    trimap_dilation: int | None = None,
    trimap_erosion: int | None = None,
    foreground_estimation: bool = True,
    fba_model: Any = None,
    max_side: int | None = DEFAULT_MAX_SIDE,
    band_only: bool = True,
    margin: int = DEFAULT_MARGIN,
    channel_order: str = "rgb",
) -> tuple[np.ndarray, np.ndarray | None]:
    """``post="fba"``: CarveKit's pipeline: trimap from the mask (``"carvekit"`` preset), FBA alpha,
    and FBA's predicted foreground as the cutout's colours (no halos).

    Args:
        image: ``HxWx3`` uint8 RGB photo; mask: ``HxW`` float mask in [0, 1] at its size.
        trimap, trimap_threshold, trimap_dilation, trimap_erosion: the trimap (see
            :func:`RMBG.matting.postprocessors.trimap_config_from_options`).
        foreground_estimation: return FBA's foreground (True) or None (the photo's colours are used).
        fba_model: see :func:`resolve_fba_model` (CLI: ``--post-weights file.pth``).
        max_side, band_only, margin, channel_order: see :func:`fba_matte`.

    Returns:
        ``(alpha HxW float32, foreground HxWx3 float32 or None)``.
    """
    if not isinstance(foreground_estimation, (bool, np.bool_)):
        raise TypeError(f"foreground_estimation: expected True or False, got {foreground_estimation!r}")
    config = trimap_config_from_options(trimap, trimap_threshold, trimap_dilation, trimap_erosion)
    trimap_array = make_trimap(mask, config)
    alpha, foreground = fba_matte(resolve_fba_model(fba_model), image, trimap_array, max_side=max_side,
                                  band_only=band_only, margin=margin, channel_order=channel_order)
    return alpha, foreground if foreground_estimation else None

"""The one preset schema: everything the registry knows about a model, as data.

A preset never imports its family's code: the builder and the weight importer are named as
``"module:function"`` strings and imported only when a model is built, so listing models, the CLI
and the TensorFlow-free runtime never pay for TensorFlow.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from RMBG.weights.sources import WeightFile

#: ImageNet statistics of RGB values scaled to [0, 1] (the convention of most pretrained encoders).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: What a model does. ``segmentation`` models (photo → mask) remove backgrounds by themselves;
#: ``matting`` (photo + trimap → alpha) and ``refinement`` (photo + mask → mask) models serve as
#: post-processors of a segmentation model.
TASKS = ("segmentation", "matting", "refinement")


@dataclass(frozen=True)
class Preset:
    """A registered model.

    Attributes:
        name: the registry name (``create_model(name)``, ``--model name``).
        family: the model family folder under ``RMBG/models``.
        task: one of :data:`TASKS`.
        description: one line for tables and ``--help``.
        builder: ``"module:function"`` (or, for ad-hoc registrations such as tests, the callable)
            returning the Keras model; called with ``config`` merged with the caller's overrides.
        config: the builder's keyword arguments. ``image_size``, ``mean``, ``std``, ``scaling``
            and ``interpolation``, when the builder takes them, describe the preprocessing that
            travels inside the model (and its exported artefact).
        weights: the pretrained weight file (source URLs, checksums, licence), or ``None``.
        importer: ``"module:function"``; ``importer(model, path)`` places the tensors of a weight
            file (the verified official file, or a user's own checkpoint) strictly into ``model``.
        weights_dirs: extra local folders that may hold ``weights.filename`` (relative paths are
            relative to the ``RMBG`` package: weights shipped inside it).
        params: the trainable parameter count of the default configuration (tested).
        license: the licence of the pretrained weights (or of the architecture when there are none).
    """

    name: str
    family: str
    task: str
    description: str
    builder: str | Callable[..., Any]
    config: Mapping[str, Any] = field(default_factory=dict)
    weights: WeightFile | None = None
    importer: str | None = None
    weights_dirs: tuple[str, ...] = ()
    params: int | None = None
    license: str = ""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"preset {self.name!r}: task must be one of {TASKS}, got {self.task!r}")
        if isinstance(self.builder, str) and ":" not in self.builder:
            raise ValueError(f"preset {self.name!r}: builder must be 'module:function', got {self.builder!r}")
        if self.weights is not None and self.importer is None:
            raise ValueError(f"preset {self.name!r}: has weights but no importer to place them")
        if self.importer is not None and ":" not in self.importer:
            raise ValueError(f"preset {self.name!r}: importer must be 'module:function', got {self.importer!r}")

    @property
    def input_size(self) -> tuple[int, int] | None:
        """The ``(height, width)`` the model works at, or ``None`` (any size)."""
        size = self.config.get("image_size")
        return tuple(int(v) for v in size) if size else None

    @property
    def mean(self) -> tuple[float, ...] | None:
        """Per-channel mean of the model's input normalisation (after scaling), if any."""
        return self.config.get("mean")

    @property
    def std(self) -> tuple[float, ...] | None:
        """Per-channel standard deviation of the model's input normalisation, if any."""
        return self.config.get("std")

    @property
    def pretrained(self) -> bool:
        """Whether the preset has pretrained weights."""
        return self.weights is not None


def resolve(target: str | Callable[..., Any]) -> Callable[..., Any]:
    """The callable named by ``"module:function"`` (imported now), or ``target`` itself."""
    if callable(target):
        return target
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)

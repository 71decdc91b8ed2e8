"""One registry of models: names → builders and presets (timm-style).

``create_model(name, pretrained=False, **overrides)`` builds a :class:`~RMBG.models.segmenter.Segmenter`;
``list_models()`` gives the names the CLI offers and the docs tabulate. Families register their
presets when ``RMBG.models`` is imported.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from RMBG.weights.sources import WeightFile


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: how to build it and, if it has them, where its pretrained weights are.

    Attributes:
        name: the registry name.
        family: the model family folder (``u2net``, ``resnet50_unet``...).
        description: one line for tables and ``--help``.
        builder: ``builder(**config) -> Segmenter``.
        config: the preset's builder arguments; ``create_model`` overrides merge into these.
        weights: the pretrained weight file, or ``None`` (train it yourself).
        load_pretrained: ``load_pretrained(model, weights)`` places the weights into a built model.
        params: expected trainable parameter count of the default configuration.
        input_size: the preset's ``(height, width)``.
        license: the license of the pretrained weights.
        task: ``"segmentation"`` (photo → mask: removes backgrounds by itself), ``"matting"``
            (photo + trimap → alpha) or ``"refinement"`` (photo + coarse mask → mask); the last two
            serve as post-processors of a segmentation model.
    """

    name: str
    family: str
    description: str
    builder: Callable[..., Any]
    config: Mapping[str, Any] = field(default_factory=dict)
    weights: WeightFile | None = None
    load_pretrained: Callable[[Any, WeightFile], None] | None = None
    params: int | None = None
    input_size: tuple[int, int] | None = None
    license: str = ""
    task: str = "segmentation"


TASKS = ("segmentation", "matting", "refinement")

_MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the registry (a name can be registered once)."""
    if spec.task not in TASKS:
        raise ValueError(f"model {spec.name!r}: task must be one of {TASKS}, got {spec.task!r}")
    if spec.name in _MODELS and _MODELS[spec.name] != spec:
        raise ValueError(f"model name {spec.name!r} is already registered by family {_MODELS[spec.name].family!r}")
    _MODELS[spec.name] = spec
    return spec


def _registered() -> dict[str, ModelSpec]:
    import RMBG.models  # noqa: F401  (families register on import)

    return _MODELS


def list_models(*, pretrained: bool | None = None, task: str | None = None) -> list[str]:
    """Registered model names, sorted.

    Args:
        pretrained: ``True`` keeps models with pretrained weights, ``False`` those without.
        task: keep one task of :data:`TASKS` (``"segmentation"`` models remove backgrounds alone).
    """
    if task is not None and task not in TASKS:
        raise ValueError(f"task: expected one of {TASKS}, got {task!r}")
    models = _registered()
    return sorted(
        n for n, s in models.items()
        if (pretrained is None or (s.weights is not None) == pretrained) and (task is None or s.task == task)
    )


def model_info(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name``; an unknown name raises listing the valid ones."""
    models = _registered()
    if name not in models:
        raise ValueError(f"model: unknown name {name!r}; valid names are {', '.join(sorted(models))}")
    return models[name]


def create_model(name: str, *, pretrained: bool = False, **overrides: Any):
    """Build a registered model.

    Args:
        name: a name from :func:`list_models`.
        pretrained: load the preset's pretrained weights (fetched and verified, see
            :mod:`RMBG.weights.sources`). Architecture overrides then make loading fail loudly.
        **overrides: builder arguments replacing the preset's (e.g. ``image_size=(512, 512)``).

    Returns:
        A built :class:`~RMBG.models.segmenter.Segmenter`.

    Raises:
        ValueError: unknown name, or ``pretrained=True`` for a model without pretrained weights.
        TypeError: an override the builder does not take (the message lists the valid ones).
    """
    spec = model_info(name)
    accepted = set(inspect.signature(spec.builder).parameters)
    unknown = sorted(set(overrides) - accepted)
    if unknown:
        raise TypeError(f"create_model({name!r}): unknown overrides {unknown}; valid ones are {sorted(accepted)}")
    config = {**spec.config, **overrides}
    config.setdefault("name", name)
    model = spec.builder(**config)
    if pretrained:
        if spec.weights is None or spec.load_pretrained is None:
            raise ValueError(
                f"model {name!r} has no pretrained weights; models with weights: {', '.join(list_models(pretrained=True))}"
            )
        spec.load_pretrained(model, spec.weights)
    return model


def load_pretrained(name: str = "u2netp", **overrides: Any):
    """``create_model(name, pretrained=True, **overrides)``."""
    return create_model(name, pretrained=True, **overrides)

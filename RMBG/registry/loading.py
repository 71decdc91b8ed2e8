"""``load_model``: a Keras model from a registry name, a ``.keras`` file, a registry name with a
local weight file (:class:`ModelWithWeights`) or a model object, through one cache shared by the
remover, the post-processors and the server.

A ``.keras`` file names the module of every custom object it holds (``"module"`` in its
``config.json``); the RMBG modules named there are imported before loading, which registers their
serializable classes, so a checkpoint loads in a fresh process with no ``custom_objects``.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from RMBG.registry.build import create_model
from RMBG.registry.store import list_models, model_info

_CACHE_SIZE = 4
_lock = threading.Lock()


def check_keras_file(path: str | os.PathLike) -> Path:
    """Check, without Keras, that ``path`` is a readable ``.keras`` archive with a model config.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a zip archive, or no ``config.json`` inside (not a Keras 3 model file).
    """
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"model: no such file '{source}'")
    try:
        with zipfile.ZipFile(source) as archive:
            if "config.json" not in archive.namelist():
                raise ValueError(f"model: '{source}' is a zip file but holds no config.json; it is not a Keras 3 .keras model")
    except zipfile.BadZipFile:
        raise ValueError(f"model: '{source}' is not a .keras file (not a zip archive); was it truncated?") from None
    return source


@dataclass(frozen=True)
class ModelWithWeights:
    """A registry model built with a local weight file (e.g. a fine-tuned ``.pth``) instead of its
    official weights: what ``remove --model NAME --weights FILE`` runs.

    Everything that takes a registry name takes it too: :func:`load_model` builds it with
    ``create_model(name, weights=weights)`` (cached while the file is unchanged) and the runtime
    and export caches key its artefacts by the file's sha256 (:func:`RMBG.export.metadata.model_source`),
    so a changed file gets a new artefact. Made with :meth:`of`, which checks the name and the file
    without TensorFlow.

    Attributes:
        name: a registered model whose family has a weight importer.
        weights: the weight file, absolute.
    """

    name: str
    weights: Path

    @classmethod
    def of(cls, name: str, weights: str | os.PathLike, task: str | None = None) -> "ModelWithWeights":
        """Check ``name`` and ``weights``, then make the value.

        Raises:
            ValueError: an unknown name, a name of another ``task``, a family with no weight importer.
            FileNotFoundError: no such weight file.
        """
        if name not in list_models():
            raise ValueError(f"model: {name!r} is not a registered model ({', '.join(list_models())})")
        check_task(name, task)
        preset = model_info(name)
        if preset.importer is None:
            raise ValueError(f"weights: model {name!r} (family {preset.family}) has no weight importer; "
                             "save the trained model as a .keras file and pass that instead")
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"weights: no such file '{path}'; pass the path of a checkpoint of {name}")
        return cls(name, path.resolve())

    def __str__(self) -> str:
        return f"{self.name} (weights {self.weights})"


def _modules_in(config: Any) -> Iterator[str]:
    if isinstance(config, dict):
        module = config.get("module")
        if isinstance(module, str) and module.startswith("RMBG."):
            yield module
        for value in config.values():
            yield from _modules_in(value)
    elif isinstance(config, list):
        for value in config:
            yield from _modules_in(value)


def import_custom_objects(path: str | os.PathLike) -> list[str]:
    """Import the RMBG modules a ``.keras`` file's objects come from (registers their classes)."""
    with zipfile.ZipFile(check_keras_file(path)) as archive:
        config = json.loads(archive.read("config.json"))
    modules = sorted(set(_modules_in(config)))
    for module in modules:
        importlib.import_module(module)
    return modules


def check_task(name: str, task: str | None) -> None:
    """Raise unless registry model ``name`` exists and has ``task`` (``None``: any task).

    Raises:
        ValueError: unknown name, or another task (with what to use instead).
    """
    preset = model_info(name)
    if task is None or preset.task == task:
        return
    hint = ""
    if task == "segmentation":
        hint = (f": it does not remove backgrounds by itself; use a segmentation model "
                f"({', '.join(list_models(task='segmentation'))}) with --post instead")
    raise ValueError(f"model: {name!r} is a {preset.task} model, not a {task} model{hint}")


def check_pretrained_name(name: str, task: str | None = "segmentation") -> None:
    """Raise unless ``name`` is a registered model of ``task`` with pretrained weights.

    Raises:
        ValueError: an unknown name (lists the valid ones), another task, or no pretrained weights
            (each message says what to use instead).
    """
    if name not in list_models():
        raise ValueError(
            f"model: {name!r} is neither a registered model ({', '.join(list_models())}) nor a .keras file"
        )
    check_task(name, task)
    if name not in list_models(pretrained=True):
        raise ValueError(
            f"model: {name!r} has no pretrained weights; train it (python -m RMBG train) and pass the "
            f".keras checkpoint, or use one of {', '.join(list_models(pretrained=True, task=task))}"
        )


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _load_cached(kind: str, key: Any, _stamp: Any) -> Any:
    if kind == "file":
        import keras  # deferred: TensorFlow stays out of `import RMBG`; only loading a model needs Keras

        import_custom_objects(key)
        return keras.saving.load_model(key)

    if kind == "weights":
        name, path = key
        return create_model(name, weights=path)
    return create_model(key, pretrained=True)


def load_model(model: Any, *, task: str | None = "segmentation", cache: bool = True) -> Any:
    """A Keras model from a registry name (pretrained), a ``.keras`` path, a
    :class:`ModelWithWeights` or a model object.

    Models loaded by name, path or name with weights are cached (a few at once; a file is reloaded
    when it changes), so the remover, the post-processors and the server share one copy.

    Args:
        model: the name, path, name with weights, or model (returned as is).
        task: the task a registry name must have (``None``: any).
        cache: use the shared cache.

    Raises:
        ValueError: an unknown name (lists the valid ones), a name of another task, a name with
            no pretrained weights, or a file that is not a Keras model.
        FileNotFoundError: a ``.keras`` path that does not exist.
        TypeError: anything else.
    """
    if isinstance(model, ModelWithWeights):
        check_task(model.name, task)
        stat = model.weights.stat()  # FileNotFoundError if it went away since ModelWithWeights.of
        key, kind, stamp = (model.name, str(model.weights)), "weights", (stat.st_mtime_ns, stat.st_size)
    elif not isinstance(model, (str, os.PathLike)):
        if hasattr(model, "predict") and hasattr(model, "get_config"):
            return model
        raise TypeError(f"model: expected a registry name, a .keras path or a keras.Model, got {type(model).__name__}")
    elif os.fspath(model).endswith(".keras"):
        path = check_keras_file(model).resolve()
        stat = path.stat()
        key, kind, stamp = str(path), "file", (stat.st_mtime_ns, stat.st_size)
    else:
        text = os.fspath(model)
        check_pretrained_name(text, task)
        key, kind, stamp = text, "name", model_info(text).weights.checksum
    if not cache:
        return _load_cached.__wrapped__(kind, key, stamp)
    with _lock:
        return _load_cached(kind, key, stamp)


def clear_model_cache() -> None:
    """Forget every cached model (tests; freeing memory in long-lived processes)."""
    _load_cached.cache_clear()

"""``load_model``: a Keras model from a registry name, a ``.keras`` file or a model object,
through one cache shared by the remover, the post-processors and the server.

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
def _load_cached(kind: str, key: str, _stamp: Any) -> Any:
    if kind == "file":
        import keras  # deferred: TensorFlow stays out of `import RMBG`; only loading a model needs Keras

        import_custom_objects(key)
        return keras.saving.load_model(key)

    return create_model(key, pretrained=True)


def load_model(model: Any, *, task: str | None = "segmentation", cache: bool = True) -> Any:
    """A Keras model from a registry name (pretrained), a ``.keras`` path, or a model object.

    Models loaded by name or path are cached (a few at once; a file is reloaded when it changes),
    so the remover, the post-processors and the server share one copy.

    Args:
        model: the name, path or model (returned as is).
        task: the task a registry name must have (``None``: any).
        cache: use the shared cache.

    Raises:
        ValueError: an unknown name (lists the valid ones), a name of another task, a name with
            no pretrained weights, or a file that is not a Keras model.
        FileNotFoundError: a ``.keras`` path that does not exist.
        TypeError: anything else.
    """
    if not isinstance(model, (str, os.PathLike)):
        if hasattr(model, "predict") and hasattr(model, "get_config"):
            return model
        raise TypeError(f"model: expected a registry name, a .keras path or a keras.Model, got {type(model).__name__}")
    text = os.fspath(model)
    if text.endswith(".keras"):
        path = check_keras_file(text).resolve()
        stat = path.stat()
        key, kind, stamp = str(path), "file", (stat.st_mtime_ns, stat.st_size)
    else:
        check_pretrained_name(text, task)
        key, kind, stamp = text, "name", model_info(text).weights.checksum
    if not cache:
        return _load_cached.__wrapped__(kind, key, stamp)
    with _lock:
        return _load_cached(kind, key, stamp)


def clear_model_cache() -> None:
    """Forget every cached model (tests; freeing memory in long-lived processes)."""
    _load_cached.cache_clear()

"""Read a PyTorch checkpoint (``.pth``, the zip format of ``torch.save``) into numpy, without torch.

Why our own reader rather than ``torch.load``: the runtime must not need torch (2 GB), and a
``.pth`` is a pickle, which can run arbitrary code. This unpickler resolves only the handful of
globals a state dict needs (``OrderedDict``, tensor rebuilding, the storage types); any other
global raises, so a malicious file cannot execute code. ``torch.load(weights_only=True)`` applies
the same idea inside torch; both give the same arrays (tested against torch).

The zip layout: ``<root>/data.pkl`` (the pickled structure), ``<root>/data/<key>`` (one raw
little-endian buffer per storage), ``<root>/byteorder`` (optional, ``little``).
"""

from __future__ import annotations

import collections
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

#: torch storage classes → numpy dtypes.
_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": None, "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class UnsafeCheckpointError(pickle.UnpicklingError):
    """The checkpoint's pickle asks for a global a state dict never needs."""


class _StorageType:
    def __init__(self, name: str):
        if name not in _STORAGE_DTYPES:
            raise UnsafeCheckpointError(f"unknown storage type torch.{name}")
        self.name = name


def _rebuild_tensor(storage: np.ndarray, offset: int, size, stride, *_ignored) -> np.ndarray:
    """A tensor view of ``storage`` (a flat array) with torch's ``size`` and ``stride`` (in elements)."""
    if not size:
        return np.array(storage[offset])
    itemsize = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride), writeable=False
    )
    return np.ascontiguousarray(view)


def _rebuild_parameter(data: np.ndarray, *_ignored) -> np.ndarray:
    return data


class _RestrictedUnpickler(pickle.Unpickler):
    _ALLOWED = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }

    def __init__(self, handle, archive: zipfile.ZipFile, root: str, path: Path):
        super().__init__(handle)
        self._archive, self._root, self._path = archive, root, path
        self._storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        if module == "torch" and name.endswith("Storage"):
            return _StorageType(name)
        raise UnsafeCheckpointError(
            f"'{self._path}': the checkpoint asks for {module}.{name}, which a state dict never needs; "
            "refusing to unpickle it (it could run code). Save a plain state_dict (torch.save(model.state_dict(), path))."
        )

    def persistent_load(self, pid) -> np.ndarray:
        kind, storage_type, key, _location, _numel = pid
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise UnsafeCheckpointError(f"'{self._path}': unexpected persistent id {pid!r}")
        if key not in self._storages:
            dtype = _STORAGE_DTYPES[storage_type.name]
            raw = self._archive.read(f"{self._root}/data/{key}")
            if dtype is None:  # bfloat16: the upper half of a float32
                halves = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
                self._storages[key] = halves.view(np.float32)
            else:
                self._storages[key] = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
        return self._storages[key]


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The tensors of a ``torch.save`` zip checkpoint as ``{name: ndarray}``.

    A checkpoint that wraps the state dict (``{"state_dict": ...}`` or ``{"model": ...}``) is
    unwrapped; a ``module.`` prefix (DataParallel) is kept as saved (importers decide).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a zip checkpoint (the legacy pre-1.6 format), or it holds no tensors.
        UnsafeCheckpointError: the pickle references anything beyond tensors and dicts.
    """
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"weights: no such file '{source}'")
    if not zipfile.is_zipfile(source):
        raise ValueError(
            f"weights: '{source}' is not a zip-format PyTorch checkpoint (legacy torch<1.6 files are not read); "
            "re-save it with torch.save(state_dict, path) from torch>=1.6"
        )
    with zipfile.ZipFile(source) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ValueError(f"weights: '{source}' has {len(pickles)} data.pkl entries, expected 1")
        root = pickles[0][: -len("/data.pkl")]
        byteorder = f"{root}/byteorder"
        if byteorder in archive.namelist() and archive.read(byteorder).strip() != b"little":
            raise ValueError(f"weights: '{source}' was saved big-endian; re-save it on a little-endian machine")
        with archive.open(pickles[0]) as handle:
            state = _RestrictedUnpickler(handle, archive, root, source).load()
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"weights: '{source}' holds a {type(state).__name__}, not a state dict")
    tensors = {str(k): v for k, v in state.items() if isinstance(v, np.ndarray)}
    if not tensors:
        raise ValueError(f"weights: '{source}' holds no tensors")
    return tensors

"""Read a PyTorch ``.pth`` state dict into NumPy arrays without PyTorch and without running pickled code.

A ``torch.save`` file (the zip format, PyTorch 1.6+) holds ``<archive>/data.pkl``, a pickle that
names tensor rebuild functions and storage types, and one raw little-endian file per storage in
``<archive>/data/``. Unpickling such a file with :mod:`pickle` would import and call whatever
globals it names; :class:`RestrictedUnpickler` instead resolves only an allow-list of names
(``collections.OrderedDict``, the tensor/parameter rebuild functions, the storage types) to
functions of this module that build arrays, and refuses every other global. So a checkpoint can
never execute code, and PyTorch is not needed at run time (it is a test-only dependency of RMBG).
"""

from __future__ import annotations

import collections
import os
import pickle
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np


class UnsafeCheckpointError(pickle.UnpicklingError):
    """The checkpoint names a global outside the allow-list (it may carry code): refused."""


#: Storage types of the zip format → NumPy dtypes (bfloat16 is widened to float32 on read).
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16",
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name: str):
        self.name = name


def _rebuild_tensor(storage: np.ndarray, offset: int, size, stride, *_unused) -> np.ndarray:
    """``torch._utils._rebuild_tensor_v2``: a strided view of a storage, copied to a contiguous array."""
    size, stride = tuple(int(v) for v in size), tuple(int(v) for v in stride)
    if not size:
        return storage[offset:offset + 1].reshape(()).copy()
    needed = offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1
    if min(size) > 0 and needed > storage.size:
        raise pickle.UnpicklingError(f"a tensor of size {size} / stride {stride} / offset {offset} overruns its storage of {storage.size}")
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=tuple(s * storage.itemsize for s in stride), writeable=False
    )
    return np.ascontiguousarray(view)


def _rebuild_parameter(data: np.ndarray, *_unused) -> np.ndarray:
    """``torch._utils._rebuild_parameter``: a parameter is its data."""
    return data


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles ``data.pkl`` of a ``torch.save`` zip, resolving only allow-listed globals."""

    def __init__(self, handle, archive: zipfile.ZipFile, prefix: str, source: str):
        super().__init__(handle)
        self.archive = archive
        self.prefix = prefix
        self.source = source
        self.storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise UnsafeCheckpointError(
            f"'{self.source}' names the global {module}.{name}, which a plain state dict never needs; "
            "refusing to load it (it could run code). Re-save the checkpoint as a plain state dict: "
            "torch.save(model.state_dict(), path)"
        )

    def persistent_load(self, pid: Any) -> np.ndarray:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise UnsafeCheckpointError(f"'{self.source}': unexpected persistent id {pid!r}")
        _, storage_type, key, _location, count = pid
        if key not in self.storages:
            dtype = STORAGE_DTYPES[storage_type.name]
            raw = self.archive.read(f"{self.prefix}data/{key}")
            if dtype == "bfloat16":
                array = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
            else:
                array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
            if array.size != int(count):
                raise pickle.UnpicklingError(f"'{self.source}': storage {key} holds {array.size} values, the pickle says {count}")
            self.storages[key] = array
        return self.storages[key]


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The tensors of a ``torch.save`` state dict as ``{name: array}`` (no PyTorch, no code run).

    A checkpoint whose top level is ``{"state_dict": {...}}`` or ``{"model": {...}}`` is unwrapped.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: not a zip-format ``torch.save`` file, big-endian, or not a mapping of tensors.
        UnsafeCheckpointError: the pickle names a global outside the allow-list.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights: no such file '{path}'")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"weights: '{path}' is not a zip-format torch.save file (PyTorch >= 1.6 writes those); "
            "re-save it with a recent PyTorch: torch.save(torch.load(path, weights_only=True), path)"
        )
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if PurePosixPath(n).name == "data.pkl" and n.count("/") == 1]
        if len(pickles) != 1:
            raise ValueError(f"weights: '{path}' has {len(pickles)} top-level data.pkl entries, expected 1")
        prefix = pickles[0][: -len("data.pkl")]
        if f"{prefix}byteorder" in archive.namelist() and archive.read(f"{prefix}byteorder").strip() != b"little":
            raise ValueError(f"weights: '{path}' was saved big-endian, which this reader does not support")
        with archive.open(pickles[0]) as handle:
            state = RestrictedUnpickler(handle, archive, prefix, str(path)).load()
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and set(state) == {wrapper}:
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, np.ndarray) for v in state.values()):
        raise ValueError(f"weights: '{path}' is not a state dict (a mapping of names to tensors)")
    return dict(state)

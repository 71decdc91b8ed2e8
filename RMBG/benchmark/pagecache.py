"""Dropping files from the OS page cache (for cold runs) and measuring how much of them is cached.

Without root and without touching other processes' files: every file under the given roots is
opened and ``posix_fadvise(POSIX_FADV_DONTNEED)`` asks the kernel to drop its clean cached pages.
Pages another running process has mapped (a shared library in use) stay resident; so a cold run
on a shared machine is "as cold as the machine lets it be", and :func:`resident_bytes` reports how
much stayed (``mincore`` over the large files). Linux only.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from RMBG.paths import cache_dir

#: Files at least this large are sampled by :func:`resident_bytes` (the shared libraries, weights, photos).
LARGE_FILE = 256 * 1024


@dataclass(frozen=True)
class CacheState:
    """Files walked, their bytes, and (for :func:`resident_bytes`) how many of those bytes are cached."""

    files: int
    bytes: int
    resident: int = 0

    @property
    def resident_fraction(self) -> float:
        return self.resident / self.bytes if self.bytes else 0.0


def iter_files(roots: Iterable[str | os.PathLike]) -> Iterator[tuple[Path, int]]:
    """Every regular file under ``roots`` (files or folders; symbolic links to files are resolved), once, with its size."""
    seen: set[tuple[int, int]] = set()
    for root in roots:
        root = Path(root)
        if not root.exists():
            continue
        walker = [(str(root), [], [root.name])] if root.is_file() else os.walk(root)
        for folder, _, names in walker:
            base = Path(folder) if not root.is_file() else root.parent
            for name in names:
                path = base / name
                try:
                    info = path.stat()
                except OSError:  # a dangling link
                    continue
                key = (info.st_dev, info.st_ino)
                if stat.S_ISREG(info.st_mode) and key not in seen:
                    seen.add(key)
                    yield path, info.st_size


class FileSet:
    """The regular files under some roots, listed once (walking a venv takes seconds, dropping it
    from the cache again is cheaper), to drop from the page cache or to check how much is cached.

    Args:
        roots: files or folders; missing ones are ignored.
    """

    def __init__(self, roots: Iterable[str | os.PathLike]):
        self.roots = [Path(r) for r in roots]
        self.files = list(iter_files(self.roots))

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.files)

    def evict(self) -> CacheState:
        """Ask the kernel to drop the cached pages of every file; files that cannot be opened are skipped."""
        files = total = 0
        for path, size in self.files:
            try:
                descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOATIME", 0))
            except OSError:
                try:
                    descriptor = os.open(path, os.O_RDONLY)
                except OSError:
                    continue
            try:
                os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(descriptor)
            files, total = files + 1, total + size
        return CacheState(files, total)

    def resident(self, min_size: int = LARGE_FILE) -> CacheState:
        """How many bytes of the files of at least ``min_size`` are in the page cache (``mincore``)."""
        libc = _libc()
        files = total = resident = 0
        for path, size in self.files:
            if size < min_size:
                continue
            try:
                cached, size = file_resident_bytes(path, libc)
            except OSError:
                continue
            files, total, resident = files + 1, total + size, resident + cached
        return CacheState(files, total, resident)


def evict(roots: Iterable[str | os.PathLike]) -> CacheState:
    """Drop every file under ``roots`` from the page cache (:meth:`FileSet.evict`)."""
    return FileSet(roots).evict()


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long)
    libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
    libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte))
    return libc


def file_resident_bytes(path: str | os.PathLike, libc=None) -> tuple[int, int]:
    """``(cached bytes, size)`` of one file, from ``mincore`` on a read-only mapping (which reads nothing).

    Raises:
        OSError: the file cannot be opened or mapped.
    """
    libc = libc or _libc()
    size = os.path.getsize(path)
    if size == 0:
        return 0, 0
    page = mmap.PAGESIZE
    descriptor = os.open(path, os.O_RDONLY)
    try:
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, descriptor, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), f"mmap failed for '{path}'")
        try:
            pages = (size + page - 1) // page
            vector = (ctypes.c_ubyte * pages)()
            if libc.mincore(address, size, vector) != 0:
                raise OSError(ctypes.get_errno(), f"mincore failed for '{path}'")
            resident = int((np.frombuffer(vector, np.uint8) & 1).sum())
        finally:
            libc.munmap(address, size)
    finally:
        os.close(descriptor)
    return min(resident * page, size), size


def resident_bytes(roots: Iterable[str | os.PathLike], min_size: int = LARGE_FILE) -> CacheState:
    """How much of the files of at least ``min_size`` under ``roots`` is cached (:meth:`FileSet.resident`)."""
    return FileSet(roots).resident(min_size)


def default_eviction_roots(extra: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """What a cold run of our commands and of the peer reads from disk: this venv (its packages),
    the interpreter's standard library, the ``RMBG`` package, ``$RMBG_HOME`` (weights, exported
    artefacts and the peer venv) and ``extra`` (the photos, the peer's weights)."""
    stdlib = Path(sys.base_prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    roots = [Path(sys.prefix), stdlib, Path(__file__).resolve().parent.parent, cache_dir(), *map(Path, extra)]
    unique: list[Path] = []
    for root in roots:
        if root not in unique:
            unique.append(root)
    return unique

"""Atomic file writes: the one way RMBG writes a file or a folder.

Everything is written under a unique temporary name in the target's folder
(``.<name>.<random>.part``; two concurrent writers never share one), then renamed into place. A
crash or an exception never leaves a half-written file, and an existing file is replaced only
once its successor is complete. ``clobber=False`` refuses to replace an existing target (the
check and the rename are one step: ``os.link`` fails if the name exists). Imports no TensorFlow.

* :func:`atomic_write` — a callable writes into an open binary handle;
* :func:`atomic_write_bytes`, :func:`atomic_write_text`, :func:`atomic_write_json`;
* :func:`atomic_path` — a context manager yielding a temporary path, for libraries that write
  by path (``model.save``, ``np.savez``, ``figure.savefig``);
* :func:`atomic_copy` — a copy of an existing file;
* :func:`atomic_dir` — a context manager yielding a temporary folder that becomes the target;
* :func:`move_no_clobber` — a rename that never replaces an existing file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

PART_SUFFIX = ".part"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def move_no_clobber(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Move ``source`` to ``target`` (same file system), refusing to replace an existing ``target``.

    A hard link followed by an unlink cannot replace an existing file; where hard links are not
    available (FAT, some network shares) or ``source`` is a symbolic link, the existence check
    precedes a plain rename.

    Raises:
        FileExistsError: ``target`` already exists.
    """
    source, target = Path(source), Path(target)
    if os.path.lexists(target):
        raise FileExistsError(f"'{target}' already exists; it was not overwritten")
    if not source.is_symlink():
        try:
            os.link(source, target)
        except FileExistsError:
            raise FileExistsError(f"'{target}' already exists; it was not overwritten") from None
        except OSError:
            pass  # no hard links on this file system: fall back below
        else:
            os.unlink(source)
            return
    if os.path.lexists(target):
        raise FileExistsError(f"'{target}' already exists; it was not overwritten")
    os.rename(source, target)


def _publish(temporary: str | os.PathLike, target: Path, clobber: bool) -> None:
    """Rename ``temporary`` onto ``target``; with ``clobber=False`` fail if ``target`` exists."""
    if clobber:
        os.replace(temporary, target)
    else:
        move_no_clobber(temporary, target)


def _temporary(target: Path, suffix: str = PART_SUFFIX) -> str:
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(descriptor)
    return temporary


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, clobber: bool = True, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without error it becomes ``path``.

    Args:
        path: the target file.
        clobber: replace an existing target (``False``: raise :class:`FileExistsError`).
        suffix: the temporary file's suffix (some writers need theirs, e.g. ``".keras"``);
            default ``".part"``.
    """
    target = Path(path)
    temporary = _temporary(target, suffix or PART_SUFFIX)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600
        _publish(temporary, target, clobber)
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object], *, clobber: bool = True) -> Path:
    """Create ``path`` by calling ``write(handle)`` on a temporary file, then renaming it into place.

    The file gets the usual permissions (``0666 & ~umask``), not ``mkstemp``'s 0600.
    """
    target = Path(path)
    with atomic_path(target, clobber=clobber) as temporary:
        with open(temporary, "wb") as handle:
            write(handle)
    return target


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, clobber: bool = True) -> Path:
    """:func:`atomic_write` of a bytes object."""
    return atomic_write(path, lambda handle: handle.write(data), clobber=clobber)


def atomic_write_text(path: str | os.PathLike, text: str, *, clobber: bool = True) -> Path:
    """:func:`atomic_write` of UTF-8 text (newlines written as given)."""
    return atomic_write_bytes(path, text.encode("utf-8"), clobber=clobber)


def atomic_write_json(path: str | os.PathLike, data: Any, *, clobber: bool = True, indent: int = 2) -> Path:
    """:func:`atomic_write` of ``data`` as JSON (non-JSON values written with ``str``)."""
    return atomic_write_text(path, json.dumps(data, indent=indent, default=str) + "\n", clobber=clobber)


def atomic_copy(source: str | os.PathLike, path: str | os.PathLike, *, clobber: bool = True) -> Path:
    """Copy ``source`` (contents and times) to ``path`` atomically."""
    target = Path(path)
    with atomic_path(target, clobber=clobber) as temporary:
        shutil.copyfile(source, temporary)
        shutil.copystat(source, temporary)
    return target


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, clobber: bool = True) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; when the block ends without error it
    becomes ``path`` (an existing folder there is replaced if ``clobber``).

    If another writer completes ``path`` first (``clobber=False``, or a race between the removal of
    the old folder and the rename), :class:`FileExistsError` is raised and nothing is lost.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=PART_SUFFIX, dir=target.parent))
    try:
        yield staging
        if target.exists():
            if not clobber:
                raise FileExistsError(f"'{target}' already exists; it was not overwritten")
            retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.replace(target, retired / target.name)
            shutil.rmtree(retired, ignore_errors=True)
        try:
            os.rename(staging, target)  # a folder: rename fails rather than replace a non-empty one
        except OSError as error:
            raise FileExistsError(f"'{target}' was completed by another writer first ({error})") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)

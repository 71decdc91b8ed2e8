"""Helpers shared by the dataset tools: reports, categories, safe file writes. Pairing by stem and the
index schema live in :mod:`RMBG.data.index` (re-exported here for the tools).

Nothing here overwrites a file that already exists: new files are written under a temporary
name in the target folder and then moved onto the final name with a move that refuses to
replace an existing file. Imports no TensorFlow.
"""

from __future__ import annotations

import csv
import io
import os
import re
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from RMBG.data.index import (  # noqa: F401  (the one pairing and path helpers, re-exported for the tools)
    Pairing,
    natural_key,
    pair_by_stem,
    pair_folders,
    portable_relpath,
)
from RMBG.data.index import list_folder_images as listing  # noqa: F401
from RMBG.atomic import atomic_copy, atomic_path, atomic_write_text, move_no_clobber  # noqa: F401  (move_no_clobber re-exported)
from RMBG.inference.image_io import ImageReadError, save_image

T = TypeVar("T")
R = TypeVar("R")

#: ``<category>_<digits>``: the category is everything before the last underscore-and-number.
CATEGORY_PATTERN = re.compile(r"^(?P<category>.+)_(?P<number>\d+)$")

#: What a category name may contain (it becomes part of file names).
VALID_CATEGORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

#: Formats that do not keep a mask exact: a mask stored in one of them is not trusted to be binary.
LOSSY_EXTENSIONS = frozenset({".jpg", ".jpeg", ".webp"})


@dataclass(frozen=True)
class Problem:
    """One finding about one file."""

    file: str
    problem: str
    detail: str


@dataclass
class Report:
    """What a tool did: counts, the files it wrote, and the problems it found (files it skipped).

    Attributes:
        title: the tool and its input, for the printed summary.
        counts: named counters, e.g. ``{"pairs": 328, "written": 320}``.
        problems: one :class:`Problem` per reported file.
        outputs: files written (or planned, in a dry run).
        notes: remarks about the run as a whole (e.g. a fallback that was taken).
    """

    title: str
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, file: str | os.PathLike, problem: str, detail: str) -> None:
        """Record a problem with ``file``."""
        self.problems.append(Problem(os.fspath(file), problem, detail))

    def count(self, name: str, increment: int = 1) -> None:
        """Add ``increment`` to the counter ``name``."""
        self.counts[name] = self.counts.get(name, 0) + increment

    def problems_of(self, kind: str) -> list[Problem]:
        """The problems whose kind is ``kind``."""
        return [p for p in self.problems if p.problem == kind]

    def to_frame(self):
        """The problems as a pandas DataFrame with columns ``file, problem, detail``."""
        return pd.DataFrame([p.__dict__ for p in self.problems], columns=["file", "problem", "detail"])

    def summary(self, max_problems: int = 20) -> str:
        """A few human-readable lines: counts, notes, and the first ``max_problems`` problems."""
        lines = [self.title]
        if self.counts:
            lines.append("  " + ", ".join(f"{key}: {value}" for key, value in self.counts.items()))
        lines.extend(f"  note: {note}" for note in self.notes)
        if self.problems:
            kinds: dict[str, int] = {}
            for problem in self.problems:
                kinds[problem.problem] = kinds.get(problem.problem, 0) + 1
            lines.append("  problems: " + ", ".join(f"{k} x{v}" for k, v in sorted(kinds.items())))
            for problem in self.problems[:max_problems]:
                lines.append(f"    {problem.file}: {problem.problem}: {problem.detail}")
            if len(self.problems) > max_problems:
                lines.append(f"    ... and {len(self.problems) - max_problems} more")
        else:
            lines.append("  no problems")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


# ----------------------------------------------------------------------------- names and categories


def split_category(stem: str) -> tuple[str, int] | None:
    """``"horse_0012"`` -> ``("horse", 12)``; ``None`` when the stem is not ``<category>_<digits>``."""
    match = CATEGORY_PATTERN.match(stem)
    if not match:
        return None
    return match.group("category"), int(match.group("number"))


def category_of(stem: str) -> str:
    """The category of a file stem: the prefix before the last ``_<digits>``.

    Stems without that suffix fall back to the stem with trailing digits and separators removed
    (``horse001`` -> ``horse``), and to ``"unknown"`` when nothing is left.
    """
    parts = split_category(stem)
    if parts is not None:
        return parts[0]
    stripped = re.sub(r"[\d_\-\s.]+$", "", stem)
    return stripped or "unknown"


def check_category(category: str, argument: str = "category") -> str:
    """Raise a clear ``ValueError`` unless ``category`` is usable as a file-name prefix."""
    if not isinstance(category, str) or not VALID_CATEGORY.match(category):
        raise ValueError(
            f"{argument}: expected a name of letters, digits, '_' or '-' starting with a letter or digit "
            f"(it becomes the file-name prefix), got {category!r}; for example category='horse'"
        )
    return category


# ----------------------------------------------------------------------------- image headers


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(width, height)`` from the file header, after EXIF orientation (as :func:`load_image` sees it).

    Raises:
        ImageReadError: the file cannot be opened as an image.
    """
    name = f"'{os.fspath(path)}'"
    try:
        with Image.open(path) as image:
            width, height = image.size
            try:
                orientation = image.getexif().get(0x0112)
            except Exception:  # a broken EXIF block does not make the size unknown
                orientation = None
    except FileNotFoundError:
        raise ImageReadError(name, "no such file") from None
    except UnidentifiedImageError:
        raise ImageReadError(name, "not a recognised image format (corrupt, or not an image)") from None
    except OSError as error:
        raise ImageReadError(name, f"cannot open it ({error})") from None
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return width, height


def binarize(mask: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """A float mask in [0, 1] -> uint8 0/255 (pixels ``>= threshold`` are foreground)."""
    return np.where(mask >= threshold, np.uint8(255), np.uint8(0))


def mask_to_uint8(mask: np.ndarray) -> np.ndarray:
    """A float mask in [0, 1] -> uint8 [0, 255], rounded."""
    return np.clip(mask * 255.0 + 0.5, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- safe file operations


def temporary_name(folder: Path, suffix: str = "") -> Path:
    """A hidden, unused file name in ``folder`` (hidden names are skipped by :func:`list_images`)."""
    while True:
        candidate = folder / f".rmbg-tmp-{uuid.uuid4().hex[:12]}{suffix}"
        if not os.path.lexists(candidate):
            return candidate


def write_new_image(path: str | os.PathLike, image: np.ndarray, *, replace: bool = False) -> Path:
    """Encode ``image`` to ``path`` atomically; an existing file is kept unless ``replace``.

    Raises:
        FileExistsError: ``path`` exists and ``replace`` is false.
    """
    target = Path(path)
    if not replace and os.path.lexists(target):
        raise FileExistsError(f"'{target}' already exists; it was not overwritten")
    with atomic_path(target, clobber=replace, suffix=target.suffix) as temporary:  # the suffix picks the format
        save_image(temporary, image)
    return target


def copy_no_clobber(source: Path, target: Path) -> Path:
    """Copy ``source`` to ``target`` atomically, refusing to replace an existing ``target``."""
    if os.path.lexists(target):
        raise FileExistsError(f"'{target}' already exists; it was not overwritten")
    return atomic_copy(source, target, clobber=False)


def write_text_atomic(path: Path, text: str, *, replace: bool = False) -> Path:
    """Write a text file atomically; an existing file is kept unless ``replace``."""
    if not replace and os.path.lexists(path):
        raise FileExistsError(f"'{path}' already exists; it was not overwritten")
    return atomic_write_text(path, text, clobber=replace)


def write_csv_rows(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]], *, replace: bool = False) -> Path:
    """Write a CSV file atomically with the ``csv`` module."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return write_text_atomic(path, buffer.getvalue(), replace=replace)


def same_folder(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same folder (resolving links and ``..``)."""
    a, b = Path(a), Path(b)
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


# ----------------------------------------------------------------------------- parallel work


def default_workers() -> int:
    """Threads for image work: the CPU count, capped at 8 (decoding releases the GIL)."""
    return max(1, min(8, os.cpu_count() or 1))


def check_workers(workers: int | None) -> int:
    """Validate the ``workers`` argument (``None`` = :func:`default_workers`)."""
    if workers is None:
        return default_workers()
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers: expected a positive integer or None, got {workers!r}; for example workers=4")
    return workers


def parallel_map(
    function: Callable[[T], R],
    items: Sequence[T],
    *,
    workers: int | None,
    description: str,
    progress: bool = True,
) -> Iterator[tuple[T, R | BaseException]]:
    """Run ``function`` over ``items`` in a thread pool with a progress bar.

    Yields ``(item, result)`` in completion order; an exception raised for one item is yielded in
    place of its result (so batch work goes on and the caller reports it).
    """
    count = check_workers(workers)
    bar = tqdm(total=len(items), desc=description, unit="file", disable=not progress or not items, leave=False)
    try:
        if count == 1 or len(items) <= 1:
            for item in items:
                try:
                    result: R | BaseException = function(item)
                except Exception as error:  # reported by the caller
                    result = error
                bar.update(1)
                yield item, result
            return
        with ThreadPoolExecutor(max_workers=count) as pool:
            futures = {pool.submit(function, item): item for item in items}
            for future in as_completed(futures):
                error = future.exception()
                bar.update(1)
                yield futures[future], error if error is not None else future.result()
    finally:
        bar.close()


def describe_error(error: BaseException) -> str:
    """The reason part of an error, for a report's detail column."""
    if isinstance(error, ImageReadError):
        return error.reason
    return f"{type(error).__name__}: {error}"

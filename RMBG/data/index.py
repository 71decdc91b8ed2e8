"""The dataset index CSV: its schema, reading, writing, and pairing photos with masks by file stem.

One module owns the index for every tool: ``Preprocess`` writes it, the tf.data pipeline
(:mod:`RMBG.data.pipeline`) and evaluation (:mod:`RMBG.evaluation.evaluate`) read it, and all of
them pair folders with :func:`pair_by_stem`.

Schema (:data:`COLUMNS`, in this order): ``image, mask`` (paths relative to the CSV's folder, with
forward slashes, so a dataset folder can be moved or shared between systems; absolute paths are
kept as they are), ``category``, ``width, height`` (the photo's, after EXIF orientation),
``mask_width, mask_height`` and ``split`` (``train`` / ``val`` / ``test``). Only ``image`` and
``mask`` are required to read an index, plus ``split`` to select rows by split.

Imports no TensorFlow (and no pandas, unless :meth:`DatasetIndex.to_frame` is called).
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from RMBG.atomic import atomic_write_text
from RMBG.inference.image_io import list_images

#: The index CSV's columns, in order.
COLUMNS: tuple[str, ...] = ("image", "mask", "category", "width", "height", "mask_width", "mask_height", "split")
#: Columns every index must have; ``split`` is needed too when rows are selected by split.
REQUIRED_COLUMNS: tuple[str, ...] = ("image", "mask")
#: The split names :func:`write_index` accepts.
SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class IndexRow:
    """One row of an index CSV.

    Attributes:
        line: the row's line number in the CSV (the header is line 1).
        image: the photo path as written in the CSV.
        mask: the mask path as written in the CSV.
        image_path: the photo's absolute path (joined to the CSV's folder, ``..`` normalised).
        mask_path: the mask's absolute path.
        split: the ``split`` column ('' when the CSV has none).
        category: the ``category`` column ('' when the CSV has none).
        fields: every column of the row, as text.
    """

    line: int
    image: str
    mask: str
    image_path: Path
    mask_path: Path
    split: str = ""
    category: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The photo's file stem (how predictions and outputs are named)."""
        return Path(self.image).stem


@dataclass(frozen=True)
class IndexProblem:
    """A row of the CSV that cannot be used (``name`` is the photo path or ``<csv>:<line>``)."""

    line: int
    name: str
    problem: str


@dataclass(frozen=True)
class DatasetIndex:
    """The rows of an index CSV (optionally selected by split), in file order.

    Attributes:
        csv_path: the CSV they came from.
        columns: the CSV's columns.
        rows: the usable rows.
        splits: the splits selected (every split present when none was asked for).
        problems: rows left out (an empty image or mask path), each naming its line.
    """

    csv_path: Path
    columns: tuple[str, ...]
    rows: tuple[IndexRow, ...]
    splits: tuple[str, ...]
    problems: tuple[IndexProblem, ...] = ()

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    @property
    def images(self) -> tuple[str, ...]:
        """Absolute photo paths (text), paired with :attr:`masks`."""
        return tuple(str(row.image_path) for row in self.rows)

    @property
    def masks(self) -> tuple[str, ...]:
        """Absolute mask paths (text), paired with :attr:`images`."""
        return tuple(str(row.mask_path) for row in self.rows)

    def missing_files(self) -> list[str]:
        """The listed photo and mask files that do not exist."""
        return [path for path in self.images + self.masks if not os.path.isfile(path)]

    def to_frame(self):
        """The rows as a pandas DataFrame: the CSV's columns (numbers as numbers) plus ``image_path``
        and ``mask_path`` (absolute :class:`~pathlib.Path` objects)."""
        import pandas as pd  # deferred: pandas (~0.5 s) only for to_frame

        frame = pd.DataFrame([dict(row.fields) for row in self.rows], columns=list(self.columns))
        for column in ("width", "height", "mask_width", "mask_height"):
            if column in frame.columns:
                frame[column] = pd.to_numeric(frame[column], errors="coerce")
        frame["image_path"] = [row.image_path for row in self.rows]
        frame["mask_path"] = [row.mask_path for row in self.rows]
        return frame


def parse_splits(splits: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """``"train,val"`` / ``("train", "val")`` / ``None`` as a tuple of names (``None`` stays ``None``)."""
    if splits is None:
        return None
    if isinstance(splits, str):
        return tuple(s.strip() for s in splits.split(",") if s.strip())
    return tuple(str(s).strip() for s in splits)


def read_index(
    index_csv: str | os.PathLike,
    splits: str | Sequence[str] | None = None,
    *,
    check_files: bool = False,
) -> DatasetIndex:
    """Read an index CSV and keep the rows of ``splits``.

    Args:
        index_csv: the CSV (a UTF-8 byte-order mark and spaces around names and values are ignored).
        splits: a split name (``"train"``), several (``("train", "val")`` or ``"train,val"``), or
            ``None`` for every row.
        check_files: raise unless every listed photo and mask exists.

    Returns:
        The :class:`DatasetIndex`; a row with an empty image or mask path is a problem in
        ``problems``, not an exception.

    Raises:
        FileNotFoundError: the CSV does not exist; with ``check_files``, listed files do not exist.
        ValueError: a required column is missing (``split`` too when ``splits`` is given), or a
            requested split has no row. Messages name the CSV and say what it has.
    """
    path = Path(index_csv).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"index_csv: '{path}' does not exist or is not a file; build one with Preprocess.index(images_dir, masks_dir, out_csv), "
            "Preprocess.prepare_dataset(...) or RMBG.data.write_synthetic_dataset(...)"
        )
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = tuple(column.strip() for column in (reader.fieldnames or []))
        records = [{(key or "").strip(): (value or "").strip() for key, value in record.items()} for record in reader]
    wanted = parse_splits(splits)
    required = list(REQUIRED_COLUMNS) + (["split"] if wanted is not None else [])
    missing = [column for column in required if column not in columns]
    if missing:
        hint = " (needed to select rows by split)" if missing == ["split"] else ""
        raise ValueError(
            f"index_csv: '{path}' lacks the column(s) {missing}{hint}; it has {list(columns)}, "
            f"an index has {list(COLUMNS)}"
        )
    lines = list(range(2, len(records) + 2))
    available = tuple(sorted({record.get("split", "") for record in records} - {""}))
    if wanted is not None:
        counts = {name: sum(record["split"] == name for record in records) for name in available}
        unknown = [name for name in wanted if name not in available]
        if unknown or not wanted:
            raise ValueError(
                f"splits: {unknown or list(wanted)!r} matches no row of '{path}'; splits present: {list(available)} "
                f"(rows: {counts})"
            )
        kept = [(line, record) for line, record in zip(lines, records) if record["split"] in wanted]
    else:
        kept = list(zip(lines, records))
    base = path.parent.resolve()
    rows, problems = [], []
    for line, record in kept:
        image, mask = record["image"], record["mask"]
        if not image or not mask:
            problems.append(IndexProblem(line, image or f"{path.name}:{line}",
                                         f"row {line} of '{path.name}' has an empty image or mask path"))
            continue
        rows.append(IndexRow(
            line=line, image=image, mask=mask,
            image_path=Path(os.path.normpath(base / image)), mask_path=Path(os.path.normpath(base / mask)),
            split=record.get("split", ""), category=record.get("category", ""), fields=record,
        ))
    index = DatasetIndex(path, columns, tuple(rows), wanted if wanted is not None else available, tuple(problems))
    if check_files:
        absent = index.missing_files()
        if absent:
            raise FileNotFoundError(
                f"index_csv: {len(absent)} file(s) listed in '{path}' do not exist, e.g. {absent[:3]}; "
                "rebuild the index (Preprocess.index) after moving or deleting files"
            )
    return index


def portable_relpath(path: str | os.PathLike, start: str | os.PathLike) -> str:
    """``path`` relative to the folder ``start``, with forward slashes."""
    return Path(os.path.relpath(Path(path).resolve(), Path(start).resolve())).as_posix()


def _cell(column: str, value: Any, base: Path) -> str:
    if column in ("image", "mask"):
        if value is None or value == "":
            raise ValueError(f"rows: the {column!r} of a row is empty; every row needs a photo and a mask path")
        text = Path(value)
        # Absolute paths are written relative to the CSV; relative ones already are.
        return portable_relpath(text, base) if text.is_absolute() else text.as_posix()
    if column == "split" and value not in SPLITS:
        raise ValueError(f"rows: split {value!r} is not one of {list(SPLITS)}")
    return "" if value is None else str(value)


def format_index(rows: Iterable[Mapping[str, Any]], csv_path: str | os.PathLike) -> str:
    """The CSV text of ``rows`` (mappings with the keys of :data:`COLUMNS`) for a CSV at ``csv_path``.

    Raises:
        ValueError: a row lacks a column, has an empty path or an unknown split.
    """
    base = Path(csv_path).parent
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for number, row in enumerate(rows, start=1):
        absent = [column for column in COLUMNS if column not in row]
        if absent:
            raise ValueError(f"rows: row {number} lacks the column(s) {absent}; an index row has {list(COLUMNS)}")
        writer.writerow([_cell(column, row[column], base) for column in COLUMNS])
    return buffer.getvalue()


def write_index(
    csv_path: str | os.PathLike, rows: Iterable[Mapping[str, Any]], *, overwrite: bool = False
) -> Path:
    """Write an index CSV atomically (columns :data:`COLUMNS`; paths relative to its folder).

    Args:
        csv_path: the CSV to write.
        rows: mappings with every key of :data:`COLUMNS`; ``image`` / ``mask`` may be absolute paths
            (written relative to the CSV's folder) or paths already relative to it.
        overwrite: replace an existing CSV (otherwise that is an error).

    Raises:
        FileExistsError: ``csv_path`` exists and ``overwrite`` is false.
        ValueError: a bad row (see :func:`format_index`).
    """
    target = Path(csv_path)
    text = format_index(rows, target)
    if os.path.lexists(target) and not overwrite:
        raise FileExistsError(f"out_csv: '{target}' already exists; pass overwrite=True to replace it, or another path")
    try:  # no-clobber publishing: a CSV another writer created meanwhile is not replaced either
        return atomic_write_text(target, text, clobber=overwrite)
    except FileExistsError:
        raise FileExistsError(f"out_csv: '{target}' already exists; pass overwrite=True to replace it, or another path") from None


# ----------------------------------------------------------------------------- pairing by stem


@dataclass
class Pairing:
    """Photos and masks matched by file stem.

    Attributes:
        pairs: ``(image, mask)`` pairs in natural order of the image name.
        orphan_images: photos with no mask of the same stem.
        orphan_masks: masks with no photo of the same stem.
        duplicates: files whose stem occurs twice in the same list (``a.jpg`` and ``a.png``):
            ambiguous, so never paired.
    """

    pairs: list[tuple[Path, Path]]
    orphan_images: list[Path]
    orphan_masks: list[Path]
    duplicates: list[Path]

    def report_into(self, report: Any) -> None:
        """Add the orphans and duplicate stems to ``report`` (anything with ``add(file, kind, detail)``,
        e.g. ``Preprocess.Report``) as ``orphan-image``, ``orphan-mask`` and ``duplicate-stem``."""
        for path in self.orphan_images:
            report.add(path, "orphan-image", "no mask with the same file stem")
        for path in self.orphan_masks:
            report.add(path, "orphan-mask", "no image with the same file stem")
        for path in self.duplicates:
            report.add(path, "duplicate-stem", "another file in the same folder has the same stem; pair skipped")

    def duplicate_groups(self) -> dict[str, list[Path]]:
        """The :attr:`duplicates` grouped by (folder, stem) key ``"<folder>/<stem>"``, sorted."""
        groups: dict[str, list[Path]] = {}
        for path in self.duplicates:
            groups.setdefault(f"{path.parent}/{path.stem}", []).append(path)
        return dict(sorted(groups.items()))


def natural_key(name: str) -> list:
    """Sort key that orders ``img2`` before ``img10`` (case-insensitive)."""
    return [int(token) if token.isdigit() else token.casefold() for token in re.split(r"(\d+)", name)]


def files_by_stem(files: Iterable[Path]) -> tuple[dict[str, Path], list[Path]]:
    """``({stem: file}, duplicates)``: files whose stem is unique, and those sharing a stem (sorted)."""
    groups: dict[str, list[Path]] = {}
    for path in files:
        groups.setdefault(path.stem, []).append(path)
    unique = {stem: paths[0] for stem, paths in groups.items() if len(paths) == 1}
    duplicates = sorted(p for paths in groups.values() if len(paths) > 1 for p in paths)
    return unique, duplicates


def pair_by_stem(images: Sequence[Path], masks: Sequence[Path]) -> Pairing:
    """Match photos and masks whose file stems are equal, whatever their extensions.

    A stem that occurs twice in either list is ambiguous: its files are returned in
    ``duplicates``, and neither paired nor reported as orphans.
    """
    image_map, image_duplicates = files_by_stem(images)
    mask_map, mask_duplicates = files_by_stem(masks)
    ambiguous = {p.stem for p in image_duplicates} | {p.stem for p in mask_duplicates}
    order = sorted(image_map, key=natural_key)
    pairs = [(image_map[s], mask_map[s]) for s in order if s in mask_map and s not in ambiguous]
    orphan_images = [image_map[s] for s in order if s not in mask_map and s not in ambiguous]
    orphan_masks = [mask_map[s] for s in sorted(mask_map, key=natural_key) if s not in image_map and s not in ambiguous]
    return Pairing(pairs, orphan_images, orphan_masks, image_duplicates + mask_duplicates)


def pair_folders(
    images_dir: str | os.PathLike, masks_dir: str | os.PathLike, *,
    images_argument: str = "images_dir", masks_argument: str = "masks_dir",
) -> Pairing:
    """:func:`pair_by_stem` over the image files of two folders.

    Raises:
        FileNotFoundError: a folder does not exist (the message names ``images_argument`` /
            ``masks_argument``).
    """
    return pair_by_stem(list_folder_images(images_dir, images_argument), list_folder_images(masks_dir, masks_argument))


def list_folder_images(folder: str | os.PathLike, argument: str) -> list[Path]:
    """The image files of ``folder`` (:func:`~RMBG.inference.image_io.list_images`), with an error
    that names ``argument`` when the folder does not exist."""
    if not Path(folder).is_dir():
        raise FileNotFoundError(
            f"{argument}: the folder '{folder}' does not exist or is not a folder; pass an existing folder of images"
        )
    return list_images(folder)


__all__ = [
    "COLUMNS", "REQUIRED_COLUMNS", "SPLITS", "DatasetIndex", "IndexProblem", "IndexRow", "Pairing",
    "files_by_stem", "format_index", "list_folder_images", "natural_key", "pair_by_stem", "pair_folders", "parse_splits",
    "portable_relpath", "read_index", "write_index",
]

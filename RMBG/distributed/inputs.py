"""What a distributed run reads and writes: a folder or a manifest of paths/URIs, planned into outputs.

Folders are gathered and every output is named by :mod:`RMBG.inference.folder_plan`, the
single-process rules (earlier outputs and the output folder are never inputs; names are unique
by construction), so both engines write the same files. Imports neither Ray nor TensorFlow.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from RMBG.inference.folder_plan import gather_inputs, plan_outputs

#: Manifest file suffixes; any other file is treated as one photo.
MANIFEST_SUFFIXES = (".csv", ".parquet")

#: Columns a manifest may name its photos in, in order of preference.
PATH_COLUMNS = ("input", "path", "uri")


def is_uri(text: str) -> bool:
    """Whether ``text`` is a URI read through ``pyarrow.fs`` (``s3://``, ``gs://``, ``file://``, ...)."""
    scheme = urlsplit(text).scheme
    return len(scheme) > 1 and "://" in text  # one letter is a Windows drive, not a scheme


@dataclass(frozen=True)
class Plan:
    """The photos of a run and where each output goes.

    Attributes:
        inputs: each photo as a local path or a URI (strings, in the order given).
        outputs: the output path of each photo (same order).
        root: the folder whose structure the outputs keep.
        rejected: manifest entries that name no photo (blank), with the reason; reported as failed.
    """

    inputs: tuple[str, ...]
    outputs: tuple[Path, ...]
    root: Path
    rejected: tuple[tuple[str, str], ...] = ()


def read_manifest(path: str | os.PathLike) -> list[str]:
    """The photo paths/URIs listed in a ``.csv`` or ``.parquet`` manifest.

    The manifest has a column named ``input``, ``path`` or ``uri`` (the first found), or a single
    column of any name. Relative local paths are relative to the manifest's folder. Blank entries
    are kept (they are reported as failed photos, not dropped silently).

    Raises:
        FileNotFoundError: the manifest does not exist.
        ValueError: an unknown suffix, or no usable column (the message lists the columns).
    """
    manifest = Path(path)
    if not manifest.is_file():
        raise FileNotFoundError(f"input: no such manifest '{manifest}'")
    suffix = manifest.suffix.lower()
    if suffix == ".csv":
        import pyarrow.csv as pa_csv  # deferred: optional (pyarrow, the distributed extra) only for manifests

        table = pa_csv.read_csv(manifest, convert_options=pa_csv.ConvertOptions(strings_can_be_null=False))
    elif suffix == ".parquet":
        import pyarrow.parquet as pq  # deferred: optional (pyarrow, the distributed extra) only for manifests

        table = pq.read_table(manifest)
    else:
        raise ValueError(f"input: '{manifest}' is not a manifest; expected one of {MANIFEST_SUFFIXES}")
    names = table.column_names
    column = next((name for name in PATH_COLUMNS if name in names), names[0] if len(names) == 1 else None)
    if column is None:
        raise ValueError(
            f"input: manifest '{manifest}' has the columns {names}; name the column of photo paths or URIs "
            f"one of {PATH_COLUMNS} (or give a single column)"
        )
    entries = ["" if value is None else str(value).strip() for value in table.column(column).to_pylist()]
    return [entry if not entry or is_uri(entry) or os.path.isabs(entry) else str(manifest.parent / entry) for entry in entries]


def _planning_path(entry: str) -> Path:
    """The path ``plan_outputs`` names an entry by: a URI's host and path as an absolute path."""
    if is_uri(entry):
        parts = urlsplit(entry)
        return Path("/") / PurePosixPath(parts.netloc + "/" + parts.path.lstrip("/"))
    return Path(entry).absolute()


def plan_inputs(source: str | os.PathLike, output_dir: str | os.PathLike, *, recursive: bool = False) -> Plan:
    """Plan a run: the photos of ``source`` and the output path of each.

    Args:
        source: a folder (its images, sorted; sub-folders with ``recursive``; earlier outputs
            and the output folder left out, see :func:`RMBG.inference.folder_plan.gather_inputs`),
            a ``.csv`` / ``.parquet`` manifest (see :func:`read_manifest`), or one image file.
        output_dir: the output folder.
        recursive: include sub-folders of a folder (their structure is kept).

    Returns:
        The plan. For a manifest, outputs keep the structure below the entries' common folder
        (for URIs: below their common ``host/path`` prefix). Duplicate entries are listed once;
        blank entries go to ``rejected``.

    Raises:
        FileNotFoundError: ``source`` does not exist.
        ValueError: a bad manifest, or two photos planned onto one output.
    """
    text = os.fspath(source)
    path = Path(text)
    rejected: tuple[tuple[str, str], ...] = ()
    if path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
        listed = read_manifest(path)
        rejected = tuple((f"{path.name}: entry {row}", "the manifest entry is blank") for row, entry in enumerate(listed, 1) if not entry)
        entries = list(dict.fromkeys(entry for entry in listed if entry))
        named = [_planning_path(entry).parent for entry in entries]
        root = Path(os.path.commonpath(named)) if named else path.parent.absolute()
    elif path.exists():
        gathered = gather_inputs(path, output_dir, recursive=recursive)
        entries, root = [str(p.absolute()) for p in gathered.inputs], gathered.root.absolute()
    else:
        raise FileNotFoundError(f"input: '{text}' is neither a folder, a manifest ({', '.join(MANIFEST_SUFFIXES)}) nor an image file")
    outputs = plan_outputs([_planning_path(entry) for entry in entries], root, Path(output_dir))
    seen: dict[str, str] = {}
    for entry, output in zip(entries, outputs):
        key = os.path.abspath(output).casefold()  # as the single-process run compares them
        if key in seen:
            raise ValueError(f"input: '{seen[key]}' and '{entry}' would both be written to '{output}'; rename one of them")
        seen[key] = entry
    return Plan(tuple(entries), tuple(outputs), root, rejected)


def stale_temporaries(outputs: Sequence[Path]) -> list[Path]:
    """Temporary files that :func:`RMBG.atomic.atomic_write` left for ``outputs`` when a run was killed.

    ``atomic_write`` writes ``.<name>.<random>.part`` beside ``<name>``; one folder listing per
    output folder finds them (no per-file globbing).
    """
    by_folder: dict[Path, set[str]] = {}
    for output in outputs:
        by_folder.setdefault(output.parent, set()).add(output.name)
    stale = []
    for folder, names in by_folder.items():
        if not folder.is_dir():
            continue
        with os.scandir(folder) as listing:
            for item in listing:
                name = item.name
                if name.startswith(".") and name.endswith(".part") and name[1:-5].rpartition(".")[0] in names:
                    stale.append(folder / name)
    return stale

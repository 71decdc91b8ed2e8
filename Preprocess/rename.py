"""Rename a folder of images (and optionally their masks, in lockstep) to ``<category>_<nnnn>.<ext>``.

Safety: every collision is detected before anything moves, files go through temporary names
(so chains such as ``a -> b, b -> c`` and cycles are safe), a failure half-way rolls back what was
done, and a manifest CSV records each move so :func:`undo` can replay it in reverse.
"""

from __future__ import annotations

import csv
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ._common import (
    Report,
    check_category,
    listing,
    move_no_clobber,
    natural_key,
    pair_by_stem,
    temporary_name,
    write_csv_rows,
)

MANIFEST_HEADER = ("folder", "old", "new")


class RenameCollisionError(FileExistsError):
    """A planned rename would overwrite a file or send two files to one name; nothing was moved."""

    def __init__(self, collisions: list[str], fix: str):
        self.collisions = collisions
        shown = "\n  ".join(collisions[:10])
        more = f"\n  ... and {len(collisions) - 10} more" if len(collisions) > 10 else ""
        super().__init__(f"{len(collisions)} rename collision(s), nothing was changed:\n  {shown}{more}\n{fix}")


@dataclass
class RenameResult:
    """The outcome of :func:`rename` or :func:`undo`.

    Attributes:
        moves: ``(old, new)`` paths, in the order they were planned (only files whose name changes).
        unchanged: files that already had their target name.
        report: counts and problems (unpaired files are reported here and left untouched).
        manifest: the manifest CSV written (``None`` for a dry run or for :func:`undo`).
        dry_run: whether nothing was moved.
    """

    moves: list[tuple[Path, Path]]
    unchanged: list[Path] = field(default_factory=list)
    report: Report = field(default_factory=lambda: Report("rename"))
    manifest: Path | None = None
    dry_run: bool = False

    def plan_text(self, limit: int | None = None) -> str:
        """One ``folder: old -> new`` line per move."""
        moves = self.moves if limit is None else self.moves[:limit]
        lines = [f"{old.parent.name}/: {old.name} -> {new.name}" for old, new in moves]
        if limit is not None and len(self.moves) > limit:
            lines.append(f"... and {len(self.moves) - limit} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report.summary()


def _identity(path: Path) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino


def check_moves(moves: list[tuple[Path, Path]], fix: str) -> None:
    """Raise :class:`RenameCollisionError` if the moves would overwrite anything.

    A collision is a target that exists and is not itself moved away, or two sources that map to
    the same target (compared case-insensitively, so the plan is also safe on macOS and Windows).
    """
    collisions: list[str] = []
    sources = {_identity(old) for old, _ in moves}
    seen: dict[tuple[str, str], Path] = {}
    for old, new in moves:
        key = (os.path.normcase(str(new.parent.resolve())), new.name.casefold())
        if key in seen:
            collisions.append(f"'{seen[key]}' and '{old}' would both become '{new}'")
        else:
            seen[key] = old
        if os.path.lexists(new):
            try:
                moved_away = _identity(new) in sources
            except OSError:  # a dangling link: it is a file we must not replace
                moved_away = False
            if not moved_away:
                collisions.append(f"'{old.name}' -> '{new}', which already exists and is not being renamed")
    if collisions:
        raise RenameCollisionError(collisions, fix)


def _execute(moves: list[tuple[Path, Path]], progress: bool) -> None:
    """Two-phase move (sources to temporary names, then to their targets), rolled back on failure."""
    journal: list[tuple[Path, Path]] = []
    bar = tqdm(total=2 * len(moves), desc="rename", unit="move", disable=not progress or not moves, leave=False)
    try:
        temporaries = []
        for old, _ in moves:
            temporary = temporary_name(old.parent, old.suffix)
            move_no_clobber(old, temporary)
            journal.append((old, temporary))
            temporaries.append(temporary)
            bar.update(1)
        for (_, new), temporary in zip(moves, temporaries):
            move_no_clobber(temporary, new)
            journal.append((temporary, new))
            bar.update(1)
    except BaseException as error:
        stuck = []
        for before, after in reversed(journal):
            try:
                os.rename(after, before)
            except OSError as rollback_error:
                stuck.append(f"'{after}' (should be '{before}': {rollback_error})")
        if stuck:
            raise RuntimeError(
                f"renaming failed ({error}) and the rollback could not restore {len(stuck)} file(s): "
                + "; ".join(stuck)
            ) from error
        raise
    finally:
        bar.close()


def _unique_manifest(folder: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = folder / f"rename_manifest_{stamp}.csv"
    counter = 1
    while candidate.exists():
        candidate = folder / f"rename_manifest_{stamp}-{counter}.csv"
        counter += 1
    return candidate


def rename(
    folder: str | os.PathLike,
    category: str,
    *,
    masks: str | os.PathLike | None = None,
    dry_run: bool = False,
    start: int = 1,
    digits: int | None = None,
    manifest: str | os.PathLike | None = None,
    progress: bool = True,
    verbose: bool = True,
) -> RenameResult:
    """Rename the images in ``folder`` to ``<category>_<nnnn>.<ext>`` in natural name order.

    Extensions are kept (lower-cased). With ``masks``, each image and the mask with the same stem
    in the masks folder get the same new stem (the mask keeps its own extension); images or masks
    without a partner are reported and left untouched.

    Args:
        folder: the folder of images to rename.
        category: the new file-name prefix (letters, digits, ``_``, ``-``).
        masks: a folder of masks to rename in lockstep, paired by file stem.
        dry_run: only plan, check and print; nothing is moved and no manifest is written.
        start: the first counter value.
        digits: zero-padding of the counter; ``None`` = at least 4, more if the count needs it.
        manifest: where to write the manifest CSV (``folder,old,new``); default
            ``<folder>/rename_manifest_<timestamp>.csv``. An existing file is never replaced.
        progress: show a progress bar.
        verbose: print the plan summary and the report.

    Returns:
        A :class:`RenameResult`; ``result.manifest`` is what :func:`undo` takes.

    Raises:
        RenameCollisionError: a target name exists and is not itself renamed away, or two files
            would get the same name. Nothing was moved.
        ValueError: a bad ``category``, ``start`` or ``digits``.
        FileNotFoundError: ``folder`` or ``masks`` is not a folder.
    """
    check_category(category)
    if not isinstance(start, int) or isinstance(start, bool) or start < 0:
        raise ValueError(f"start: expected a non-negative integer, got {start!r}; for example start=1")
    folder = Path(folder)
    images = sorted(listing(folder, "folder"), key=lambda p: natural_key(p.name))
    report = Report(f"rename {folder} -> {category}_N" + (f" (masks: {masks})" if masks is not None else ""))
    if masks is not None:
        pairing = pair_by_stem(images, listing(masks, "masks"))
        pairing.report_into(report)
        groups: list[tuple[Path, ...]] = [tuple(pair) for pair in pairing.pairs]
        report.counts["pairs"] = len(groups)
    else:
        groups = [(image,) for image in images]
        report.counts["images"] = len(groups)
    last = start + max(len(groups), 1) - 1
    needed = max(4, len(str(last)))
    if digits is None:
        digits = needed
    elif not isinstance(digits, int) or isinstance(digits, bool) or digits < len(str(last)):
        raise ValueError(
            f"digits: {digits!r} cannot hold the counter up to {last}; pass digits={len(str(last))} or more, or None"
        )

    moves: list[tuple[Path, Path]] = []
    unchanged: list[Path] = []
    for number, group in enumerate(groups, start=start):
        stem = f"{category}_{number:0{digits}d}"
        for path in group:
            target = path.with_name(stem + path.suffix.lower())
            if target == path:
                unchanged.append(path)
            else:
                moves.append((path, target))
    fix = (
        "Fix: move or rename the files in the way first, choose another category, or pass a start= "
        "after the highest existing number."
    )
    check_moves(moves, fix)
    report.counts["to rename"] = len(moves)
    report.counts["already named"] = len(unchanged)
    result = RenameResult(moves=moves, unchanged=unchanged, report=report, dry_run=dry_run)
    if dry_run:
        report.title += " [dry run: nothing changed]"
        if verbose:
            print(result.plan_text(limit=50) or "(nothing to rename)")
            print(report.summary())
        return result
    if moves:
        manifest_path = Path(manifest) if manifest is not None else _unique_manifest(folder)
        base = manifest_path.parent
        rows = [
            (Path(os.path.relpath(old.parent.resolve(), base.resolve())).as_posix(), old.name, new.name)
            for old, new in moves
        ]
        write_csv_rows(manifest_path, MANIFEST_HEADER, rows)
        try:
            _execute(moves, progress)
        except BaseException:
            os.unlink(manifest_path)  # rolled back: nothing to undo
            raise
        result.manifest = manifest_path
        report.outputs = [new for _, new in moves]
        report.counts["renamed"] = len(moves)
        report.notes.append(f"manifest: {manifest_path} (undo with Preprocess.undo)")
    if verbose:
        print(report.summary())
    return result


def read_manifest(manifest: str | os.PathLike) -> list[tuple[Path, Path]]:
    """The ``(old, new)`` paths recorded in a rename manifest (folders resolved from its location)."""
    path = Path(manifest)
    if not path.is_file():
        raise FileNotFoundError(f"manifest: '{path}' is not a file; pass the CSV that rename() wrote")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or tuple(header) != MANIFEST_HEADER:
            raise ValueError(
                f"manifest: '{path}' does not start with the header {','.join(MANIFEST_HEADER)} (got {header}); "
                "pass a manifest written by rename()"
            )
        moves = []
        for line, row in enumerate(reader, start=2):
            if len(row) != 3 or not all(row):
                raise ValueError(f"manifest: '{path}' line {line} is not 'folder,old,new': {row}")
            folder = (path.parent / row[0]).resolve()
            moves.append((folder / row[1], folder / row[2]))
    return moves


def undo(
    manifest: str | os.PathLike,
    *,
    dry_run: bool = False,
    progress: bool = True,
    verbose: bool = True,
) -> RenameResult:
    """Reverse the renames recorded in ``manifest`` (each ``new`` goes back to ``old``).

    The same checks as :func:`rename` apply: every renamed file must still be there, and no
    original name may have been taken by another file since; otherwise nothing is moved.

    Args:
        manifest: the CSV written by :func:`rename`.
        dry_run: only check and print the plan.
        progress: show a progress bar.
        verbose: print the report.

    Returns:
        A :class:`RenameResult` whose moves are ``(renamed, original)`` pairs.

    Raises:
        FileNotFoundError: the manifest, or a file it renamed, is missing.
        RenameCollisionError: an original name is taken by another file.
    """
    recorded = read_manifest(manifest)
    moves = [(new, old) for old, new in recorded]
    missing = [str(source) for source, _ in moves if not os.path.lexists(source)]
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise FileNotFoundError(
            f"manifest: {len(missing)} file(s) renamed by '{manifest}' are no longer there ({shown}); "
            "nothing was changed (was it undone already?)"
        )
    check_moves(moves, "Fix: move the files that now hold the original names out of the way, then undo again.")
    report = Report(f"undo {manifest}" + (" [dry run: nothing changed]" if dry_run else ""))
    report.counts["to restore"] = len(moves)
    result = RenameResult(moves=moves, report=report, dry_run=dry_run)
    if dry_run:
        if verbose:
            print(result.plan_text(limit=50) or "(nothing to undo)")
            print(report.summary())
        return result
    _execute(moves, progress)
    report.counts["restored"] = len(moves)
    report.outputs = [old for _, old in moves]
    if verbose:
        print(report.summary())
    return result

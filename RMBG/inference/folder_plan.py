"""Which files a folder run reads and which names it writes: the input side of batch removal.

* :func:`plan_output_names` gives every input its own output name, unique by construction (also
  on case-insensitive file systems) for any set of input names.
* Outputs carry a PNG text chunk (:data:`OUTPUT_MARKER`); :func:`gather_inputs` leaves earlier
  outputs and the output folder out of the inputs, so a rerun with ``-o`` inside (or equal to)
  the input folder never makes cutouts of cutouts.

Imports no TensorFlow.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from PIL import Image

from RMBG.inference.image_io import scan_images

#: The PNG text key every output of a folder run carries (its value: the input's name).
OUTPUT_MARKER = "RMBG-source"


def _candidates(name: str) -> tuple[str, str]:
    """The two preferred output names of an input: ``<stem>.png``, then ``<name>.png``."""
    return Path(name).stem + ".png", name + ".png"


def plan_output_names(names: Sequence[str], reserved: Sequence[str] = ()) -> list[str]:
    """Output file names for inputs of one folder, unique (case-insensitively) by construction.

    Each input gets ``<stem>.png``; inputs whose first choice clashes with another's take
    ``<name>.png`` (``a.jpg`` + ``a.png`` -> ``a.jpg.png``, ``a.png.png``), and so on until no
    name clashes (``a.jpg``, ``a.png``, ``a.jpg.webp`` -> ``a.jpg.png``, ``a.png.png``,
    ``a.jpg.webp.png``). Names still equal after that (inputs that differ only in case) get
    ``<name>~2.png``, ``~3``... in input order.

    Args:
        names: the inputs' file names (unique, as in one folder).
        reserved: names the outputs must not take (case-insensitively), e.g. the inputs' own
            names when the output folder is the input folder, or sub-folder names.
    """
    blocked = {name.casefold() for name in reserved}
    tier = [0] * len(names)
    for _ in range(3):
        chosen = [_candidates(name)[level] for name, level in zip(names, tier)]
        groups: dict[str, list[int]] = {}
        for index, candidate in enumerate(chosen):
            groups.setdefault(candidate.casefold(), []).append(index)
        clashing = [index for key, members in groups.items() if len(members) > 1 or key in blocked for index in members]
        if not clashing:
            break
        for index in clashing:
            tier[index] = min(tier[index] + 1, 1)
    taken = set(blocked)
    result = []
    for name, level in zip(names, tier):
        candidate, number = _candidates(name)[level], 2
        while candidate.casefold() in taken:
            candidate, number = f"{name}~{number}.png", number + 1
        taken.add(candidate.casefold())
        result.append(candidate)
    return result


def plan_outputs(inputs: Sequence[Path], input_root: Path, output_dir: Path) -> list[Path]:
    """Output path of each input: ``<output_dir>/<relative folder>/<name from plan_output_names>``.

    Names are planned per output folder; an output never takes the name of an input in the same
    folder (when ``output_dir`` is the input folder) nor of a sub-folder the plan also writes.
    """
    relative = [p.relative_to(input_root) if p.is_relative_to(input_root) else Path(p.name) for p in inputs]
    by_folder: dict[Path, list[int]] = {}
    for index, rel in enumerate(relative):
        by_folder.setdefault(rel.parent, []).append(index)
    subfolders: dict[Path, set[str]] = {}
    for folder in by_folder:
        for parent, child in zip(folder.parents, (folder, *folder.parents)):
            if child != parent:
                subfolders.setdefault(parent, set()).add(child.name)
    outputs: list[Path] = [Path()] * len(inputs)
    for folder, members in by_folder.items():
        target_folder = output_dir / folder
        reserved = set(subfolders.get(folder, set()))
        if os.path.abspath(target_folder) == os.path.abspath(input_root / folder):
            reserved |= {relative[index].name for index in members}
        names = plan_output_names([relative[index].name for index in members], sorted(reserved))
        for index, name in zip(members, names):
            outputs[index] = target_folder / name
    return outputs


def is_rmbg_output(path: Path) -> bool:
    """Whether ``path`` is a PNG written by a folder run (it carries :data:`OUTPUT_MARKER`)."""
    if path.suffix.lower() != ".png":
        return False
    try:
        with Image.open(path, formats=("PNG",)) as image:
            return OUTPUT_MARKER in getattr(image, "text", {})
    except (OSError, ValueError, SyntaxError):
        return False  # unreadable: the run reports it as a failed input


def gif_frames(path: Path) -> int:
    """The number of frames of a GIF (1 for any other file, or a GIF that cannot be opened)."""
    if path.suffix.lower() != ".gif":
        return 1
    try:
        with Image.open(path, formats=("GIF",)) as image:
            return int(getattr(image, "n_frames", 1))
    except (OSError, ValueError, SyntaxError):
        return 1  # unreadable: load_image reports it


@dataclass
class InputPlan:
    """The inputs of a folder run and what was left out of them.

    Attributes:
        inputs: the photos to process.
        root: the folder their relative paths (and the output layout) start from.
        not_images: files skipped for their type.
        earlier_outputs: outputs of an earlier run found among the inputs, left out.
        skipped_folders: ``(folder, reason)`` of sub-folders not entered.
    """

    inputs: list[Path]
    root: Path
    not_images: list[Path] = field(default_factory=list)
    earlier_outputs: list[Path] = field(default_factory=list)
    skipped_folders: list[tuple[Path, str]] = field(default_factory=list)


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (both made absolute, links resolved)."""
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def gather_inputs(input_path: str | os.PathLike, output_dir: str | os.PathLike, *, recursive: bool = False) -> InputPlan:
    """The photos a folder run reads from ``input_path``, never its own outputs.

    When the output folder lies inside the input folder it is not scanned; when inputs and
    outputs can meet (the output folder is, or is inside, the input folder), PNGs that carry
    :data:`OUTPUT_MARKER` are earlier outputs and are left out.

    Raises:
        FileNotFoundError: ``input_path`` is neither a file nor a folder.
        PermissionError: the input folder cannot be read.
    """
    source, output = Path(input_path), Path(output_dir)
    if source.is_file():
        return InputPlan([source], source.parent)
    if not source.is_dir():
        raise FileNotFoundError(f"input: '{source}' is neither a file nor a folder")
    overlaps = _inside(output, source)
    exclude = [output] if overlaps and output.resolve() != source.resolve() else []
    scan = scan_images(source, recursive=recursive, exclude=exclude)
    inputs, earlier = [], []
    for path in scan.images:
        (earlier if overlaps and is_rmbg_output(path) else inputs).append(path)
    skipped = [(folder, reason) for folder, reason in scan.skipped_folders]
    return InputPlan(inputs, source, scan.not_images, earlier, skipped)

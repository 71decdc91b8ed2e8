"""The one atomic-write helper family, and that nothing else hand-rolls temp-then-rename."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest

from RMBG.atomic import (
    atomic_copy,
    atomic_dir,
    atomic_path,
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    move_no_clobber,
)

REPO = Path(__file__).resolve().parents[1]

#: Renames outside RMBG/atomic.py that are not file writes, each with its reason.
ALLOWED = {
    ("Preprocess/rename.py", "os.rename"): "the rename tool renames the user's own files (its job, with undo)",
    ("RMBG/benchmark/peer_env.py", "os.replace"): "replaces a symbolic link (atomic_path makes regular files)",
    ("RMBG/benchmark/process.py", "os.replace"): "inside the script text run by a child interpreter that must not import RMBG",
    ("RMBG/atomic.py", "*"): "the helper itself",
}
PATTERN = re.compile(r"\b(os\.replace|os\.rename|shutil\.move|tempfile\.mkstemp|\.with_suffix\([^)]*\.tmp)")


def test_no_hand_rolled_atomic_writes():
    found = []
    for path in sorted([*REPO.glob("RMBG/**/*.py"), *REPO.glob("Preprocess/**/*.py")]):
        relative = path.relative_to(REPO).as_posix()
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for match in PATTERN.finditer(line):
                if (relative, match.group(1)) not in ALLOWED and (relative, "*") not in ALLOWED:
                    found.append(f"{relative}:{number}: {line.strip()}")
    assert not found, "use RMBG.atomic instead of:\n" + "\n".join(found)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_writes_replace_only_when_complete_and_leave_nothing_behind(tmp_path):
    target = tmp_path / "sub" / "file.bin"
    atomic_write_bytes(target, b"one")
    with pytest.raises(RuntimeError):
        atomic_write(target, lambda handle: (handle.write(b"half"), (_ for _ in ()).throw(RuntimeError("boom"))))
    assert target.read_bytes() == b"one" and _leftovers(target.parent) == []
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_no_clobber_refuses_an_existing_target(tmp_path):
    target = tmp_path / "a.json"
    atomic_write_json(target, {"x": 1})
    with pytest.raises(FileExistsError, match="not overwritten"):
        atomic_write_json(target, {"x": 2}, clobber=False)
    assert target.read_text().strip() == '{\n  "x": 1\n}'
    with pytest.raises(FileExistsError):
        atomic_copy(target, target, clobber=False)
    source = tmp_path / "b"
    source.write_text("b")
    with pytest.raises(FileExistsError):
        move_no_clobber(source, target)
    assert source.exists() and _leftovers(tmp_path) == []


def test_concurrent_writers_use_their_own_temporary_files(tmp_path):
    target = tmp_path / "shared.txt"
    seen: list[Path] = []
    barrier = threading.Barrier(4)

    def writer(i: int) -> None:
        with atomic_path(target) as temporary:
            seen.append(temporary)
            barrier.wait()  # all four hold a temporary file at once
            temporary.write_text(str(i) * 1000)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 4
    assert target.read_text() in {str(i) * 1000 for i in range(4)} and _leftovers(tmp_path) == []


def test_atomic_path_keeps_a_required_suffix_and_atomic_dir_replaces_whole_folders(tmp_path):
    with atomic_path(tmp_path / "m.keras", suffix=".keras") as temporary:
        assert temporary.suffix == ".keras"
        temporary.write_bytes(b"k")
    folder = tmp_path / "artefact"
    with atomic_dir(folder) as staging:
        (staging / "a").write_text("1")
    with pytest.raises(ValueError):
        with atomic_dir(folder) as staging:
            (staging / "b").write_text("2")
            raise ValueError("interrupted")
    assert sorted(p.name for p in folder.iterdir()) == ["a"]
    with atomic_dir(folder) as staging:
        (staging / "c").write_text("3")
    assert sorted(p.name for p in folder.iterdir()) == ["c"]
    with pytest.raises(FileExistsError):
        with atomic_dir(folder, clobber=False):
            pass
    assert _leftovers(tmp_path) == []

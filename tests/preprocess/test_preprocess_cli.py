from __future__ import annotations

import subprocess
import sys

from Preprocess.__main__ import main
from RMBG.paths import repo_root
from preprocess_helpers import files, tree_snapshot  # noqa: F401  (pytest fixtures)

COMMANDS = ("rename", "resize", "index", "combine", "validate", "plot", "undo", "prepare")


def test_help_lists_every_command_and_imports_no_tensorflow():
    code = (
        "import runpy, sys\n"
        "sys.argv = ['Preprocess', '--help']\n"
        "try:\n"
        "    runpy.run_module('Preprocess', run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
        "import Preprocess.plot, Preprocess.prepare\n"
        "print('TF-LOADED' if 'tensorflow' in sys.modules or 'keras' in sys.modules else 'NO-TF')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo_root(), timeout=120)
    assert done.returncode == 0, done.stderr
    for command in COMMANDS:
        assert command in done.stdout
    assert done.stdout.strip().endswith("NO-TF")


def test_python_dash_m_runs(tmp_path):
    done = subprocess.run([sys.executable, "-m", "Preprocess", "validate", "--help"], capture_output=True,
                          text=True, cwd=repo_root(), timeout=120)
    assert done.returncode == 0 and "--fix-threshold" in done.stdout


def test_rename_dry_run_then_rename_and_undo(tmp_path, files, tree_snapshot, capsys):
    files.pair(tmp_path, "a")
    before = tree_snapshot(tmp_path)
    assert main(["rename", str(tmp_path / "images"), "--category", "cat", "--masks", str(tmp_path / "masks"),
                 "--dry-run", "--no-progress"]) == 0
    assert "a.jpg -> cat_0001.jpg" in capsys.readouterr().out
    assert tree_snapshot(tmp_path) == before
    manifest = tmp_path / "m.csv"
    assert main(["rename", str(tmp_path / "images"), "--category", "cat", "--masks", str(tmp_path / "masks"),
                 "--manifest", str(manifest), "--no-progress"]) == 0
    assert (tmp_path / "masks" / "cat_0001.png").exists()
    assert main(["undo", str(manifest), "--no-progress"]) == 0
    after = tree_snapshot(tmp_path)
    after.pop("m.csv")
    assert after == before


def test_validate_exit_status_and_errors(tmp_path, files, capsys):
    files.pair(tmp_path, "a")
    assert main(["validate", str(tmp_path / "images"), str(tmp_path / "masks"), "--no-progress"]) == 0
    files.mask(tmp_path / "masks" / "b.png")
    report = tmp_path / "report.csv"
    assert main(["validate", str(tmp_path / "images"), str(tmp_path / "masks"), "--report", str(report), "--no-progress"]) == 1
    assert "orphan-mask" in report.read_text()
    assert main(["resize", str(tmp_path / "images"), str(tmp_path / "images"), "--size", "8"]) == 2
    assert "error: dst" in capsys.readouterr().err

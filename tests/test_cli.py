"""The command line: every command is there, and starting it costs no TensorFlow import."""

from __future__ import annotations

import subprocess
import sys


def test_parser_builds_without_tensorflow():
    code = "import sys; from RMBG.cli import build_parser; build_parser(); print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-1000:]
    assert result.stdout.strip() == "False"


def test_every_command_is_registered():
    from RMBG.cli import build_parser

    actions = [a for a in build_parser()._actions if a.dest == "command"]
    assert set(actions[0].choices) == {"remove", "prepare", "samples", "train", "evaluate", "export", "benchmark", "serve", "models"}

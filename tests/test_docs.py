"""The docs' tables come from the code."""

import subprocess
import sys

from RMBG.paths import repo_root


def test_readme_models_table_equals_registry():
    # A fresh interpreter: the registry as a user gets it (tests register extra presets in their
    # own process, e.g. tests/training's tiny model, and the run order differs under xdist).
    table = subprocess.run([sys.executable, "-c", "from RMBG.registry import models_table; print(models_table(markdown=True))"],
                           cwd=repo_root(), capture_output=True, text=True, check=True).stdout.strip()
    assert table.count("\n") >= 3 and table in (repo_root() / "README.md").read_text()


def test_readme_opens_with_the_two_commands():
    text = (repo_root() / "README.md").read_text()
    block = text.split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make demo", "make test"]
    assert "make test" in (repo_root() / ".ci" / "run").read_text()

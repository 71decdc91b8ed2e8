"""The docs' tables come from the code."""

from RMBG.paths import repo_root
from RMBG.registry import models_table


def test_readme_models_table_equals_registry():
    assert models_table(markdown=True) in (repo_root() / "README.md").read_text()


def test_readme_opens_with_the_two_commands():
    text = (repo_root() / "README.md").read_text()
    block = text.split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make demo", "make test"]
    assert "make test" in (repo_root() / ".ci" / "run").read_text()

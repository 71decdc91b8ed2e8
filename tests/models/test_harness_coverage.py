"""Every registered model runs through :class:`model_harness.ModelHarness` (one subclass per name)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import RMBG

TESTS = Path(__file__).resolve().parents[1]


def harness_names() -> dict[str, str]:
    """registry name → the test file whose ModelHarness subclass covers it."""
    found = {}
    for path in TESTS.rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(getattr(b, "id", None) == "ModelHarness" for b in node.bases):
                for statement in node.body:
                    if (isinstance(statement, ast.Assign) and any(getattr(t, "id", None) == "name" for t in statement.targets)
                            and isinstance(statement.value, ast.Constant)):
                        found[statement.value.value] = str(path.relative_to(TESTS))
    return found


@pytest.mark.parametrize("name", RMBG.list_models())
def test_every_registered_model_has_a_harness(name):
    covered = harness_names()
    assert name in covered, (
        f"{name} is registered but no ModelHarness subclass tests it; add "
        f"`class Test...Harness(ModelHarness): name = {name!r}` to its family's test file"
    )

"""Every registered model runs through :class:`model_harness.ModelHarness` (one subclass per name)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import RMBG

TESTS = Path(__file__).resolve().parents[1]


def harness_names() -> dict[str, str]:
    """registry name → the test file whose ModelHarness subclass (direct or not) covers it."""
    classes = {}  # class name → (base names, the ``name = "..."`` it sets, file)
    for path in TESTS.rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                name = next((s.value.value for s in node.body if isinstance(s, ast.Assign)
                             and any(getattr(t, "id", None) == "name" for t in s.targets)
                             and isinstance(s.value, ast.Constant)), None)
                classes[node.id if hasattr(node, "id") else node.name] = (
                    [getattr(b, "id", None) for b in node.bases], name, str(path.relative_to(TESTS)))

    def is_harness(class_name: str, seen: frozenset = frozenset()) -> bool:
        bases = classes.get(class_name, ([], None, None))[0]
        return "ModelHarness" in bases or any(b in classes and b not in seen and is_harness(b, seen | {b}) for b in bases)

    return {name: file for class_name, (_, name, file) in classes.items() if name and is_harness(class_name)}


@pytest.mark.parametrize("name", RMBG.list_models())
def test_every_registered_model_has_a_harness(name):
    covered = harness_names()
    assert name in covered, (
        f"{name} is registered but no ModelHarness subclass tests it; add "
        f"`class Test...Harness(ModelHarness): name = {name!r}` to its family's test file"
    )

"""The table of registered presets and the queries over it (TensorFlow-free)."""

from __future__ import annotations

from typing import Iterable, Mapping

from RMBG.registry.preset import TASKS, Preset

_PRESETS: dict[str, Preset] = {}


def register_presets(presets: Mapping[str, Preset] | Iterable[Preset]) -> None:
    """Add a family's presets. A name can be registered once (re-registering the same preset is a no-op).

    Raises:
        ValueError: a name already registered with a different preset.
    """
    items = presets.values() if isinstance(presets, Mapping) else presets
    for preset in items:
        known = _PRESETS.get(preset.name)
        if known is not None and known != preset:
            raise ValueError(f"model name {preset.name!r} is already registered by family {known.family!r}")
        _PRESETS[preset.name] = preset


def list_models(*, pretrained: bool | None = None, task: str | None = None) -> list[str]:
    """Registered model names, sorted.

    Args:
        pretrained: ``True`` keeps models with pretrained weights, ``False`` those without.
        task: keep one task of :data:`~RMBG.registry.preset.TASKS`.

    Raises:
        ValueError: an unknown task.
    """
    if task is not None and task not in TASKS:
        raise ValueError(f"task: expected one of {TASKS}, got {task!r}")
    return sorted(
        name for name, preset in _PRESETS.items()
        if (pretrained is None or preset.pretrained == pretrained) and (task is None or preset.task == task)
    )


def model_info(name: str) -> Preset:
    """The :class:`Preset` of ``name``.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
    """
    if name not in _PRESETS:
        raise ValueError(f"model: unknown name {name!r}; valid names are {', '.join(sorted(_PRESETS))}")
    return _PRESETS[name]


def models_table(markdown: bool = False) -> str:
    """One row per registered model (name, family, task, input, params, weights, licence, description)."""
    rows = [("name", "family", "task", "input", "params", "pretrained", "licence", "description")]
    for name in list_models():
        preset = _PRESETS[name]
        size = "x".join(map(str, preset.input_size)) if preset.input_size else "any"
        params = f"{preset.params:,}" if preset.params else "-"
        weights = preset.weights.filename if preset.weights else "-"
        rows.append((name, preset.family, preset.task, size, params, weights, preset.license or "-", preset.description))
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows[1:]])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 2)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:-2], widths)) + "  " + r[-1] for r in rows)

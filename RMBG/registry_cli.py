"""``python -m RMBG models``: the registry as a table."""

from __future__ import annotations



def models_table(markdown: bool = False) -> str:
    """One row per registered model: name, family, input size, parameters, pretrained weights."""
    from RMBG.registry import list_models, model_info

    rows = [("name", "family", "task", "input", "params", "pretrained", "description")]
    for name in list_models():
        spec = model_info(name)
        size = "x".join(map(str, spec.input_size)) if spec.input_size else "any"
        params = f"{spec.params:,}" if spec.params else "-"
        weights = spec.weights.filename if spec.weights else "-"
        rows.append((name, spec.family, spec.task, size, params, weights, spec.description))
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows[1:]])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows)


def register(subparsers) -> None:
    parser = subparsers.add_parser("models", help="list the registered models")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table (for the docs)")
    parser.set_defaults(func=lambda args: print(models_table(args.markdown)) or 0)

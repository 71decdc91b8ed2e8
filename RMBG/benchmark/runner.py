"""One benchmark run: the sections of a :class:`~RMBG.benchmark.config.BenchmarkConfig` in order,
then the CSV files, plots and ``summary.md`` in its output folder."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from RMBG.benchmark.config import BenchmarkConfig
from RMBG.benchmark.machine import describe_machine, git_revision
from RMBG.benchmark.photos import default_photos, select_photos, stage_photos
import RMBG.benchmark.report as report
from RMBG.benchmark.processes import CommandRunner, prime, run_megapixel_section, run_process_section
from RMBG.benchmark.serve import measure_server


def _log(message: str) -> None:
    print(f"[benchmark {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_benchmark(config: BenchmarkConfig, command_line: str = "python -m RMBG benchmark") -> dict[str, Any]:
    """Run every section of ``config``; write CSV files, plots and ``summary.md`` to ``config.output``.

    Args:
        config: what to measure.
        command_line: how the run was started (recorded in the summary).

    Returns:
        ``{"processes", "megapixels", "runs", "iou", "targets", "model", "stages": DataFrame,
        "serve": dict or None, "machine": Machine, "files": [paths], "errors": [messages],
        "skipped": [messages]}``.

    Raises:
        FileNotFoundError: the photo folder is missing or empty.
    """
    import pandas as pd  # deferred: pandas (~0.5 s) only when a run writes its tables

    config.output.mkdir(parents=True, exist_ok=True)
    machine = describe_machine()
    _log(f"on {machine.describe()}")
    photos = select_photos(config.photos or default_photos(), config.limit)
    folder = stage_photos(photos, config.output / "photos" / f"base-{len(photos)}")
    errors: list[str] = []
    runs, agreement, skipped = [], [], []
    runner = CommandRunner(config, _log)
    commands = _runnable(config, runner, skipped, errors)
    if commands and ("processes" in config.sections or "megapixels" in config.sections):
        commands = prime(runner, commands, photos[0], errors)
    if "processes" in config.sections and commands:
        rows, ious = run_process_section(config, runner, commands, folder, len(photos), errors)
        runs, agreement = runs + rows, agreement + ious
    if "megapixels" in config.sections and config.megapixels:
        mp_commands = [c for c in commands if c.name in config.mp_commands]
        rows, ious = run_megapixel_section(config, runner, mp_commands, photos, errors)
        runs, agreement = runs + rows, agreement + ious
    serve = _serve(config, photos, errors) if "serve" in config.sections else None
    model, stages = _in_process(config, photos, folder, errors)
    tables = _tables(config, pd.DataFrame(runs), pd.DataFrame(agreement), serve, model, stages, machine)
    files = _write(config, tables, serve, machine, command_line, errors, skipped)
    return {**tables, "serve": serve, "machine": machine, "files": files, "errors": errors, "skipped": skipped}


def _runnable(config: BenchmarkConfig, runner: CommandRunner, skipped: list[str], errors: list[str]):
    wanted = set()
    if "processes" in config.sections:
        wanted = {c.name for c in config.commands}
    elif "megapixels" in config.sections and config.megapixels:
        wanted = set(config.mp_commands)
    commands = []
    for command in config.commands:
        if command.name not in wanted:
            continue
        reason = runner.available(command)
        if reason is None:
            commands.append(command)
            continue
        skipped.append(f"{command.name}: {reason}")
        if command.tool == "rembg":  # the comparison the benchmark is for: never a silent gap
            errors.append(f"{command.name}: {reason}")
    return commands


def _serve(config: BenchmarkConfig, photos: list[Path], errors: list[str]) -> dict | None:
    _log("serve: starting python -m RMBG serve")
    try:
        return measure_server(photos[0], config.output / "logs" / "serve.log", requests=config.serve_requests,
                              timeout=config.timeout, log=_log)
    except (RuntimeError, TimeoutError, OSError) as error:
        errors.append(f"serve: {error}")
        return None


def _in_process(config: BenchmarkConfig, photos: list[Path], folder: Path, errors: list[str]):
    import pandas as pd  # deferred: pandas (~0.5 s) only when a run writes its tables

    model = stages = pd.DataFrame()
    if "model" not in config.sections and "stages" not in config.sections:
        return model, stages
    # deferred: the in-process sections (worker: cv2, PIL, the runtime) stay out of `rmbg --help` start-up
    from RMBG.benchmark.tasks import prepare_exports, run_model_section, run_stage_section

    photo_args = [str(folder / p.name) for p in photos]
    files, gpu, torch_state = prepare_exports(config, _log)
    if "model" in config.sections:
        model = run_model_section(config, photo_args, files, gpu, torch_state, errors, _log)
    if "stages" in config.sections:
        stages = run_stage_section(config, photos, photo_args, files, errors, _log)
    return model, stages


def _tables(config: BenchmarkConfig, runs, agreement, serve, model, stages, machine) -> dict:
    import pandas as pd  # deferred: pandas (~0.5 s) only when a run writes its tables

    empty = pd.DataFrame()
    photos_runs = runs[runs["section"] == "photos"] if not runs.empty else empty
    mp_runs = runs[runs["section"] == "megapixels"] if not runs.empty else empty
    processes = report.summarise_runs(photos_runs, agreement, config.baseline, ["command", "condition"]) if not photos_runs.empty else empty
    megapixels = report.summarise_runs(mp_runs, agreement, config.baseline, ["megapixels", "command"]) if not mp_runs.empty else empty
    for table in (processes, megapixels, runs):
        if not table.empty:
            table["cpu"], table["amx"] = machine.cpu, machine.amx
    values = report.target_values(processes, megapixels, serve, config.default_command)
    return {"processes": processes, "megapixels": megapixels, "runs": runs, "iou": agreement,
            "targets": report.targets_table(values), "model": model, "stages": stages}


def _write(config: BenchmarkConfig, tables: dict, serve, machine, command_line: str, errors, skipped) -> list[Path]:
    import pandas as pd  # deferred: pandas (~0.5 s) only when a run writes its tables

    out, files = config.output, []
    for name in ("processes", "megapixels", "runs", "iou", "targets", "model", "stages"):
        table = tables[name]
        if table is not None and not table.empty:
            files.append(report.write_csv(table.drop(columns=["mask_file"], errors="ignore"), out / f"{name}.csv"))
    if serve:
        files.append(report.write_csv(pd.DataFrame([{**serve, "cpu": machine.cpu, "amx": machine.amx}]), out / "serve.csv"))
    files.append(report.write_csv(pd.DataFrame([{**machine.as_row(), "load_end": os.getloadavg()[0]}]), out / "machine.csv"))
    for plot, name in ((report.plot_processes, "processes"), (report.plot_wall_per_size, "megapixels")):
        path = plot(tables[name], out / f"{name}.png")
        if path:
            files.append(path)
    load_end = os.getloadavg()[0]
    text = report.summary_markdown(machine, command_line, git_revision(), tables, serve, errors, skipped, load_end)
    files.append(report.atomic_write_bytes(out / "summary.md", text.encode()))
    return files


__all__ = ["run_benchmark"]

"""The whole-process sections: every command run as a user runs it, side by side in one run.

* ``processes``: each command on the photo folder (the 18 real photos by default), ``cold``
  and ``warm`` (see :mod:`RMBG.benchmark.pagecache` and ``docs/benchmarks.md``), repeated;
  its masks are compared with the reference command's (Keras float32) on every photo.
* ``megapixels``: the megapixel commands on photos upscaled from the real ones, warm.

Before anything is timed, every command runs once on one photo (untimed): it builds and caches
whatever runtime artefact it uses, so no timed run pays for an export.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Callable

from RMBG.benchmark.config import BenchmarkConfig, CommandSpec, rembg_model_json
from RMBG.benchmark.masks import folder_agreement
from RMBG.benchmark.pagecache import FileSet, default_eviction_roots
from RMBG.benchmark.peer_env import RembgPeer, require_rembg_peer
from RMBG.benchmark.photos import make_megapixel_set, megapixel_cache, stage_photos
from RMBG.benchmark.process import ProcessResult, log_tail, measure_process
from RMBG.paths import assets_dir

Log = Callable[[str], None]


class CommandRunner:
    """Renders and runs the commands of a config, dropping their files from the page cache for cold runs.

    Args:
        config: the run's configuration.
        log: progress messages.
    """

    def __init__(self, config: BenchmarkConfig, log: Log):
        self.config, self.log = config, log
        self.peer: RembgPeer | None = None
        self.peer_model: Path | None = None
        self._files: FileSet | None = None
        self.last_log: Path | None = None

    def available(self, command: CommandSpec) -> str | None:
        """Why ``command`` cannot run here (``None``: it can); installs the rembg peer when the config asks."""
        if command.requires and importlib.util.find_spec(command.requires) is None:
            return f"not run: {command.requires} is not installed in {sys.prefix}"
        if command.tool == "rembg":
            try:
                self.peer = self.peer or require_rembg_peer(self.config.peer_dir, install=self.config.install_peers)
                self.peer_model = self.peer.model_path(self.config.peer_weights or _official_weights())
            except FileNotFoundError as error:
                return f"not run: {error}"
        return None

    def argv(self, command: CommandSpec, input: Path, output: Path) -> list[str]:
        values = {"{python}": sys.executable, "{input}": str(input), "{output}": str(output)}
        if self.peer is not None:
            values["{rembg}"] = str(self.peer.executable)
            values["{rembg_model_json}"] = rembg_model_json(self.peer_model)
        return command.render(values)

    def env(self, command: CommandSpec) -> dict[str, str]:
        environment = dict(os.environ)
        if command.tool == "rembg" and self.peer is not None:
            environment.update(self.peer.env())
        return environment

    def evict(self, extra: list[Path]) -> float:
        """Drop the commands' files from the page cache; MB of the large ones that stayed cached (mapped by other processes)."""
        if self._files is None:
            roots = self.config.evict if self.config.evict is not None else default_eviction_roots(
                [*extra, *([self.peer.root, self.peer_model.resolve()] if self.peer else [])])
            self.log(f"listing the files to drop from the page cache for cold runs under {len(roots)} roots")
            self._files = FileSet(roots)
        self._files.evict()
        return self._files.resident().resident / 1e6

    def run(self, command: CommandSpec, input: Path, output: Path, expected: int) -> ProcessResult:
        """Run ``command`` from ``input`` into a fresh ``output``.

        Raises:
            RuntimeError: it failed or wrote a number of outputs other than ``expected`` (its log is quoted).
            TimeoutError: it ran longer than the config's timeout.
        """
        shutil.rmtree(output, ignore_errors=True)
        output.mkdir(parents=True)
        log_path = self.last_log = self.config.output / "logs" / f"{output.parent.name}-{output.name}.log"
        result = measure_process(self.argv(command, input, output), output_dir=output, log_path=log_path,
                                 env=self.env(command), timeout=self.config.timeout)
        if result.returncode != 0 or result.outputs != expected:
            raise RuntimeError(f"{command.name}: exit status {result.returncode}, {result.outputs} of {expected} outputs; "
                               f"end of '{log_path}':\n{log_tail(log_path)}")
        return result


def _official_weights() -> Path:
    return assets_dir() / "weights" / "u2netp.onnx"


def prime(runner: CommandRunner, commands: list[CommandSpec], photo: Path, errors: list[str]) -> list[CommandSpec]:
    """Run each command once on one photo, untimed (builds its artefacts); the commands that worked."""
    folder = stage_photos([photo], runner.config.output / "photos" / "prime")
    working = []
    for command in commands:
        runner.log(f"prime {command.name} (untimed, builds and caches its artefacts)")
        output = runner.config.output / "runs" / f"prime-{command.name}"
        try:
            runner.run(command, folder, output, expected=1)
            working.append(command)
        except (RuntimeError, TimeoutError, OSError) as error:
            errors.append(f"prime {command.name}: {error}")
        shutil.rmtree(output, ignore_errors=True)
    return working


def _timed_row(runner: CommandRunner, command: CommandSpec, input: Path, output: Path, expected: int, base: dict,
               errors: list[str]) -> dict:
    row = {**base, "command": command.name, "tool": command.tool, "photos": expected,
           "argv": " ".join(runner.argv(command, input, Path("OUT")))}
    try:
        result = runner.run(command, input, output, expected)
    except (RuntimeError, TimeoutError, OSError) as error:
        errors.append(f"{base.get('section')} {command.name} {base.get('condition')}: {error}")
        return {**row, "status": "error", "error": str(error)[:300]}
    return {**row, **result.as_row(), "engine": chosen_engine(runner.last_log), "status": "ok"}


def chosen_engine(log_path: Path | None) -> str:
    """The engine ``--backend auto`` reported choosing in a run's log (``onnxruntime fp32``), or ''."""
    if log_path is None or not log_path.is_file():
        return ""
    match = re.search(r"backend auto -> ([^:\n]+)", log_path.read_text(errors="replace"))
    return match.group(1).strip() if match else ""


def run_process_section(config: BenchmarkConfig, runner: CommandRunner, commands: list[CommandSpec], folder: Path,
                        count: int, errors: list[str]) -> tuple[list[dict], list[dict]]:
    """``repeats`` rounds; in each, every command (order rotated per round) cold then warm.

    Returns:
        ``(run rows, per-photo IoU rows)``; the first successful outputs of each command are kept
        under ``<output>/outputs/<command>`` and compared with the reference command's.
    """
    rows, kept = [], {}
    for repeat in range(config.repeats):
        shift = repeat % max(1, len(commands))
        for command in commands[shift:] + commands[:shift]:
            for condition in config.conditions:
                base = {"section": "photos", "condition": condition, "repeat": repeat, "megapixels": None}
                if condition == "cold":
                    base["cached_after_evict_mb"] = runner.evict([folder])
                runner.log(f"{command.name} {condition} {repeat + 1}/{config.repeats} on {count} photos")
                output = config.output / "runs" / command.name / f"{condition}-{repeat}"
                rows.append(_timed_row(runner, command, folder, output, count, base, errors))
                if rows[-1]["status"] == "ok" and command.name not in kept:
                    kept[command.name] = _keep(output, config.output / "outputs" / command.name)
                shutil.rmtree(output, ignore_errors=True)
    return rows, _agreement_rows(config, kept, errors)


def _keep(output: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(output, target)
    return target


def _agreement_rows(config: BenchmarkConfig, kept: dict[str, Path], errors: list[str], megapixels: float | None = None) -> list[dict]:
    if config.reference not in kept:
        if kept:
            errors.append(f"IoU: the reference command {config.reference!r} produced no outputs; no IoU measured")
        return []
    rows = []
    for name, folder in kept.items():
        try:
            rows += [{"command": name, "megapixels": megapixels, **r} for r in folder_agreement(folder, kept[config.reference])]
        except (FileNotFoundError, ValueError) as error:
            errors.append(f"IoU of {name}: {error}")
    return rows


def run_megapixel_section(config: BenchmarkConfig, runner: CommandRunner, commands: list[CommandSpec], photos: list[Path],
                          errors: list[str]) -> tuple[list[dict], list[dict]]:
    """The megapixel commands on ``mp_count`` photos upscaled to each size, warm, ``repeats`` times."""
    rows, agreement = [], []
    cache = megapixel_cache(config.photo_cache)
    for megapixels in config.megapixels:
        runner.log(f"photos at {megapixels:g} MP (cached in {cache})")
        folder = stage_photos(make_megapixel_set(photos[: config.mp_count], megapixels, cache),
                              config.output / "photos" / f"{megapixels:g}mp")
        kept = {}
        for repeat in range(config.repeats):
            for command in commands:
                base = {"section": "megapixels", "condition": "warm", "repeat": repeat, "megapixels": megapixels}
                runner.log(f"{command.name} at {megapixels:g} MP {repeat + 1}/{config.repeats}")
                output = config.output / "runs" / command.name / f"{megapixels:g}mp-{repeat}"
                rows.append(_timed_row(runner, command, folder, output, config.mp_count, base, errors))
                if rows[-1]["status"] == "ok" and command.name not in kept:
                    kept[command.name] = _keep(output, config.output / "outputs" / f"{command.name}-{megapixels:g}mp")
                shutil.rmtree(output, ignore_errors=True)
        agreement += _agreement_rows(config, kept, [], megapixels) if config.reference in kept else []
        for target in kept.values():
            shutil.rmtree(target, ignore_errors=True)  # 24 MP cutouts are large; the IoU is recorded
    return rows, agreement

"""Benchmarks: whole processes side by side (our commands and rembg from its own venv), cold and
warm, on the real photos and on 1-24 MP photos, plus the server's idle memory; optional in-process
model-latency and stage profiles.

``python -m RMBG benchmark -o results/`` (see :mod:`RMBG.benchmark.cli` and ``docs/benchmarks.md``) or::

    from RMBG.benchmark import BenchmarkConfig, run_benchmark
    results = run_benchmark(BenchmarkConfig.quick("results/"))

Modules by job: :mod:`~RMBG.benchmark.config` (what to measure), :mod:`~RMBG.benchmark.process`
(one process: wall, CPU, peak RSS, first output), :mod:`~RMBG.benchmark.pagecache` (cold runs),
:mod:`~RMBG.benchmark.processes` and :mod:`~RMBG.benchmark.serve` (the sections),
:mod:`~RMBG.benchmark.worker` and :mod:`~RMBG.benchmark.tasks` (in-process sections),
:mod:`~RMBG.benchmark.report` (tables, targets, plots), :mod:`~RMBG.benchmark.runner` (the run),
:mod:`~RMBG.benchmark.peer_env` (the rembg venv). Importing this package imports neither
TensorFlow nor onnxruntime.
"""

from __future__ import annotations

from RMBG.benchmark.config import BenchmarkConfig, CommandSpec, ModelCase, default_commands
from RMBG.benchmark.masks import mask_agreement
from RMBG.benchmark.runner import run_benchmark

__all__ = ["BenchmarkConfig", "CommandSpec", "ModelCase", "default_commands", "mask_agreement", "run_benchmark"]

"""Benchmarks: model latency, end-to-end folder throughput against peers, megapixel scaling, stages.

``python -m RMBG benchmark -o results/`` (see :mod:`RMBG.benchmark.cli`) or::

    from RMBG.benchmark import BenchmarkConfig, run_benchmark
    results = run_benchmark(BenchmarkConfig.smoke("results/"))

Each measurement runs in its own subprocess (:mod:`RMBG.benchmark.harness`); importing this
package imports neither TensorFlow nor onnxruntime.
"""

from __future__ import annotations

from RMBG.benchmark.harness import BenchmarkConfig, ModelCase, mask_agreement, run_benchmark

__all__ = ["BenchmarkConfig", "ModelCase", "mask_agreement", "run_benchmark"]

"""Latency and peak memory of InSPyReNet Swin-B per image on this CPU (Keras, and ONNX Runtime).

Each configuration runs in its own process, so the peak RSS is that configuration's alone.
Weights are random (they do not change the cost). Usage::

    python scripts/bench_inspyrenet.py                 # 384 and 1024, Keras, 3 timed runs each
    python scripts/bench_inspyrenet.py --sizes 384 --runs 5 --onnx
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def measure(size: int, runs: int, engine: str) -> dict:
    import numpy as np

    from RMBG.models.inspyrenet.inspyrenet_segmenter import build_inspyrenet

    started = time.perf_counter()
    model = build_inspyrenet(image_size=(size, size), name=f"inspyrenet_{size}")
    build_s = time.perf_counter() - started
    photo = np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype("float32")
    if engine == "onnxruntime":
        import tempfile

        import onnxruntime as ort

        from RMBG.export.onnx_export import export_onnx

        path = export_onnx(model, os.path.join(tempfile.mkdtemp(), "inspyrenet.onnx"))
        del model
        import gc

        gc.collect()
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name

        def predict():
            return session.run(None, {name: photo})[0]
    else:
        import tensorflow as tf

        function = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

        def predict():
            return function(photo).numpy()

    started = time.perf_counter()
    predict()  # first call: tracing / session warm-up
    first_s = time.perf_counter() - started
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        predict()
        times.append(time.perf_counter() - started)
    return {
        "size": size, "engine": engine, "build_s": round(build_s, 1), "first_call_s": round(first_s, 2),
        "median_s_per_image": round(sorted(times)[len(times) // 2], 2), "runs": runs,
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 2),
        "cpus": os.cpu_count(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[384, 1024])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--onnx", action="store_true", help="also measure the ONNX export on ONNX Runtime")
    parser.add_argument("--child", nargs=2, metavar=("SIZE", "ENGINE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(int(args.child[0]), args.runs, args.child[1])))
        return 0
    engines = ["keras"] + (["onnxruntime"] if args.onnx else [])
    for size in args.sizes:
        for engine in engines:
            result = subprocess.run(
                [sys.executable, __file__, "--runs", str(args.runs), "--child", str(size), engine],
                capture_output=True, text=True,
            )
            line = result.stdout.strip().splitlines()[-1] if result.returncode == 0 else f"failed: {result.stderr[-400:]}"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Per-photo latency and peak RSS of one InSPyReNet configuration through the Remover (this process only).

Times ``Remover(...).predict_mask(photo)`` (batch 1: resize to the model size, the model, the mask
resized back; decode excluded) on real photos, then on one large photo. Run one configuration per
process so the peak RSS is that configuration's alone. Usage::

    python scripts/bench_inspyrenet_photos.py inspyrenet_swinb_fast --weights ref.pth --backend keras \\
        --photos a.jpg b.jpg --large big_24mp.jpg
    python scripts/bench_inspyrenet_photos.py $RMBG_HOME/runtime/<artefact>/model.onnx --backend onnxruntime \\
        --photos a.jpg b.jpg --large big_24mp.jpg
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def _load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a registry name, a .keras file or an RMBG .onnx file")
    parser.add_argument("--weights", type=Path, default=None, help="a local .pth for a registry name (Keras backend)")
    parser.add_argument("--backend", default="keras", help="keras, onnxruntime, openvino or auto")
    parser.add_argument("--photos", type=Path, nargs="+", required=True, help="photos timed one by one")
    parser.add_argument("--large", type=Path, default=None, help="then one large photo (e.g. 24 MP)")
    parser.add_argument("--repeat", type=int, default=1, help="passes over --photos after the first call")
    args = parser.parse_args()
    for photo in [*args.photos, *([args.large] if args.large else [])]:
        if not photo.is_file():
            parser.error(f"--photos/--large: no such file '{photo}'")
    if args.weights is not None and not args.weights.is_file():
        parser.error(f"--weights: no such file '{args.weights}'")

    import RMBG
    from RMBG.inference.image_io import load_image
    from RMBG.inference.remover import Remover

    started = time.perf_counter()
    model = RMBG.create_model(args.model, weights=args.weights) if args.weights is not None else args.model
    remover = Remover(model, backend=args.backend, batch_size=1)
    print(f"load {time.perf_counter() - started:.1f} s ({type(remover.backend).__name__}, {remover.image_size}), "
          f"peak {_peak_gib():.2f} GiB, load avg {_load()}", flush=True)
    photos = [load_image(path) for path in args.photos]
    started = time.perf_counter()
    remover.predict_mask(photos[0])
    print(f"first call {time.perf_counter() - started:.2f} s", flush=True)
    times = []
    for photo in photos * args.repeat:
        started = time.perf_counter()
        remover.predict_mask(photo)
        times.append(time.perf_counter() - started)
    print(f"per photo {[round(t, 2) for t in times]} s, median {sorted(times)[len(times) // 2]:.2f} s, "
          f"peak {_peak_gib():.2f} GiB, load avg {_load()}", flush=True)
    if args.large is not None:
        started = time.perf_counter()
        big = load_image(args.large)
        decode = time.perf_counter() - started
        started = time.perf_counter()
        mask = remover.predict_mask(big)
        print(f"{args.large.name} {big.shape[1]}x{big.shape[0]}: decode {decode:.2f} s, mask {time.perf_counter() - started:.2f} s "
              f"({mask.shape[1]}x{mask.shape[0]}), peak {_peak_gib():.2f} GiB, load avg {_load()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Measure ``--engine ray`` against the single-process command on this machine (docs/scale.md).

    python -m RMBG.distributed.measure --photos ../shared/assets/u2net_testdata/images --copies 4 --actors 1 2

1. The two commands end to end, each a fresh process on the same photos (``--copies`` hard links
   of each, so there is enough work): wall time, CPU seconds of the command and everything it
   started (Ray's processes included), peak RSS of its largest process. Between them, one
   actor's work without Ray (:func:`measure_actor`): what an actor with one CPU costs per photo.
2. Inside one local Ray instance, ``remove_dataset`` with each actor count: images/s overall and
   after the first batch (steady state), CPU-s per image and peak RSS per actor, sampled from
   the process tree every 0.2 s.

Prints one JSON object. Imports Ray and the model only when run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from RMBG.distributed import remove_dataset
from RMBG.distributed.inputs import plan_inputs
from RMBG.distributed.predictor import prepare_artefact
from RMBG.distributed.worker import RemovalActor
from RMBG.inference.image_io import list_images
from RMBG.runtime import prepare


def _workload(photos: Path, copies: int, folder: Path) -> int:
    count = 0
    for copy in range(copies):
        for photo in list_images(photos):
            target = folder / f"{photo.stem}-{copy}{photo.suffix}"
            try:
                os.link(photo, target)
            except OSError:
                shutil.copyfile(photo, target)
            count += 1
    return count


def _command(args: list[str]) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "RMBG", *args], capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr[-2000:]}")
    return {"wall_s": round(wall, 2), "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2),
            "peak_rss_mb": round(after.ru_maxrss / 1024, 1), "summary": (result.stdout or result.stderr).strip().splitlines()[-1]}


class _TreeSampler:
    """CPU seconds and peak RSS of every process below this one and below any running raylet
    (Ray's instance, started here or before, and its actors), sampled every ``interval`` s; a
    process that ends keeps its last sample."""

    def __init__(self, interval: float = 0.2):
        import psutil  # deferred: optional (psutil, not a dependency) only for the Ray section

        self._roots = [psutil.Process()] + [q for q in psutil.process_iter(["name"]) if q.info["name"] == "raylet"]
        self.interval = interval
        self.cpu: dict[int, float] = {}
        self.rss: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil  # deferred: optional (psutil, not a dependency) only for the Ray section

        while not self._stop.is_set():
            tree = [child for root in self._roots for child in (root, *root.children(recursive=True))]
            for process in tree[1:]:  # not this process itself: its CPU time is counted by getrusage
                try:
                    with process.oneshot():
                        times, memory, name = process.cpu_times(), process.memory_info(), process.name()
                except psutil.Error:
                    continue
                self.cpu[process.pid] = times.user + times.system
                self.rss[process.pid] = max(self.rss.get(process.pid, 0), memory.rss)
                self.names[process.pid] = name
            self._stop.wait(self.interval)

    def __enter__(self) -> _TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def actor_pids(self, since: dict[int, float]) -> list[int]:
        return [pid for pid, name in self.names.items() if "MapWorker" in name and self.cpu[pid] > since.get(pid, 0.0)]


def measure_actor(source: Path, out: Path, batch_size: int) -> dict:
    """One actor's work without Ray: :class:`RemovalActor` called in this process on ``source``
    (threads=1, as in an actor with one CPU). CPU seconds are this process's own."""
    plan = plan_inputs(source, out)
    options = dict(format="rgba", bg_color=None, threshold=None, overwrite=False, post="none", post_options={},
                   max_pixels=120_000_000, batch_size=batch_size, threads=1, workers=2, output_dir=str(out),
                   fingerprint="measure", run="measure")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    actor = RemovalActor(prepare_artefact("u2netp"), options)
    start_cpu, start_wall = time.process_time() - cpu0, time.perf_counter() - wall0
    cpu1, wall1 = time.process_time(), time.perf_counter()
    written = 0
    for begin in range(0, len(plan.inputs), 2 * batch_size):  # the calls Ray Data makes
        rows = actor({"input": np.array(plan.inputs[begin:begin + 2 * batch_size], dtype=object),
                      "output": np.array([str(p) for p in plan.outputs[begin:begin + 2 * batch_size]], dtype=object)})
        written += int((rows["status"] == "written").sum())
    cpu, wall = time.process_time() - cpu1, time.perf_counter() - wall1
    return {"engine": actor.remover.backend.name, "start_s": round(start_wall, 2), "start_cpu_s": round(start_cpu, 2),
            "written": written, "wall_s": round(wall, 2), "images_per_s": round(written / wall, 3),
            "cpu_s_per_image": round(cpu / max(written, 1), 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def measure(photos: Path, copies: int, actor_counts: list[int], batch_size: int, *, with_ray: bool = True) -> dict:
    if not os.environ.get("RAY_ADDRESS"):  # a local instance: loopback only (read when ray is imported)
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray  # deferred: optional (ray); it reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER, set above, at import

    prepare("u2netp")
    work = Path(tempfile.mkdtemp(prefix="rmbg_measure_"))
    try:
        source = work / "photos"
        source.mkdir()
        count = _workload(photos, copies, source)
        report: dict = {"photos": count, "cores": os.cpu_count(), "load_average_at_start": os.getloadavg(),
                        "batch_size": batch_size}
        report["single_process_command"] = _command(["remove", "-i", str(source), "-o", str(work / "single"),
                                                     "--batch-size", str(batch_size)])
        report["one_actor_in_process"] = measure_actor(source, work / "actor", batch_size)
        if not with_ray:
            report["load_average_at_end"] = os.getloadavg()
            return report
        with _TreeSampler() as sampler:
            before = dict(sampler.cpu)
            time.sleep(2 * sampler.interval)
            before = dict(sampler.cpu)
            command = _command(["remove", "-i", str(source), "-o", str(work / "ray-cli"), "--engine", "ray",
                                "--batch-size", str(batch_size)])
            time.sleep(2 * sampler.interval)
        # With RAY_ADDRESS the command joins that cluster: its actors are the cluster's processes.
        command["cpu_s_cluster_processes"] = round(sum(cpu - before.get(pid, 0.0) for pid, cpu in sampler.cpu.items()), 2)
        report["ray_command"] = command
        if os.environ.get("RAY_ADDRESS"):  # a cluster started beforehand (a loaded machine; see docs/scale.md)
            ray.init(log_to_driver=False)
        else:
            ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, object_store_memory=256 * 2**20, log_to_driver=False)
        runs = []
        with _TreeSampler() as sampler:
            for actors in actor_counts:
                time.sleep(1.0)
                before = dict(sampler.cpu)
                own = resource.getrusage(resource.RUSAGE_SELF)
                run = remove_dataset(source, work / f"actors-{actors}", actors=actors, batch_size=batch_size, progress=False)
                time.sleep(2 * sampler.interval)
                after = resource.getrusage(resource.RUSAGE_SELF)
                pids = sampler.actor_pids(before)
                cpu_total = sum(sampler.cpu[p] - before.get(p, 0.0) for p in sampler.cpu) + \
                    (after.ru_utime + after.ru_stime - own.ru_utime - own.ru_stime)
                first_s, first_rows = run.first_rows
                steady = (run.written - first_rows) / (run.seconds - first_s) if run.seconds > first_s and run.written > first_rows else None
                runs.append({
                    "actors": actors, "written": run.written, "failed": len(run.failed), "wall_s": round(run.seconds, 2),
                    "images_per_s": round(run.written / run.seconds, 3),
                    "first_batch_s": round(first_s, 2), "steady_images_per_s": round(steady, 3) if steady else None,
                    "steady_images_per_s_per_actor": round(steady / actors, 3) if steady else None,
                    "cpu_s_per_image_actors": round(sum(sampler.cpu[p] - before.get(p, 0.0) for p in pids) / max(run.written, 1), 3),
                    "cpu_s_per_image_all": round(cpu_total / max(run.written, 1), 3),
                    "peak_rss_mb_per_actor": [round(sampler.rss[p] / 2**20, 1) for p in pids],
                })
        ray.shutdown()
        report["remove_dataset"] = runs
        report["load_average_at_end"] = os.getloadavg()
        return report
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m RMBG.distributed.measure", description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, required=True, help="a folder of photos")
    parser.add_argument("--copies", type=int, default=4, help="hard links of each photo (default 4)")
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2], help="actor counts to run (default 1 2)")
    parser.add_argument("--batch-size", type=int, default=4, help="photos per model call (default 4)")
    parser.add_argument("--no-ray", action="store_true", help="only the single-process command and one actor's work in this process")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.photos, args.copies, args.actors, args.batch_size, with_ray=not args.no_ray), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

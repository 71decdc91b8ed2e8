"""Measuring one whole process: wall time, CPU seconds, peak RSS and the time to its first output.

The command is started by a small launcher process (``python -S``, about 10 MB) that spawns it,
reaps it with ``os.wait4`` and reports its resource usage: ``ru_utime + ru_stime`` are its CPU
seconds on all threads, ``ru_maxrss`` its peak resident set. The launcher is needed because
Linux carries the *spawning* process's peak RSS into the child's ``ru_maxrss`` across
``fork``/``exec``; spawned straight from the benchmark (hundreds of MB with pandas and masks
loaded) every small command would report the benchmark's own peak.

Meanwhile the output folder is listed every ``poll_s`` seconds; the first file with the output
suffix whose name does not start with a dot (RMBG writes ``.<name>.<random>.part`` first and
renames it) gives the time to the first written mask (resolution ``poll_s``). Times are
``CLOCK_MONOTONIC``, shared by both processes.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence


@dataclass(frozen=True)
class ProcessResult:
    """What one process cost.

    Attributes:
        wall_s: from spawning the command to reaping it (the launcher's start-up excluded).
        user_s, sys_s: the command's CPU seconds (``os.wait4``).
        peak_rss_mb: the command's peak resident set, MB (10^6 bytes).
        first_output_s: seconds until the first output file appeared (NaN: none appeared).
        outputs: output files at the end.
        returncode: the command's exit status (negative: killed by that signal).
    """

    wall_s: float
    user_s: float
    sys_s: float
    peak_rss_mb: float
    first_output_s: float
    outputs: int
    returncode: int

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    def as_row(self) -> dict:
        return {**asdict(self), "cpu_s": self.cpu_s}


def count_outputs(folder: Path, suffix: str = ".png") -> int:
    """Finished output files in ``folder`` (not recursive; hidden temporary names excluded)."""
    try:
        with os.scandir(folder) as entries:
            return sum(1 for e in entries if e.name.endswith(suffix) and not e.name.startswith("."))
    except FileNotFoundError:
        return 0


def _has_output(folder: Path, suffix: str) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(e.name.endswith(suffix) and not e.name.startswith(".") for e in entries)
    except FileNotFoundError:
        return False


LAUNCHER = """
import json, os, sys, time
argv, result = json.loads(sys.argv[1]), sys.argv[2]
start = time.monotonic()
try:
    pid = os.posix_spawnp(argv[0], argv, os.environ)
except OSError as error:
    print(f"benchmark launcher: cannot start {argv[0]!r}: {error}", file=sys.stderr)
    sys.exit(127)
_, status, usage = os.wait4(pid, 0)
end = time.monotonic()
with open(result + ".part", "w") as handle:
    json.dump({"start": start, "end": end, "status": os.waitstatus_to_exitcode(status), "user": usage.ru_utime,
               "sys": usage.ru_stime, "maxrss_kib": usage.ru_maxrss}, handle)
os.replace(result + ".part", result)
"""


def measure_process(argv: Sequence[str], *, output_dir: str | os.PathLike, log_path: str | os.PathLike,
                    env: Mapping[str, str] | None = None, timeout: float = 900.0, suffix: str = ".png",
                    poll_s: float = 0.01, cwd: str | os.PathLike | None = None) -> ProcessResult:
    """Run ``argv`` to its end and measure it (see the module docstring).

    Args:
        argv: the command line (``argv[0]`` is looked up on ``PATH``).
        output_dir: the folder the command writes its outputs to (watched for the first output).
        log_path: the command's stdout and stderr go here.
        env: the command's whole environment (default: this process's).
        timeout: seconds before the command's process group is killed.
        suffix: the output files' suffix.
        poll_s: seconds between two checks of the command and its folder.
        cwd: the command's working folder.

    Raises:
        TimeoutError: the command ran longer than ``timeout`` (it is killed; the log is named).
        RuntimeError: the command could not be started (the log says why).
    """
    output_dir, log_path = Path(output_dir), Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    report = log_path.with_name(f".{log_path.name}.usage.json")
    report.unlink(missing_ok=True)
    first = math.nan
    with open(log_path, "wb") as log:
        launcher = subprocess.Popen([sys.executable, "-S", "-c", LAUNCHER, json.dumps(list(argv)), str(report)],
                                    stdout=log, stderr=subprocess.STDOUT, env=dict(env) if env is not None else None,
                                    cwd=cwd, start_new_session=True)
        began = time.monotonic()
        while launcher.poll() is None:
            now = time.monotonic()
            if math.isnan(first) and _has_output(output_dir, suffix):
                first = now
            if now - began > timeout:
                os.killpg(launcher.pid, signal.SIGKILL)
                launcher.wait()
                raise TimeoutError(f"{argv[0]}: still running after {timeout:.0f} s, killed; its output is in '{log_path}'")
            time.sleep(poll_s)
    if launcher.returncode != 0 or not report.is_file():
        raise RuntimeError(f"{argv[0]}: the benchmark launcher failed (status {launcher.returncode}); end of '{log_path}':\n"
                           f"{log_tail(log_path)}")
    usage = json.loads(report.read_text())
    report.unlink()
    wall = usage["end"] - usage["start"]
    outputs = count_outputs(output_dir, suffix)
    first = wall if math.isnan(first) and outputs else first - usage["start"]  # written between the last two checks
    return ProcessResult(wall_s=wall, user_s=usage["user"], sys_s=usage["sys"], peak_rss_mb=usage["maxrss_kib"] * 1024 / 1e6,
                         first_output_s=first, outputs=outputs, returncode=usage["status"])


def log_tail(log_path: str | os.PathLike, characters: int = 1200) -> str:
    """The end of a child's log, for error messages."""
    try:
        return Path(log_path).read_text(errors="replace")[-characters:]
    except OSError:
        return ""

"""The machine a benchmark ran on: CPU model and the flags that change results (AMX, AVX-512,
bf16), cores, load, and the versions of the engines. Results differ between Intel AMX and AMD
machines, so every row of a run carries this."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from RMBG.paths import repo_root

#: CPU flags that decide which kernels the engines use.
INTERESTING_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16",
                     "amx_int8", "amx_fp16")
#: Packages whose versions are recorded (read from metadata; nothing is imported).
PACKAGES = ("onnxruntime", "openvino", "tensorflow-cpu", "tensorflow", "keras", "numpy", "pillow", "opencv-python-headless")


@dataclass(frozen=True)
class Machine:
    """Attributes:
        cpu: the ``lscpu`` model name.
        flags: the :data:`INTERESTING_FLAGS` the CPU has.
        amx: whether it has Intel AMX tiles.
        cores: logical CPUs this process may use.
        load: 1-minute load average when read.
        python: Python version.
        versions: ``{package: version}`` of :data:`PACKAGES` that are installed.
    """

    cpu: str
    flags: tuple[str, ...]
    amx: bool
    cores: int
    load: float
    python: str
    versions: dict

    def describe(self) -> str:
        """One line: CPU, AMX or not, flags, cores, load."""
        amx = "AMX" if self.amx else "no AMX"
        return (f"{self.cpu} ({amx}; {', '.join(self.flags) or 'no AVX2'}), {self.cores} logical cores, "
                f"load average {self.load:.2f}")

    def as_row(self) -> dict:
        row = asdict(self)
        row["flags"] = " ".join(self.flags)
        row["versions"] = " ".join(f"{k}=={v}" for k, v in self.versions.items())
        return row


def parse_lscpu(text: str) -> tuple[str, tuple[str, ...]]:
    """``(model name, interesting flags)`` from ``lscpu`` (or ``/proc/cpuinfo``) output."""
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags":
            flags.update(value.split())
    return model, tuple(f for f in INTERESTING_FLAGS if f in flags)


def _cpu_text() -> str:
    if shutil.which("lscpu"):
        completed = subprocess.run(["lscpu"], capture_output=True, text=True, check=False, env={**os.environ, "LC_ALL": "C"})
        if completed.returncode == 0 and "Flags" in completed.stdout:
            return completed.stdout
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return f"model name: {platform.processor() or platform.machine()}"


def describe_machine() -> Machine:
    """The machine this process runs on (see :class:`Machine`)."""
    model, flags = parse_lscpu(_cpu_text())
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return Machine(cpu=model or platform.machine(), flags=flags, amx=any(f.startswith("amx") for f in flags), cores=cores,
                   load=load, python=platform.python_version(), versions=versions)


def git_revision() -> str:
    """``<short commit>`` of the repository, with ``+changes`` when the tree has uncommitted changes ('' outside git)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo_root(), capture_output=True, text=True, check=False)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo_root(),
                               capture_output=True, text=True, check=False)
    except OSError:
        return ""
    if head.returncode:
        return ""
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")

"""Where a run came from: the code revision, the library versions, the dataset's checksum and the
starting weight file's.

Imports no TensorFlow at module level (the versions of TensorFlow and Keras are read from the
installed packages; the visible devices only when asked for).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from RMBG.checksums import file_sha256
from RMBG.paths import repo_root

#: Packages whose versions every run records.
RECORDED_PACKAGES = ("tensorflow", "tensorflow-cpu", "keras", "numpy", "pillow", "mlflow", "dvc", "rmbg")


def git_revision(folder: str | os.PathLike | None = None) -> dict[str, Any] | str:
    """``{"commit": sha, "dirty": bool}`` of the repository holding ``folder`` (the project by
    default; dirty = tracked files differ from the commit), or ``"unknown"`` outside git."""
    cwd = Path(folder) if folder is not None else repo_root()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=20, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True, text=True,
            timeout=20, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return {"commit": commit, "dirty": bool(status.strip())} if commit else "unknown"


def environment_versions(devices: bool = True) -> dict[str, Any]:
    """Python, platform and library versions; with ``devices``, TensorFlow's visible devices
    (this imports TensorFlow)."""
    versions: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in RECORDED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    if devices:
        import keras  # deferred: TensorFlow only for environment_versions; the other helpers stay TF-free
        import tensorflow as tf  # deferred: TensorFlow only for environment_versions; the other helpers stay TF-free

        versions["tf.__version__"] = tf.__version__
        versions["keras.__version__"] = keras.__version__
        versions["devices"] = [d.name for d in tf.config.list_logical_devices()]
    return versions



def file_checksum(setting: str, value: str | os.PathLike | None, fix: str) -> dict[str, str] | None:
    """``{"path": resolved path, "sha256": checksum}`` of the file a run setting names, or ``None`` without one.

    Used for ``data`` (the index lists every photo and mask with its split, so its checksum identifies
    the dataset version; the files themselves are versioned by DVC, see ``docs/mlops.md``) and for
    ``weights`` (the checkpoint a run starts from).

    Raises:
        FileNotFoundError: ``value`` is not a file (the message names ``setting`` and gives ``fix``).
    """
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{setting}: '{value}' is not a file; {fix}")
    return {"path": str(path), "sha256": file_sha256(path)}

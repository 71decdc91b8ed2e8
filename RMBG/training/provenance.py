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



def dataset_checksum(index_csv: str | os.PathLike | None) -> dict[str, str] | None:
    """``{"path": resolved path, "sha256": checksum of the index CSV}`` or ``None`` without one.

    The index lists every photo and mask with its split, so its checksum identifies the dataset
    version a run trained on (the files themselves are versioned by DVC, see ``docs/mlops.md``).
    """
    if not index_csv:
        return None
    path = Path(index_csv).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"data: '{index_csv}' is not a file; give the dataset's index.csv")
    return {"path": str(path), "sha256": file_sha256(path)}


def weights_checksum(weights: str | os.PathLike | None) -> dict[str, str] | None:
    """``{"path": resolved path, "sha256": checksum}`` of the weight file a run started from, or ``None``."""
    if not weights:
        return None
    path = Path(weights).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"weights: '{weights}' is not a file; give the checkpoint the run starts from")
    return {"path": str(path), "sha256": file_sha256(path)}

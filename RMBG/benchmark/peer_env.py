"""The rembg peer: ``rembg[cpu,cli]`` with its real dependencies, in its own virtual environment.

The benchmark runs rembg's own ``rembg p`` command from this venv, the way a user installs it
(``pip install "rembg[cpu,cli]==2.0.86"``), never from RMBG's test venv. The resolved versions are
pinned in ``rembg-<version>.constraints.txt`` beside this file, so the peer installs the same way
each time. Create it with ``scripts/install_peers.sh`` or ``python -m RMBG.benchmark.peer_env``
(about 840 MB, a few minutes), or let ``python -m RMBG benchmark --install-peers`` do it.

rembg 2.0.86 accepts a ``model_path`` only inside its model folder (``U2NET_HOME``), so the
official ``u2netp.onnx`` is linked (a symbolic link, not a copy) into ``<venv>/models``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from RMBG.paths import cache_dir

REMBG_VERSION = "2.0.86"
REQUIREMENT = f"rembg[cpu,cli]=={REMBG_VERSION}"
CONSTRAINTS = Path(__file__).with_name(f"rembg-{REMBG_VERSION}.constraints.txt")
INSTALL_HINT = "scripts/install_peers.sh (or python -m RMBG.benchmark.peer_env, or python -m RMBG benchmark --install-peers)"


def default_peer_dir() -> Path:
    """``$RMBG_HOME/peers/rembg-<version>``."""
    return cache_dir() / "peers" / f"rembg-{REMBG_VERSION}"


@dataclass(frozen=True)
class RembgPeer:
    """A rembg venv.

    Attributes:
        root: the venv folder.
    """

    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def executable(self) -> Path:
        """The venv's ``rembg`` console script."""
        return self.root / "bin" / "rembg"

    @property
    def models(self) -> Path:
        """rembg's model folder (``U2NET_HOME``) for this venv."""
        return self.root / "models"

    @property
    def marker(self) -> Path:
        return self.root / ".installed"

    def installed(self) -> bool:
        """Whether the install finished (the marker is written last)."""
        return self.marker.is_file() and self.executable.is_file()

    def env(self) -> dict[str, str]:
        """Environment variables for the peer's processes."""
        return {"U2NET_HOME": str(self.models)}

    def model_path(self, weights: str | os.PathLike) -> Path:
        """``weights`` linked into :attr:`models` (rembg refuses model files outside it); the link's path.

        Raises:
            FileNotFoundError: ``weights`` does not exist.
        """
        source = Path(weights).resolve()
        if not source.is_file():
            raise FileNotFoundError(f"peer_weights: no such file '{weights}' (the official u2netp.onnx)")
        self.models.mkdir(parents=True, exist_ok=True)
        link = self.models / source.name
        if link.is_symlink() and link.resolve() == source:
            return link
        temporary = link.with_name(f".{link.name}.{os.getpid()}.link")
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(source)
        os.replace(temporary, link)
        return link

    def version(self) -> str:
        """The rembg version installed in the venv (read from its metadata, without importing it)."""
        for info in (self.root / "lib").glob("python*/site-packages/rembg-*.dist-info"):
            return info.name[len("rembg-"):-len(".dist-info")]
        raise FileNotFoundError(f"peer_dir: no rembg installed in '{self.root}'; install it with {INSTALL_HINT}")


def install_rembg_peer(root: str | os.PathLike | None = None, python: str | os.PathLike | None = None) -> RembgPeer:
    """Create the venv at ``root`` and install :data:`REQUIREMENT` with the pinned constraints.

    Args:
        root: the venv folder (default :func:`default_peer_dir`); an unfinished one is recreated.
        python: the base interpreter (default: the one this venv was made from).

    Raises:
        subprocess.CalledProcessError: creating the venv or ``pip install`` failed (pip's output is shown).
    """
    peer = RembgPeer(Path(root) if root else default_peer_dir())
    interpreter = str(python or getattr(sys, "_base_executable", None) or sys.executable)
    print(f"installing the rembg peer: {REQUIREMENT} into {peer.root} (about 840 MB, a few minutes)", flush=True)
    peer.marker.unlink(missing_ok=True)
    subprocess.run([interpreter, "-m", "venv", "--clear", str(peer.root)], check=True)
    subprocess.run([str(peer.python), "-m", "pip", "install", "--disable-pip-version-check", "-c", str(CONSTRAINTS),
                    REQUIREMENT], check=True)
    peer.models.mkdir(exist_ok=True)
    peer.marker.write_text(f"{REQUIREMENT}\n")
    return peer


def require_rembg_peer(root: str | os.PathLike | None = None, install: bool = False) -> RembgPeer:
    """The installed peer venv, installed first when ``install`` is true.

    Raises:
        FileNotFoundError: it is not installed and ``install`` is false (the message says how to install it).
    """
    peer = RembgPeer(Path(root) if root else default_peer_dir())
    if peer.installed():
        return peer
    if install:
        return install_rembg_peer(peer.root)
    raise FileNotFoundError(f"peer_dir: the rembg {REMBG_VERSION} venv '{peer.root}' is not installed; "
                            f"create it with {INSTALL_HINT}")


def main(argv: list[str] | None = None) -> int:
    """``python -m RMBG.benchmark.peer_env [--dir DIR] [--python PY] [--force]``."""
    parser = argparse.ArgumentParser(prog="python -m RMBG.benchmark.peer_env", description=f"install {REQUIREMENT} in its own venv")
    parser.add_argument("--dir", type=Path, default=None, help="venv folder (default $RMBG_HOME/peers/rembg-<version>)")
    parser.add_argument("--python", default=None, help="base interpreter for the venv (default: this venv's base)")
    parser.add_argument("--force", action="store_true", help="reinstall even if it is installed")
    args = parser.parse_args(argv)
    peer = RembgPeer(args.dir or default_peer_dir())
    if peer.installed() and not args.force:
        print(f"rembg {peer.version()} is installed in {peer.root}")
        return 0
    peer = install_rembg_peer(peer.root, args.python)
    print(f"rembg {peer.version()} installed in {peer.root}; run it as {peer.executable}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

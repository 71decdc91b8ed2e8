"""The state folder of a distributed run (``<output>/.rmbg/``): the run lock and the write journal.

Exactly-once rests on three things. Output names are deterministic (planned once on the driver),
outputs are written atomically (a temporary file, then a rename), and an output that exists is
never redone. The journal only carries what a rerun cannot see in the files themselves: each
actor appends one JSON line per output (its mask checksum and seconds) *before* renaming the
output into place, so every output that exists has its line, and a rerun's results manifest
describes the photos done earlier too. A line cut short by a kill is ignored; a line whose output
does not exist means nothing (the output is redone).

The lock (``fcntl.flock`` on ``.rmbg/lock``) keeps two drivers off one output folder; the kernel
releases it when its holder dies, also by SIGKILL, so a rerun never waits for a dead run.
Imports neither Ray nor TensorFlow.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import IO

#: The state folder's name inside the output folder.
STATE_DIR = ".rmbg"


def journal_dir(output_dir: str | os.PathLike) -> Path:
    """``<output_dir>/.rmbg/journal``."""
    return Path(output_dir) / STATE_DIR / "journal"


class Journal:
    """One actor's append-only journal file (``<host>-<pid>-<random>.jsonl``), safe across threads.

    Args:
        output_dir: the run's output folder.
        options: the fingerprint of the options the outputs are made with (see
            :func:`RMBG.distributed.worker.options_fingerprint`); a rerun trusts only lines with its own.
        run: the run's id.
    """

    def __init__(self, output_dir: str | os.PathLike, options: str, run: str):
        self.folder = journal_dir(output_dir)
        self.options = options
        self.run = run
        self._handle: IO[str] | None = None
        self._lock = threading.Lock()

    def append(self, input: str, output: str, mask_sha256: str, seconds: float) -> None:
        """Record one output about to be renamed into place (written and flushed to the OS now)."""
        line = json.dumps({
            "input": input, "output": output, "mask_sha256": mask_sha256, "seconds": round(seconds, 4),
            "options": self.options, "run": self.run, "time": time.time(),
        }) + "\n"
        with self._lock:
            if self._handle is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
                self._handle = open(self.folder / name, "a", encoding="utf-8")
            self._handle.write(line)
            self._handle.flush()

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None


def read_journals(output_dir: str | os.PathLike, options: str) -> dict[str, dict]:
    """The latest journal line (by its ``time``) per output path among lines made with ``options``.

    Lines that do not parse (the last line of a journal whose writer was killed mid-write) and
    lines of other options are ignored.
    """
    folder = journal_dir(output_dir)
    found: dict[str, dict] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.jsonl")):
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if not (isinstance(row, dict) and row.get("options") == options and "output" in row):
                    continue
                earlier = found.get(row["output"])
                if earlier is None or row.get("time", 0.0) >= earlier.get("time", 0.0):
                    found[row["output"]] = row
    return found


class RunLock:
    """An exclusive lock on an output folder for the lifetime of one driver.

    Raises:
        RuntimeError: on :meth:`acquire`, when another live run holds the folder (names its pid and host).
    """

    def __init__(self, output_dir: str | os.PathLike):
        self.path = Path(output_dir) / STATE_DIR / "lock"
        self._handle: IO[str] | None = None

    def acquire(self) -> RunLock:
        import fcntl  # deferred: fcntl is POSIX-only; the module still imports on Windows

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise RuntimeError(
                f"output: another run ({holder}) is writing to '{self.path.parent.parent}'; wait for it to "
                "finish or stop it, or choose another output folder"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the descriptor releases the flock
            self._handle = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

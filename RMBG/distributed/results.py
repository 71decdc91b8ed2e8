"""The results manifest of a distributed run and its summary.

One row per planned photo: ``input, output, status, error, mask_sha256, seconds``; ``status`` is
``written`` (this run), ``skipped`` (the output existed; its checksum and seconds come from the
journal of the run that wrote it, blank if that run was not a distributed one) or ``failed``
(``error`` says why). Written as CSV or Parquet (by suffix), streamed row batch by row batch into
a temporary file that replaces the manifest only when the run has finished (:mod:`RMBG.atomic`).
Imports neither Ray nor TensorFlow.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from RMBG.distributed.worker import RESULT_COLUMNS

#: Results manifest suffixes.
RESULTS_SUFFIXES = (".csv", ".parquet")

#: Failures listed one per line in the summary; the rest are counted (all are in the manifest).
SUMMARY_FAILURES = 50


@dataclass
class DatasetReport:
    """What a distributed run did.

    Attributes:
        written: outputs written by this run.
        skipped: photos whose output existed (done before; never redone without ``overwrite``).
        failed: ``(input, reason)`` of each photo that could not be done.
        results: the results manifest.
        seconds: wall time of the run, from the start of the model actors to the last row.
        first_rows: ``(seconds, rows)`` when the first batch of results arrived (actor start-up
            and one batch); the rate after it is the steady-state throughput.
        actors: model actors used.
    """

    written: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    results: Path | None = None
    seconds: float = 0.0
    first_rows: tuple[float, int] = (0.0, 0)
    actors: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        """The single-process summary line, the failures, and where the manifest is."""
        lines = [f"{self.written} written, {self.skipped} skipped (output exists; --overwrite to redo), {len(self.failed)} failed"]
        lines += [f"  FAILED {source}: {reason}" for source, reason in self.failed[:SUMMARY_FAILURES]]
        if len(self.failed) > SUMMARY_FAILURES:
            lines.append(f"  ... and {len(self.failed) - SUMMARY_FAILURES} more failures (see the results manifest)")
        rate = f" ({self.written / self.seconds:.2f} img/s)" if self.seconds > 0 and self.written else ""
        lines.append(f"  results: {self.results}; {self.written + self.skipped + len(self.failed)} photos in "
                     f"{self.seconds:.1f} s{rate} on {self.actors} Ray actor{'s' if self.actors != 1 else ''}")
        return "\n".join(lines)


class ResultsWriter:
    """Streams result rows into an open binary file as CSV or Parquet.

    Args:
        handle: the (temporary) file.
        suffix: ``.csv`` or ``.parquet``.
    """

    def __init__(self, handle: BinaryIO, suffix: str):
        if suffix not in RESULTS_SUFFIXES:
            raise ValueError(f"results: expected a file ending in one of {RESULTS_SUFFIXES}, got '{suffix}'")
        self.suffix = suffix
        self._handle = handle
        self._parquet = None
        if suffix == ".csv":
            self._text = io.TextIOWrapper(handle, encoding="utf-8", newline="", write_through=True)
            self._csv = csv.writer(self._text)
            self._csv.writerow(RESULT_COLUMNS)

    def write(self, columns: dict[str, Sequence]) -> None:
        """Append rows given as columns (the names of :data:`RESULT_COLUMNS`)."""
        if self.suffix == ".csv":
            self._csv.writerows(zip(*(columns[name] for name in RESULT_COLUMNS)))
            return
        import pyarrow as pa  # deferred: optional (pyarrow) only for .parquet results
        import pyarrow.parquet as pq  # deferred: optional (pyarrow) only for .parquet results

        table = pa.table({
            name: pa.array(list(columns[name]), type=pa.float64() if name == "seconds" else pa.string())
            for name in RESULT_COLUMNS
        })
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self._handle, table.schema)
        self._parquet.write_table(table)

    def close(self) -> None:
        if self.suffix == ".csv":
            self._text.flush()
            self._text.detach()  # leave the handle to its owner (atomic_write closes and renames it)
        else:
            if self._parquet is None:
                import pyarrow as pa  # deferred: optional (pyarrow) only for .parquet results
                import pyarrow.parquet as pq  # deferred: optional (pyarrow) only for .parquet results

                schema = pa.schema([(name, pa.float64() if name == "seconds" else pa.string()) for name in RESULT_COLUMNS])
                self._parquet = pq.ParquetWriter(self._handle, schema)
            self._parquet.close()

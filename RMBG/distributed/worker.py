"""The Ray Data actor: read, predict, compose and write one batch of photos, exactly once.

Decoding, the model and encoding run in the same actor (photos never travel through the object
store; a decoded 24 MP photo is 72 MB): the photos of a batch are decoded by a small thread pool
while the model runs, and outputs are encoded and written by a second pool while the model runs
the next chunk, as in the single-process :meth:`~RMBG.inference.remover.Remover.process_paths`.
An output that exists is skipped before anything is read. Each output is journalled (mask
checksum, seconds), then written atomically (see :mod:`RMBG.distributed.journal`).

Imports neither Ray nor TensorFlow at import time.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import cv2
import numpy as np

from RMBG.atomic import atomic_write_bytes
from RMBG.distributed.inputs import is_uri
from RMBG.distributed.journal import Journal
from RMBG.distributed.predictor import ModelArtefact, make_predictor
from RMBG.inference.compose import alpha_to_uint8, compose, parse_color
from RMBG.inference.folder_plan import OUTPUT_MARKER
from RMBG.inference.image_io import ImageReadError, encode_image, load_image
from RMBG.inference.postprocess import postprocess

#: Columns of every batch an actor returns (and of the results manifest).
RESULT_COLUMNS = ("input", "output", "status", "error", "mask_sha256", "seconds")


def options_fingerprint(artefact_id: str, options: dict) -> str:
    """A short hash of everything that shapes an output (model file, format, colours, post-processing)."""
    keys = ("format", "bg_color", "threshold", "post", "post_options")
    text = json.dumps({"model": artefact_id, **{key: options.get(key) for key in keys}}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def mask_sha256(alpha8: np.ndarray) -> str:
    """The checksum of an output's matte: sha256 of its HxW uint8 values, row-major, then ``HxW``."""
    digest = hashlib.sha256(np.ascontiguousarray(alpha8, dtype=np.uint8).tobytes())
    digest.update(f"{alpha8.shape[0]}x{alpha8.shape[1]}".encode())
    return digest.hexdigest()


class RemovalActor:
    """Callable class for ``Dataset.map_batches``: one model per actor, batches of ``input``/``output`` rows.

    Args:
        artefact: the model (see :mod:`RMBG.distributed.predictor`).
        options: ``format``, ``bg_color``, ``threshold``, ``overwrite``, ``post``,
            ``post_options``, ``max_pixels``, ``batch_size``, ``threads`` (the actor's CPUs),
            ``workers`` (decode/encode threads), ``output_dir``, ``fingerprint``, ``run``.
    """

    def __init__(self, artefact: ModelArtefact, options: dict[str, Any]):
        self.options = dict(options)
        self.remover = make_predictor(
            artefact, threads=options["threads"], batch_size=options["batch_size"], post=options["post"],
            post_options=options["post_options"], max_pixels=options["max_pixels"],
        )
        if options["format"] == "color":
            parse_color(options["bg_color"])  # a bad colour fails the actor's start, not every photo
        self.journal = Journal(options["output_dir"], options["fingerprint"], options["run"])
        self.pool = ThreadPoolExecutor(options["workers"], thread_name_prefix="rmbg-ray-io")
        self._filesystems: dict[str, Any] = {}

    # --- reading ---------------------------------------------------------------------------
    def _filesystem(self, uri: str):
        """``(filesystem, path)`` of a URI; one filesystem object per ``scheme://host`` (an S3 or GCS
        client is costly to create: credentials, region lookup)."""
        import pyarrow.fs as pafs  # deferred: optional (pyarrow) only for URI inputs

        key = "/".join(uri.split("/", 3)[:3])
        cached = self._filesystems.get(key)
        if cached is None or "?" in uri:
            filesystem, path = pafs.FileSystem.from_uri(uri)
            if "?" not in uri:
                self._filesystems[key] = (filesystem, len(uri) - len(path) if uri.endswith(path) else None)
            return filesystem, path
        filesystem, cut = cached
        return filesystem, uri[cut:] if cut is not None else pafs.FileSystem.from_uri(uri)[1]

    def _read_uri(self, uri: str) -> bytes:
        import pyarrow.fs as pafs  # deferred: optional (pyarrow) only for URI inputs

        name = f"'{uri}'"
        try:
            filesystem, path = self._filesystem(uri)
            info = filesystem.get_file_info(path)
            if info.type == pafs.FileType.NotFound:
                raise ImageReadError(name, "no such file or object")
            if info.type == pafs.FileType.Directory:
                raise ImageReadError(name, "it is a folder, not an image file")
            with filesystem.open_input_stream(path) as stream:
                return stream.readall()
        except ImageReadError:
            raise
        except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError, its IO errors OSError
            raise ImageReadError(name, f"cannot read it ({type(error).__name__}: {error})") from None

    def _read(self, source: str):
        started = time.perf_counter()
        max_pixels = self.remover.max_pixels
        if is_uri(source):
            data = self._read_uri(source)
            try:
                image = load_image(data, max_pixels=max_pixels)
            except ImageReadError as error:
                raise ImageReadError(f"'{source}'", error.reason) from None
        else:
            image = load_image(source, max_pixels=max_pixels)
        return image, self.remover.prepare(image), time.perf_counter() - started

    # --- writing ---------------------------------------------------------------------------
    def _write(self, source: str, target: str, image: np.ndarray, small: np.ndarray, spent: float):
        """Compose exactly as :meth:`Remover.finish` does, journal, then write atomically."""
        started = time.perf_counter()
        options, remover = self.options, self.remover
        mask = remover.restore(small, image.shape[:2])
        alpha, foreground = postprocess(remover.post, image, mask, **remover.post_options)
        alpha8 = alpha_to_uint8(alpha, options["threshold"])  # compose() would do the same inside
        result = compose(image, alpha8, options["format"], bg_color=options["bg_color"], foreground=foreground)
        name = PurePosixPath(urlsplit(source).path).name if is_uri(source) else Path(source).name
        data = encode_image(result, Path(target).suffix or ".png", text={OUTPUT_MARKER: name})  # as save_image in process_paths
        checksum = mask_sha256(alpha8)
        seconds = spent + time.perf_counter() - started
        self.journal.append(source, target, checksum, seconds)
        atomic_write_bytes(target, data)
        return checksum, spent + time.perf_counter() - started

    # --- one batch -------------------------------------------------------------------------
    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows: list[tuple] = []
        todo = []
        for source, target in zip(batch["input"].tolist(), batch["output"].tolist()):
            if not self.options["overwrite"] and os.path.exists(target):
                rows.append((source, target, "skipped", "", "", 0.0))
            else:
                todo.append((source, target, self.pool.submit(self._read, source)))
        writes = []
        size = self.remover.batch_size
        for start in range(0, len(todo), size):
            chunk = []
            for source, target, future in todo[start:start + size]:
                try:
                    image, prepared, seconds = future.result()
                    chunk.append((source, target, image, prepared, seconds))
                except ImageReadError as error:
                    rows.append((source, target, "failed", error.reason, "", 0.0))
                except (OSError, ValueError, cv2.error) as error:  # what the single-process run reports, too
                    rows.append((source, target, "failed", f"{type(error).__name__}: {error}", "", 0.0))
            if not chunk:
                continue
            started = time.perf_counter()
            masks = self.remover.predict_batch(np.stack([item[3] for item in chunk]))
            share = (time.perf_counter() - started) / len(chunk)
            for (source, target, image, _, seconds), small in zip(chunk, masks):
                writes.append((source, target, self.pool.submit(self._write, source, target, image, small, seconds + share)))
        for source, target, future in writes:
            try:
                checksum, seconds = future.result()
                rows.append((source, target, "written", "", checksum, seconds))
            except (OSError, ValueError, cv2.error) as error:
                rows.append((source, target, "failed", f"could not write the output: {error}", "", 0.0))
        columns = list(zip(*rows)) if rows else [()] * len(RESULT_COLUMNS)
        result = {name: np.array(values, dtype=object) for name, values in zip(RESULT_COLUMNS, columns)}
        result["seconds"] = np.array(columns[5], dtype=np.float64)
        return result

"""Background removal: single photos and whole folders, pipelined.

:class:`Remover` holds one model and predicts masks at each photo's own size. For folders it
overlaps the stages: a thread pool decodes and resizes photos ahead of the model, the model runs
on batches (every photo is resized to the model's size, so mixed sizes batch together), and a
second pool restores masks to full size, composes and writes outputs (PNG encoding was the
bottleneck U2Net-Fast found). A bad file is reported and skipped; the batch goes on.
"""

from __future__ import annotations

import functools
import logging
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from RMBG.inference.compose import check_compose_options, compose
from RMBG.inference.folder_plan import OUTPUT_MARKER, InputPlan, gather_inputs, gif_frames, plan_outputs
from RMBG.inference.image_io import (
    DEFAULT_MAX_PIXELS,
    ImageReadError,
    ImageSource,
    encode_image,
    load_image,
    save_image,
)
from RMBG.inference.backends import make_predictor
from RMBG.inference.postprocess import POSTPROCESSORS, postprocess

log = logging.getLogger(__name__)

_CV2_INTERPOLATION = {"bilinear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA}


@dataclass
class RemovalReport:
    """What a folder run did.

    Attributes:
        written: outputs written.
        skipped: inputs whose output existed (kept; ``overwrite`` redoes them).
        failed: ``(input, reason)`` of inputs that could not be read or written.
        not_images: files of the folder skipped for their type.
        earlier_outputs: outputs of an earlier run found in the input folder, left out.
        skipped_folders: ``(folder, reason)`` of sub-folders not entered.
        notes: remarks on single inputs (e.g. an animated GIF whose first frame was used).
        interrupted: the run was stopped (SIGINT) before every input was processed.
        not_processed: inputs left undone by the interruption.
    """

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    not_images: list[Path] = field(default_factory=list)
    earlier_outputs: list[Path] = field(default_factory=list)
    skipped_folders: list[tuple[Path, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False
    not_processed: int = 0

    @property
    def ok(self) -> bool:
        """Nothing failed and the run was not interrupted."""
        return not self.failed and not self.interrupted

    def summary(self) -> str:
        """One line of counts, then one line per failure, skipped folder and note."""
        parts = [f"{len(self.written)} written", f"{len(self.skipped)} skipped (output exists; --overwrite to redo)",
                 f"{len(self.failed)} failed"]
        if self.not_images:
            parts.append(f"{len(self.not_images)} not images")
        if self.earlier_outputs:
            parts.append(f"{len(self.earlier_outputs)} earlier outputs left out")
        if self.skipped_folders:
            parts.append(f"{len(self.skipped_folders)} folders skipped")
        head = ", ".join(parts)
        if self.interrupted:
            head = f"interrupted, {self.not_processed} not processed; {head}"
        lines = [head]
        lines += [f"  FAILED {path}: {reason}" for path, reason in self.failed]
        lines += [f"  SKIPPED FOLDER {path}: {reason}" for path, reason in self.skipped_folders]
        lines += [f"  note: {note}" for note in sorted(self.notes)]
        return "\n".join(lines)


class Remover:
    """Predict masks and remove backgrounds with one model.

    Args:
        model: a registry name (pretrained weights), a ``.keras`` path, a registry name with a
            local weight file (``ModelWithWeights.of("tracer_b7", "mine.pth")``, see
            :class:`RMBG.registry.ModelWithWeights`), a Keras model or an RMBG ``.onnx`` file.
        backend: ``"auto"`` (the TensorFlow-free runtime's fastest engine that matches Keras fp32),
            ``"onnxruntime"``, ``"openvino"``, ``"keras"`` or ``"tflite"`` (:mod:`RMBG.inference.backends`).
        precision: ``"fp32"``; ``"bf16"``/``"fp16"`` opt-in on OpenVINO where the CPU supports it.
        threads: cores for the model (``None``: all).
        batch_size: photos per model call in folder runs.
        post: post-processing of the mask (``"none"`` or a name from
            :data:`RMBG.inference.postprocess.POSTPROCESSORS`).
        post_options: keyword arguments for the post-processor.
        max_pixels: refuse photos larger than this.
        images: how many photos this remover will see (``None``: open-ended, as in a server), for
            ``backend="auto"``'s choice between a faster load and a faster photo.
    """

    def __init__(
        self,
        model: Any = "u2netp",
        *,
        backend: str = "auto",
        precision: str = "fp32",
        threads: int | None = None,
        batch_size: int = 4,
        post: str = "none",
        post_options: dict | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        images: int | None = None,
    ):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        if post not in POSTPROCESSORS:
            raise ValueError(f"post: expected one of {sorted(POSTPROCESSORS)}, got {post!r}")
        self.backend = make_predictor(model, backend, precision=precision, threads=threads, images=images)
        self.image_size = self.backend.image_size
        self.interpolation = _CV2_INTERPOLATION[self.backend.interpolation]
        self.batch_size = batch_size if self.image_size is not None else 1
        if getattr(self.backend, "scheme", None) == "shared" and getattr(self.backend, "whole_batches", True) is False:
            # A CPU engine runs one photo per call anyway: batching would only hold finished masks
            # back (the first output waited for four photos); each photo now goes on at once.
            self.batch_size = 1
        self.post = post
        self.post_options = dict(post_options or {})
        self.max_pixels = max_pixels

    # --- masks -----------------------------------------------------------------------------
    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The photo resized to the model's input size as float32 (what the model batches)."""
        if self.image_size is None:
            return image.astype(np.float32)
        height, width = self.image_size
        if image.shape[:2] == (height, width):
            return image.astype(np.float32)
        return cv2.resize(image, (width, height), interpolation=self.interpolation).astype(np.float32)

    def restore(self, mask: np.ndarray, shape: Sequence[int]) -> np.ndarray:
        """A model-size mask resized (bilinear) back to ``shape`` (H, W), clipped to [0, 1]."""
        height, width = int(shape[0]), int(shape[1])
        if mask.shape != (height, width):
            mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)
        return np.clip(mask, 0.0, 1.0)

    def predict_batch(self, prepared: np.ndarray) -> np.ndarray:
        """Masks ``(N, h, w)`` at model size for a batch of prepared photos ``(N, h, w, 3)``."""
        return self.backend.predict(prepared)

    def predict_masks(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Masks (HxW float32 in [0, 1]) at each photo's own size."""
        masks: list[np.ndarray] = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start:start + self.batch_size]
            small = self.predict_batch(np.stack([self.prepare(image) for image in chunk]))
            masks += [self.restore(m, image.shape[:2]) for m, image in zip(small, chunk)]
        return masks

    def predict_mask(self, image: ImageSource) -> np.ndarray:
        """The mask of one photo (any source :func:`load_image` takes) at its own size."""
        rgb = image if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 else load_image(image, max_pixels=self.max_pixels)
        return self.predict_masks([rgb])[0]

    # --- outputs ---------------------------------------------------------------------------
    def finish(
        self, image: np.ndarray, mask: np.ndarray, format: str = "rgba", *,
        bg_color=None, threshold: float | None = None,
    ) -> np.ndarray:
        """Post-process a full-size mask and compose the output array."""
        alpha, foreground = postprocess(self.post, image, mask, **self.post_options)
        return compose(image, alpha, format, bg_color=bg_color, threshold=threshold, foreground=foreground)

    def remove(self, image: ImageSource, format: str = "rgba", *, bg_color=None, threshold: float | None = None) -> np.ndarray:
        """The output array for one photo."""
        rgb = load_image(image, max_pixels=self.max_pixels)
        return self.finish(rgb, self.predict_masks([rgb])[0], format, bg_color=bg_color, threshold=threshold)

    # --- folders ---------------------------------------------------------------------------
    def plan_outputs(self, inputs: Sequence[Path], input_root: Path, output_dir: Path) -> list[Path]:
        """Output path of each input, unique by construction (:func:`RMBG.inference.folder_plan.plan_outputs`)."""
        return plan_outputs(inputs, input_root, output_dir)

    def process_paths(
        self,
        inputs: Sequence[Path],
        outputs: Sequence[Path],
        *,
        format: str = "rgba",
        bg_color=None,
        threshold: float | None = None,
        overwrite: bool = False,
        workers: int = 2,
        progress: bool = True,
    ) -> RemovalReport:
        """Remove backgrounds of ``inputs`` into ``outputs`` (pipelined; see the module doc).

        Every option is checked before any photo is read. On SIGINT (``KeyboardInterrupt``) no
        new photo is read, the outputs being written are finished (each write is atomic, so an
        output is complete or absent), and the report comes back with ``interrupted`` set.

        Raises:
            ValueError: a bad option, ``inputs`` and ``outputs`` of different lengths, or two
                inputs with the same output (compared case-insensitively).
        """
        check_compose_options(format, bg_color, threshold)
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers: expected a positive integer, got {workers!r}")
        inputs, outputs = [Path(p) for p in inputs], [Path(p) for p in outputs]
        if len(inputs) != len(outputs):
            raise ValueError(f"outputs: expected one output per input, got {len(outputs)} for {len(inputs)} inputs")
        claimed: dict[str, Path] = {}
        for source, target in zip(inputs, outputs):
            key = os.path.abspath(target).casefold()
            if key in claimed:
                raise ValueError(f"outputs: '{claimed[key]}' and '{source}' would both be written to '{target}'")
            claimed[key] = source
        report = RemovalReport()
        todo = []
        input_set = {p.resolve() for p in inputs}
        for source, target in zip(inputs, outputs):
            if target.resolve() in input_set:
                report.failed.append((source, f"its output {target} would overwrite an input photo; choose another output folder"))
            elif target.exists() and not overwrite:
                report.skipped.append(source)
            else:
                todo.append((source, target))

        def read(path: Path):
            image = load_image(path, max_pixels=self.max_pixels)
            frames = gif_frames(path)
            if frames > 1:
                report.notes.append(f"{path}: an animated GIF ({frames} frames); its first frame was used")
            return image, self.prepare(image)

        def write(image: np.ndarray, small: np.ndarray, source: Path, target: Path) -> Path:
            result = self.finish(image, self.restore(small, image.shape[:2]), format, bg_color=bg_color, threshold=threshold)
            return save_image(target, result, text={OUTPUT_MARKER: source.name})

        # Bounded look-ahead: a few decoded photos ahead of the model, and outputs being written
        # limited by count and by pixels, so a folder of 24 MP photos stays within ~2 GB.
        ahead = self.batch_size + 2
        max_pending_pixels = 48_000_000
        done = 0
        with ThreadPoolExecutor(workers, thread_name_prefix="rmbg-read") as readers, \
                ThreadPoolExecutor(workers, thread_name_prefix="rmbg-write") as writers, \
                tqdm(total=len(todo), unit="img", desc="removing backgrounds", disable=not progress) as bar:
            pending_reads: deque[tuple[Path, Path, Future]] = deque()
            pending_writes: deque[tuple[Path, Future, int]] = deque()
            pending_pixels = 0
            queue = iter(todo)

            def refill():
                while len(pending_reads) < ahead:
                    try:
                        source, target = next(queue)
                    except StopIteration:
                        return
                    pending_reads.append((source, target, readers.submit(read, source)))

            def finished(entry: tuple[Path, str] | None = None):
                nonlocal done
                if entry is not None:
                    report.failed.append(entry)
                done += 1
                bar.update(1)

            def drain_writes(limit: int):
                nonlocal pending_pixels
                while len(pending_writes) > limit or (pending_writes and pending_pixels > max_pending_pixels):
                    source, future, pixels = pending_writes[0]  # taken off only once done: an interrupt
                    try:                                         # while waiting leaves it to the final drain
                        written, failure = future.result(), None
                    except (OSError, ValueError) as error:
                        written, failure = None, (source, f"could not write the output: {error}")
                    pending_writes.popleft()
                    pending_pixels -= pixels
                    if written is not None:
                        report.written.append(written)
                    finished(failure)

            try:
                refill()
                while pending_reads:
                    batch = []
                    while pending_reads and len(batch) < self.batch_size:
                        source, target, future = pending_reads.popleft()
                        try:
                            image, prepared = future.result()
                            batch.append((source, target, image, prepared))
                        except ImageReadError as error:
                            finished((source, error.reason))
                        except (OSError, ValueError, cv2.error) as error:
                            finished((source, f"{type(error).__name__}: {error}"))
                        refill()
                    if not batch:
                        continue
                    masks = self.predict_batch(np.stack([item[3] for item in batch]))
                    for (source, target, image, _), small in zip(batch, masks):
                        future = writers.submit(write, image, small, source, target)
                        pending_writes.append((source, future, image.shape[0] * image.shape[1]))
                        pending_pixels += image.shape[0] * image.shape[1]
                    drain_writes(limit=2 * self.batch_size)
                drain_writes(limit=0)
            except KeyboardInterrupt:
                report.interrupted = True
                for _, _, future in pending_reads:  # nothing new is read or predicted
                    future.cancel()
                readers.shutdown(wait=True, cancel_futures=True)
                drain_writes(limit=0)  # the outputs in flight are finished (atomic writes)
        report.not_processed = len(todo) - done
        return report

    def process_folder(
        self,
        input_path: str | os.PathLike,
        output_dir: str | os.PathLike,
        *,
        recursive: bool = False,
        plan: InputPlan | None = None,
        **options,
    ) -> RemovalReport:
        """Remove the backgrounds of a photo or of every photo in a folder (see :meth:`process_paths`).

        The output folder and earlier outputs are never taken as inputs, files skipped for
        their type and folders not entered are counted in the report
        (:func:`RMBG.inference.folder_plan.gather_inputs`; pass its ``plan`` for these same
        ``input_path``, ``output_dir`` and ``recursive`` when you gathered it already).
        """
        check_compose_options(options.get("format", "rgba"), options.get("bg_color"), options.get("threshold"))
        if plan is None:
            plan = gather_inputs(input_path, output_dir, recursive=recursive)
        outputs = self.plan_outputs(plan.inputs, plan.root, Path(output_dir))
        report = self.process_paths(plan.inputs, outputs, **options)
        report.not_images = plan.not_images
        report.earlier_outputs = plan.earlier_outputs
        report.skipped_folders = plan.skipped_folders
        return report


@functools.lru_cache(maxsize=4)
def _cached_remover(model: str, backend: str, post: str, precision: str) -> Remover:
    return Remover(model, backend=backend, post=post, precision=precision)


def remove(
    image: ImageSource,
    model: Any = "u2netp",
    *,
    format: str = "rgba",
    bg_color=None,
    threshold: float | None = None,
    post: str = "none",
    backend: str = "auto",
    precision: str = "fp32",
):
    """Remove the background of one photo, returning the caller's type.

    Args:
        image: a path, PIL image, ndarray (RGB) or encoded bytes.
        model: a registry name (pretrained weights), a ``.keras`` path or a Keras model. Removers
            for names and paths are cached, so repeated calls do not reload the model.
        format: ``"rgba"``, ``"mask"``, ``"color"`` or ``"side-by-side"``.
        bg_color: background colour for ``"color"``.
        threshold: binarise the matte at this value.
        post: mask post-processing (see :data:`RMBG.inference.postprocess.POSTPROCESSORS`).
        backend: inference backend (see :class:`Remover`).
        precision: ``"fp32"`` or an opt-in low precision (see :class:`Remover`).

    Returns:
        PIL image for a path or PIL input, ndarray for ndarray input, PNG bytes for bytes input.
    """
    if isinstance(model, (str, os.PathLike)):
        remover = _cached_remover(os.fspath(model), backend, post, precision)
    else:
        remover = Remover(model, backend=backend, post=post, precision=precision)
    result = remover.remove(image, format, bg_color=bg_color, threshold=threshold)
    if isinstance(image, np.ndarray):
        return result
    if isinstance(image, (bytes, bytearray)):
        return encode_image(result, "png")
    return Image.fromarray(result)


__all__ = ["Remover", "RemovalReport", "remove"]

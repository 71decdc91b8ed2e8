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

from RMBG.inference.compose import FORMATS, compose
from RMBG.inference.image_io import (
    DEFAULT_MAX_PIXELS,
    ImageReadError,
    ImageSource,
    list_images,
    load_image,
    save_image,
)
from RMBG.inference.postprocess import POSTPROCESSORS, postprocess

log = logging.getLogger(__name__)

_CV2_INTERPOLATION = {"bilinear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA}


def load_model(model: Any, *, task: str | None = "segmentation"):
    """A Keras model from a registry name (pretrained), a ``.keras`` path, or a model object.

    Args:
        model: the name, path or model.
        task: the registry task a name must have (``None``: any); background removal needs a
            ``"segmentation"`` model, the matting post-processors ask for theirs.

    Raises:
        ValueError: an unknown name (lists the valid ones), or a name with no pretrained weights.
        FileNotFoundError: a ``.keras`` path that does not exist.
    """
    import keras

    from RMBG.registry import create_model, list_models

    if isinstance(model, keras.Model):
        return model
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model: expected a registry name, a .keras path or a keras.Model, got {type(model).__name__}")
    text = os.fspath(model)
    if text.endswith(".keras"):
        if not Path(text).is_file():
            raise FileNotFoundError(f"model: no such file '{text}'")
        import RMBG.models  # noqa: F401  (registers the custom layers before loading)

        return keras.saving.load_model(text)
    if text not in list_models():
        raise ValueError(
            f"model: {text!r} is neither a registered model ({', '.join(list_models())}) nor a .keras file"
        )
    if task is not None and text not in list_models(task=task):
        from RMBG.registry import model_info

        raise ValueError(
            f"model: {text!r} is a {model_info(text).task} model, not a {task} model"
            + (
                f": it does not remove backgrounds by itself; use a segmentation model "
                f"({', '.join(list_models(task='segmentation'))}) with --post instead"
                if task == "segmentation" else ""
            )
        )
    if text not in list_models(pretrained=True):
        raise ValueError(
            f"model: {text!r} has no pretrained weights; train it (python -m RMBG train) and pass the "
            f".keras checkpoint, or use one of {', '.join(list_models(pretrained=True, task='segmentation'))}"
        )
    return create_model(text, pretrained=True)


@dataclass
class RemovalReport:
    """What a folder run did."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        lines = [f"{len(self.written)} written, {len(self.skipped)} skipped (output exists; --overwrite to redo), {len(self.failed)} failed"]
        lines += [f"  FAILED {path}: {reason}" for path, reason in self.failed]
        return "\n".join(lines)


class Remover:
    """Predict masks and remove backgrounds with one model.

    Args:
        model: a registry name (loaded with pretrained weights), a ``.keras`` path or a Keras model.
        backend: ``"keras"`` (tf.function on the Keras model); exported backends are added by
            :mod:`RMBG.export.backends`.
        batch_size: photos per model call in folder runs.
        post: post-processing of the mask (``"none"`` or a name from
            :data:`RMBG.inference.postprocess.POSTPROCESSORS`).
        post_options: keyword arguments for the post-processor.
        max_pixels: refuse photos larger than this.
    """

    def __init__(
        self,
        model: Any = "u2netp",
        *,
        backend: str = "keras",
        batch_size: int = 4,
        post: str = "none",
        post_options: dict | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        if post not in POSTPROCESSORS:
            raise ValueError(f"post: expected one of {sorted(POSTPROCESSORS)}, got {post!r}")
        from RMBG.inference.backends import make_backend

        self.backend = make_backend(backend, model)
        self.image_size = self.backend.image_size
        self.interpolation = _CV2_INTERPOLATION[self.backend.interpolation]
        self.batch_size = batch_size if self.image_size is not None else 1
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
    def plan_outputs(
        self, inputs: Sequence[Path], input_root: Path, output_dir: Path,
    ) -> list[Path]:
        """Output path of each input: ``<output_dir>/<relative folder>/<stem>.png``.

        Two inputs with the same stem (``a.jpg``, ``a.png``) keep their extension in the name
        (``a.jpg.png``, ``a.png.png``) so neither output overwrites the other.
        """
        relative = [p.relative_to(input_root) if p.is_relative_to(input_root) else Path(p.name) for p in inputs]
        stems: dict[Path, int] = {}
        for rel in relative:
            key = rel.with_suffix("")
            stems[key] = stems.get(key, 0) + 1
        outputs = []
        for rel in relative:
            name = rel.name + ".png" if stems[rel.with_suffix("")] > 1 else rel.stem + ".png"
            outputs.append(output_dir / rel.parent / name)
        return outputs

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
        """Remove backgrounds of ``inputs`` into ``outputs`` (pipelined; see the module doc)."""
        if format not in FORMATS:
            raise ValueError(f"format: expected one of {FORMATS}, got {format!r}")
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
            return image, self.prepare(image)

        def write(image: np.ndarray, small: np.ndarray, target: Path) -> Path:
            result = self.finish(image, self.restore(small, image.shape[:2]), format, bg_color=bg_color, threshold=threshold)
            return save_image(target, result)

        # Bounded look-ahead: a few decoded photos ahead of the model, and outputs being written
        # limited by count and by pixels, so a folder of 24 MP photos stays within ~2 GB.
        ahead = self.batch_size + 2
        max_pending_pixels = 48_000_000
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

            def drain_writes(limit: int):
                nonlocal pending_pixels
                while len(pending_writes) > limit or (pending_writes and pending_pixels > max_pending_pixels):
                    source, future, pixels = pending_writes.popleft()
                    pending_pixels -= pixels
                    try:
                        report.written.append(future.result())
                    except (OSError, ValueError) as error:
                        report.failed.append((source, f"could not write the output: {error}"))
                    bar.update(1)

            refill()
            while pending_reads:
                batch = []
                while pending_reads and len(batch) < self.batch_size:
                    source, target, future = pending_reads.popleft()
                    try:
                        image, prepared = future.result()
                        batch.append((source, target, image, prepared))
                    except ImageReadError as error:
                        report.failed.append((source, error.reason))
                        bar.update(1)
                    except (OSError, ValueError, cv2.error) as error:
                        report.failed.append((source, f"{type(error).__name__}: {error}"))
                        bar.update(1)
                    refill()
                if not batch:
                    continue
                masks = self.predict_batch(np.stack([item[3] for item in batch]))
                for (source, target, image, _), small in zip(batch, masks):
                    pending_writes.append((source, writers.submit(write, image, small, target), image.shape[0] * image.shape[1]))
                    pending_pixels += image.shape[0] * image.shape[1]
                drain_writes(limit=2 * self.batch_size)
            drain_writes(limit=0)
        return report

    def process_folder(
        self,
        input_path: str | os.PathLike,
        output_dir: str | os.PathLike,
        *,
        recursive: bool = False,
        **options,
    ) -> RemovalReport:
        """Remove the backgrounds of a photo or of every photo in a folder (see :meth:`process_paths`)."""
        source = Path(input_path)
        if source.is_file():
            inputs, root = [source], source.parent
        elif source.is_dir():
            inputs, root = list_images(source, recursive=recursive), source
        else:
            raise FileNotFoundError(f"input: '{source}' is neither a file nor a folder")
        outputs = self.plan_outputs(inputs, root, Path(output_dir))
        return self.process_paths(inputs, outputs, **options)


@functools.lru_cache(maxsize=4)
def _cached_remover(model: str, backend: str, post: str) -> Remover:
    return Remover(model, backend=backend, post=post)


def remove(
    image: ImageSource,
    model: Any = "u2netp",
    *,
    format: str = "rgba",
    bg_color=None,
    threshold: float | None = None,
    post: str = "none",
    backend: str = "keras",
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
        backend: inference backend.

    Returns:
        PIL image for a path or PIL input, ndarray for ndarray input, PNG bytes for bytes input.
    """
    if isinstance(model, (str, os.PathLike)):
        remover = _cached_remover(os.fspath(model), backend, post)
    else:
        remover = Remover(model, backend=backend, post=post)
    result = remover.remove(image, format, bg_color=bg_color, threshold=threshold)
    if isinstance(image, np.ndarray):
        return result
    if isinstance(image, (bytes, bytearray)):
        from RMBG.inference.image_io import encode_image

        return encode_image(result, "png")
    return Image.fromarray(result)


__all__ = ["Remover", "RemovalReport", "remove", "load_model"]

"""Evaluate saved predictions or a model against ground-truth masks.

* :func:`evaluate_folders` scores a folder of saved predictions against a folder of masks,
  pairing files by stem (``a.png`` with ``a.jpg``); files without a partner are reported.
* :func:`evaluate_predictions` does the same with the masks given as an index CSV or an
  ``(images_dir, masks_dir)`` pair.
* :func:`evaluate_model` runs ``predict_fn`` on every photo of an index CSV or an
  ``(images_dir, masks_dir)`` pair and scores its masks.

A bad file (unreadable, empty, wrong shape, failing prediction) is reported with its name and the
problem, skipped, and listed in the result and its ``summary.json``; the run goes on.

Imports no TensorFlow.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence, Union

import numpy as np
from tqdm.auto import tqdm

from RMBG.evaluation.reports import write_report
from RMBG.evaluation.sod_metrics import SODEvaluator
from RMBG.data.index import files_by_stem, pair_by_stem, read_index
from RMBG.inference.image_io import ImageReadError, list_images, load_image, load_mask

PathLike = Union[str, os.PathLike]
#: An index CSV, or a pair (images_dir, masks_dir).
DataSource = Union[PathLike, Sequence[PathLike]]
PredictFn = Callable[[np.ndarray], np.ndarray]


class EvaluationError(ValueError):
    """Nothing could be evaluated. ``problems`` lists what went wrong with each file."""

    def __init__(self, message: str, problems: Sequence[dict[str, str]] = ()):
        self.problems = list(problems)
        if self.problems:
            shown = "; ".join(f"{p['name']}: {p['problem']}" for p in self.problems[:5])
            more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
            message = f"{message}. Problems: {shown}{more}"
        super().__init__(message)


@dataclass
class EvaluationResult:
    """The outcome of an evaluation.

    Attributes:
        rows: per-image rows (name, height, width and every metric).
        summary: dataset metrics (see :meth:`SODEvaluator.summary`).
        curves: mean PR / F-measure / E-measure curves by ascending threshold.
        problems: ``{"name", "problem"}`` for every skipped file or pair.
        orphans: files without a partner, by kind: ``predictions_without_mask`` and
            ``masks_without_prediction`` (scoring saved predictions), ``images_without_mask`` and
            ``masks_without_image`` (scoring a model on two folders).
        method: the method's name in reports.
        protocol: the evaluation protocol and settings.
        files: report files written (empty without ``out_dir``).
    """

    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    curves: dict[str, np.ndarray]
    problems: list[dict[str, str]] = field(default_factory=list)
    orphans: dict[str, list[str]] = field(default_factory=dict)
    method: str = "model"
    protocol: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True when every ground-truth mask was scored: no problem and no mask without a prediction."""
        return not self.problems and not self.unscored_masks

    @property
    def unscored_masks(self) -> list[str]:
        """Ground-truth masks that had no prediction or photo to pair with."""
        return [*self.orphans.get("masks_without_prediction", []), *self.orphans.get("masks_without_image", [])]

    def report(self) -> dict[str, Any]:
        """The content of ``summary.json``."""
        return {
            "method": self.method,
            "metrics": self.summary,
            "evaluated": len(self.rows),
            "skipped": self.problems,
            "orphans": self.orphans,
            "protocol": self.protocol,
        }


@dataclass
class _Pair:
    """One unit of work: a name, the file to predict from or the prediction, and the mask."""

    name: str
    source: Path
    mask: Path


def _duplicate_problems(duplicates: Sequence[Path]) -> list[dict[str, str]]:
    """One problem per stem shared by several files of one folder."""
    groups: dict[tuple[Path, str], list[Path]] = {}
    for path in duplicates:
        groups.setdefault((path.parent, path.stem), []).append(path)
    return [
        {
            "name": stem,
            "problem": f"several files in '{folder}' share the stem '{stem}' ({', '.join(p.name for p in paths)}); "
            "keep one so the pairing is unambiguous",
        }
        for (folder, stem), paths in sorted(groups.items())
    ]


def _folder(path: PathLike, argument: str) -> Path:
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"{argument}: '{folder}' does not exist or is not a folder; pass a folder of images")
    return folder


def _pair_folders(
    source_dir: PathLike, masks_dir: PathLike, *, source_argument: str = "pred_dir", masks_argument: str = "gt_dir"
) -> tuple[list[_Pair], list[dict[str, str]], dict[str, list[str]]]:
    """Pair the images of two folders by file stem (:func:`RMBG.data.index.pair_by_stem`).

    Returns:
        ``(pairs, problems, orphans)``: the matched pairs, ambiguous stems, and
        ``{"predictions_without_mask": [...], "masks_without_prediction": [...]}`` (file names).
    """
    sources_root = _folder(source_dir, source_argument)
    masks_root = _folder(masks_dir, masks_argument)
    pairing = pair_by_stem(list_images(sources_root), list_images(masks_root))
    pairs = sorted((_Pair(source.stem, source, mask) for source, mask in pairing.pairs), key=lambda pair: pair.name)
    orphans = {
        "predictions_without_mask": sorted(path.name for path in pairing.orphan_images),
        "masks_without_prediction": sorted(path.name for path in pairing.orphan_masks),
    }
    return pairs, _duplicate_problems(pairing.duplicates), orphans


def _index_pairs(path: PathLike, split: str | None) -> tuple[list[_Pair], list[dict[str, str]]]:
    """The (photo, mask) pairs of an index CSV (:func:`RMBG.data.index.read_index`); a row with an
    empty path is a problem, not an exception."""
    if split is not None and not isinstance(split, str):
        raise TypeError(f"split: expected one split name, got {split!r}")
    index = read_index(path, split)
    pairs = [_Pair(row.image, row.image_path, row.mask_path) for row in index.rows]
    return pairs, [{"name": problem.name, "problem": problem.problem} for problem in index.problems]


def _resolve_data(
    data: DataSource, split: str | None
) -> tuple[list[_Pair], list[dict[str, str]], dict[str, list[str]]]:
    """Pairs (photo, mask) from an index CSV or an (images_dir, masks_dir) pair."""
    if isinstance(data, (str, os.PathLike)):
        if Path(data).is_dir():
            raise ValueError(
                f"data: '{data}' is a folder; pass an index CSV, or the tuple (images_dir, masks_dir)"
            )
        pairs, problems = _index_pairs(data, split)
        return pairs, problems, {}
    if isinstance(data, Sequence) and len(data) == 2:
        if split is not None:
            raise ValueError(f"split: {split!r} only applies to an index CSV, not to (images_dir, masks_dir)")
        pairs, problems, orphans = _pair_folders(data[0], data[1], source_argument="data[0] (images_dir)",
                                                 masks_argument="data[1] (masks_dir)")
        return pairs, problems, {
            "images_without_mask": orphans["predictions_without_mask"],
            "masks_without_image": orphans["masks_without_prediction"],
        }
    raise TypeError(
        f"data: expected an index CSV path or a tuple (images_dir, masks_dir), got {data!r}"
    )


def _run(
    pairs: Sequence[_Pair],
    predict: Callable[[_Pair], np.ndarray],
    evaluator: SODEvaluator,
    problems: list[dict[str, str]],
    *,
    description: str,
    progress: bool,
) -> None:
    """Score every pair; a failing pair becomes a problem and is skipped."""
    for pair in tqdm(pairs, desc=description, unit="image", disable=not progress):
        try:
            gt = load_mask(pair.mask)
        except ImageReadError as error:
            problems.append({"name": pair.name, "problem": f"ground truth: {error}"})
            continue
        try:
            pred = predict(pair)
        except ImageReadError as error:
            problems.append({"name": pair.name, "problem": str(error)})
            continue
        except Exception as error:  # a model failing on one photo must not end the whole run
            problems.append({"name": pair.name, "problem": f"prediction failed: {type(error).__name__}: {error}"})
            continue
        try:
            evaluator.update(pred, gt, name=pair.name)
        except (TypeError, ValueError) as error:
            problems.append({"name": pair.name, "problem": f"unusable prediction: {error}"})


def _finish(
    evaluator: SODEvaluator,
    problems: list[dict[str, str]],
    orphans: dict[str, list[str]],
    out_dir: PathLike | None,
    method: str,
    plots: bool,
) -> EvaluationResult:
    if len(evaluator) == 0:
        unpaired = {kind: len(names) for kind, names in orphans.items() if names}
        hint = f" (unpaired files: {unpaired})" if unpaired else ""
        raise EvaluationError(f"no pair could be evaluated{hint}", problems)
    result = EvaluationResult(
        rows=list(evaluator.rows),
        summary=evaluator.summary(),
        curves=evaluator.curves(),
        problems=problems,
        orphans=orphans,
        method=method,
        protocol=evaluator.protocol(),
    )
    if out_dir is not None:
        result.files = write_report(out_dir, result.rows, result.report(), result.curves, method=method, plots=plots)
    return result


def evaluate_predictions(
    pred_dir: PathLike,
    data: DataSource,
    out_dir: PathLike | None = None,
    *,
    split: str | None = None,
    method: str | None = None,
    with_hce: bool = True,
    plots: bool = True,
    progress: bool = True,
) -> EvaluationResult:
    """Score saved predictions against the masks of a folder, an index CSV or (images_dir, masks_dir).

    Predictions are matched to masks by stem: for a folder, the mask's stem; for an index CSV,
    the photo's stem (as the remover names its outputs), else the mask's stem.

    Args:
        pred_dir: folder of predicted masks (any image format, any size).
        data: a masks folder, an index CSV, or ``(images_dir, masks_dir)``.
        out_dir: write the report there (None: no files).
        split: with an index CSV, keep only this split.
        method: the name in reports (default: the prediction folder's name).
        with_hce: compute HCE.
        plots: write PNG plots with the report.
        progress: show a tqdm progress bar.

    Returns:
        The :class:`EvaluationResult`.

    Raises:
        FileNotFoundError: a folder or the CSV does not exist.
        EvaluationError: no pair could be evaluated.
    """
    predictions_root = _folder(pred_dir, "pred_dir")
    name = method or predictions_root.name
    if isinstance(data, (str, os.PathLike)) and Path(data).is_dir():
        if split is not None:
            raise ValueError(f"split: {split!r} only applies to an index CSV, not to a masks folder")
        pairs, problems, orphans = _pair_folders(predictions_root, data, masks_argument="data (masks folder)")
    else:
        if isinstance(data, (str, os.PathLike)):
            index_pairs, problems = _index_pairs(data, split)
        elif isinstance(data, Sequence) and len(data) == 2:
            return evaluate_predictions(pred_dir, data[1], out_dir, split=split, method=name, with_hce=with_hce,
                                        plots=plots, progress=progress)
        else:
            raise TypeError(f"data: expected a masks folder, an index CSV or (images_dir, masks_dir), got {data!r}")
        predictions, duplicates = files_by_stem(list_images(predictions_root))
        problems.extend(_duplicate_problems(duplicates))
        pairs, used = [], set()
        missing = []
        for entry in index_pairs:
            for stem in (entry.source.stem, entry.mask.stem):
                if stem in predictions:
                    pairs.append(_Pair(entry.name, predictions[stem], entry.mask))
                    used.add(stem)
                    break
            else:
                missing.append(entry.mask.name)
        orphans = {
            "predictions_without_mask": sorted(predictions[stem].name for stem in predictions.keys() - used),
            "masks_without_prediction": sorted(missing),
        }
    evaluator = SODEvaluator(with_hce=with_hce)
    problems = list(problems)
    _run(pairs, lambda pair: load_mask(pair.source), evaluator, problems, description=f"evaluating {name}",
         progress=progress)
    return _finish(evaluator, problems, orphans, out_dir, name, plots)


def evaluate_folders(
    pred_dir: PathLike,
    gt_dir: PathLike,
    out_dir: PathLike | None = None,
    **options: Any,
) -> EvaluationResult:
    """Score a folder of saved predictions against a folder of ground-truth masks (paired by stem).

    Args:
        pred_dir: folder of predicted masks.
        gt_dir: folder of ground-truth masks.
        out_dir: write the report there (None: no files).
        **options: ``method``, ``with_hce``, ``plots``, ``progress`` as :func:`evaluate_predictions`.

    Returns:
        The :class:`EvaluationResult`; orphans on either side are listed in ``result.orphans``.
    """
    _folder(gt_dir, "gt_dir")
    return evaluate_predictions(pred_dir, gt_dir, out_dir, **options)


def _check_prediction(pred: Any, image_shape: tuple[int, ...]) -> np.ndarray:
    """Validate what ``predict_fn`` returned, with a message that names it."""
    if not isinstance(pred, np.ndarray):
        raise TypeError(
            f"predict_fn returned {type(pred).__name__}; it must return an HxW float32 numpy mask in [0, 1]"
        )
    if pred.ndim == 3 and pred.shape[2] == 1:
        pred = pred[..., 0]
    if pred.ndim != 2:
        raise ValueError(
            f"predict_fn returned shape {pred.shape} for a photo of shape {image_shape}; it must return an HxW mask"
        )
    return pred


def evaluate_model(
    predict_fn: PredictFn,
    data: DataSource,
    out_dir: PathLike | None = None,
    *,
    split: str | None = None,
    method: str = "model",
    with_hce: bool = True,
    plots: bool = True,
    progress: bool = True,
) -> EvaluationResult:
    """Run ``predict_fn`` on every photo of ``data`` and score the masks.

    Args:
        predict_fn: ``rgb_uint8 (HxWx3) -> float32 HxW mask in [0, 1]``, at any size (the
            evaluator resizes it to the ground truth's size), e.g. ``Remover(...).predict_mask``.
        data: an index CSV (columns ``image``, ``mask``, ``split``; paths relative to the CSV's
            folder) or a tuple ``(images_dir, masks_dir)`` paired by stem.
        out_dir: write the report there (None: no files).
        split: with an index CSV, keep only this split (e.g. ``"test"``).
        method: the name in reports and plots.
        with_hce: compute HCE.
        plots: write PNG plots with the report.
        progress: show a tqdm progress bar.

    Returns:
        The :class:`EvaluationResult`; unreadable photos or masks and failed predictions are in
        ``result.problems``.

    Raises:
        FileNotFoundError, ValueError, TypeError: ``data`` or ``split`` is unusable.
        EvaluationError: no pair could be evaluated.
    """
    if not callable(predict_fn):
        raise TypeError(f"predict_fn: expected a callable rgb_uint8 -> HxW mask, got {type(predict_fn).__name__}")
    pairs, problems, orphans = _resolve_data(data, split)

    def predict(pair: _Pair) -> np.ndarray:
        rgb = load_image(pair.source)
        return _check_prediction(predict_fn(rgb), rgb.shape)

    evaluator = SODEvaluator(with_hce=with_hce)
    problems = list(problems)
    _run(pairs, predict, evaluator, problems, description=f"evaluating {method}", progress=progress)
    return _finish(evaluator, problems, orphans, out_dir, method, plots)

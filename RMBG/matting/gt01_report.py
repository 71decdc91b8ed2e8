"""Matting quality on GT01 (alphamatting.com): every way RMBG turns a photo into an alpha.

``python -m RMBG.matting.gt01_report [--out gt01_report.csv] [--scale 1.0]``

Rows (methods):

* ``u2netp mask``: ``Remover("u2netp").predict_mask(image)`` used as the alpha;
* ``closed-form (our trimap)``: the trimap made from that mask (``rembg`` preset), closed-form alpha;
* ``closed-form (official trimap)``: closed-form alpha from GT01's official trimap (upper bound of
  the trimap step);
* ``matting net (our trimap)``: the ``matting_net`` preset on our trimap;
* ``refine``: the ``refiner`` preset on the u2netp mask;
* ``refine + matting``: refiner, then our trimap of the refined mask, then the matting net;
* ``fba (carvekit trimap)`` / ``fba, bgr input (carvekit wrapper)``: CarveKit's pipeline (trimap
  preset ``carvekit`` of the u2netp mask, FBA matting) with the official weights, fed RGB (FBA's own
  convention) or BGR (what CarveKit's wrapper feeds); reported as absent when the official file is
  not on disk (the report never downloads).

Each is scored with SAD / MSE / Grad / Conn (:mod:`RMBG.matting.matting_metrics`) over the official
trimap's unknown region and over the whole image. A learned row whose preset has no trained weights
is reported as such (never with random weights).
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from RMBG.inference.image_io import load_image, load_mask
from RMBG.inference.remover import Remover
from RMBG.matting.closed_form import estimate_alpha
from RMBG.matting.fba import fba_postprocess
from RMBG.matting.matting_metrics import matting_metrics
from RMBG.matting.postprocessors import net_alpha, refine_mask
from RMBG.matting.refine import matte_from_mask
from RMBG.models.fba_matting.fba_matting_presets import FBA_MATTING_PTH
from RMBG.paths import assets_dir
from RMBG.registry import list_models
from RMBG.weights.sources import weights_cache

COLUMNS = ("method", "region", "sad", "mse", "grad", "conn", "seconds")


def load_gt01(scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(image uint8 HxWx3, official trimap uint8, GT alpha float32)``, optionally downscaled.

    Raises:
        FileNotFoundError: the assets are absent (set ``RMBG_ASSETS``).
    """
    root = assets_dir() / "matting"
    paths = [root / "images" / "GT01.png", root / "trimaps" / "GT01.png", root / "alphas" / "GT01.png"]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"GT01: '{path}' is absent; set RMBG_ASSETS to the shared assets folder")
    if not 0 < scale <= 1:
        raise ValueError(f"scale: expected a factor in (0, 1], got {scale!r}")
    image = load_image(paths[0])
    trimap = np.round(load_mask(paths[1]) * 255).astype(np.uint8)
    alpha = load_mask(paths[2]).astype(np.float32)
    if scale < 1:
        size = (max(16, round(image.shape[1] * scale)), max(16, round(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
        trimap = cv2.resize(trimap, size, interpolation=cv2.INTER_NEAREST)
    return image, trimap, alpha


def predictions(
    image: np.ndarray,
    official_trimap: np.ndarray,
    *,
    segmenter: Any = "u2netp",
    matting_model: Any = "matting_net",
    refiner_model: Any = "refiner",
    fba_model: Any = None,
) -> dict[str, tuple[np.ndarray | None, float, str]]:
    """``{method: (alpha or None, seconds, note)}`` for every row of the report."""
    def available(model: Any, name: str) -> bool:
        return not (isinstance(model, str) and model == name and name not in list_models(pretrained=True))

    rows: dict[str, tuple[np.ndarray | None, float, str]] = {}
    start = time.perf_counter()
    mask = Remover(segmenter).predict_mask(image)
    rows["u2netp mask"] = (mask, time.perf_counter() - start, "")
    start = time.perf_counter()
    rows["closed-form (our trimap)"] = (matte_from_mask(image, mask, foreground_estimation=False).alpha, time.perf_counter() - start, "")
    start = time.perf_counter()
    rows["closed-form (official trimap)"] = (estimate_alpha(image, official_trimap), time.perf_counter() - start, "")
    has_matting = available(matting_model, "matting_net")
    has_refiner = available(refiner_model, "refiner")
    untrained = "preset has no trained weights"
    if has_matting:
        start = time.perf_counter()
        rows["matting net (our trimap)"] = (net_alpha(image, mask, matting_model=matting_model)[0], time.perf_counter() - start, "")
    else:
        rows["matting net (our trimap)"] = (None, 0.0, untrained)
    refined = None
    if has_refiner:
        start = time.perf_counter()
        refined = refine_mask(image, mask, refiner_model=refiner_model)
        rows["refine"] = (refined, time.perf_counter() - start, "")
    else:
        rows["refine"] = (None, 0.0, untrained)
    if has_matting and has_refiner:
        start = time.perf_counter()
        rows["refine + matting"] = (net_alpha(image, refined, matting_model=matting_model)[0], time.perf_counter() - start, "")
    else:
        rows["refine + matting"] = (None, 0.0, untrained)
    rows.update(fba_rows(image, mask, fba_model))
    return rows


def official_fba_weights() -> Path | None:
    """The official ``fba_matting.pth`` where it is already present (cache or ``$RMBG_ASSETS/weights``), else None.

    Looks only: the report never downloads (a missing file gives a row saying so)."""
    for folder in (weights_cache(), assets_dir() / "weights"):
        if (folder / FBA_MATTING_PTH.filename).is_file():
            return folder / FBA_MATTING_PTH.filename
    return None


def fba_rows(image: np.ndarray, mask: np.ndarray, fba_model: Any = None) -> dict[str, tuple[np.ndarray | None, float, str]]:
    """The FBA rows: CarveKit's pipeline (carvekit trimap of the u2netp mask -> FBA), with RGB input
    (FBA_Matting's convention) and with BGR input (CarveKit's wrapper).

    Args:
        fba_model: None: the official weights when present (else the rows say why they are empty);
            or anything :func:`RMBG.matting.fba.resolve_fba_model` takes.
    """
    names = ("fba (carvekit trimap)", "fba, bgr input (carvekit wrapper)")
    if fba_model is None and official_fba_weights() is None:
        reason = ("official fba_matting.pth absent (not downloadable here): place it in $RMBG_HOME/weights or "
                  "$RMBG_ASSETS/weights (sha512 in RMBG/models/fba_matting/fba_matting_presets.py)")
        return {name: (None, 0.0, reason) for name in names}
    rows = {}
    for name, order in zip(names, ("rgb", "bgr")):
        start = time.perf_counter()
        alpha, _ = fba_postprocess(image, mask, fba_model=fba_model, channel_order=order, foreground_estimation=False)
        rows[name] = (alpha, time.perf_counter() - start, "")
    return rows


def report(scale: float = 1.0, **models: Any) -> list[dict[str, Any]]:
    """The report's rows (dicts with :data:`COLUMNS` and ``note``)."""
    image, official, gt = load_gt01(scale)
    rows = []
    for method, (alpha, seconds, note) in predictions(image, official, **models).items():
        for region, trimap in (("unknown", official), ("image", None)):
            values = matting_metrics(alpha, gt, trimap) if alpha is not None else {}
            rows.append({"method": method, "region": region, **{k: values.get(k) for k in ("sad", "mse", "grad", "conn")},
                         "seconds": round(seconds, 2), "note": note})
    return rows


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table: one line per method, unknown-region and whole-image metrics side by side."""
    lines = [
        "| method | SAD (unknown) | MSE (unknown) | Grad (unknown) | Conn (unknown) | SAD (image) | MSE (image) | Grad (image) | Conn (image) | s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    by_method: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_method.setdefault(row["method"], {})[row["region"]] = row
    for method, regions in by_method.items():
        if regions["unknown"]["sad"] is None:
            lines.append(f"| {method} | {regions['unknown']['note']} |||||||||")
            continue
        cells = []
        for region in ("unknown", "image"):
            r = regions[region]
            cells += [f"{r['sad']:.3f}", f"{r['mse']:.5f}", f"{r['grad']:.3f}", f"{r['conn']:.3f}"]
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {regions['unknown']['seconds']} |")
    return "\n".join(lines)


def write_csv(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Write the rows as CSV (columns :data:`COLUMNS` + ``note``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*COLUMNS, "note"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m RMBG.matting.gt01_report", description="Matting metrics on GT01.")
    parser.add_argument("--out", default="gt01_report.csv", help="CSV file to write")
    parser.add_argument("--scale", type=float, default=1.0, help="downscale GT01 by this factor (smoke runs)")
    args = parser.parse_args(argv)
    rows = report(args.scale)
    print(markdown(rows))
    print(f"\nCSV: {write_csv(rows, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

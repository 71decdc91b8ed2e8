"""The peers the benchmark measures RMBG against, and building blocks it compares.

* **rembg in the test venv** (test-only, installed ``--no-deps``): its ``p`` command function
  called in-process (:func:`run_rembg_p`), for the export-compatibility test
  (``tests/export/test_export_rembg.py``). The benchmark does *not* use it: it runs ``rembg p``
  as a whole process from its own venv with its real dependencies (:mod:`RMBG.benchmark.peer_env`).
* **PyTorch U2NETP of u2net-fast** (benchmark-only): the official architecture in PyTorch, with
  the official weights converted from our Keras model (:func:`keras_to_torch_state`).
* **PNG encoders**: the candidates for writing RGBA outputs, timed by the stage profile.

Nothing here is imported by the library's inference path.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image

from RMBG.export.rembg_layout import minmax, official_preprocess
from RMBG.inference.image_io import encode_image

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


# === rembg ===================================================================================
def rembg_version() -> str | None:
    """The installed rembg version, or ``None``."""
    try:
        return version("rembg")
    except PackageNotFoundError:
        return None


def load_rembg_p_command():
    """rembg's ``p`` command (a click command), loaded from the installed rembg package.

    ``rembg.commands/__init__`` also imports the server command, whose dependencies (aiohttp,
    gradio...) a folder run never uses and a CPU benchmark machine need not have; so the module
    file ``rembg/commands/p_command.py`` is loaded on its own, unchanged.

    Raises:
        ModuleNotFoundError: rembg (or the p command's own dependencies click, filetype,
            watchdog) is not installed.
    """
    import rembg  # deferred: optional peer (rembg); absent → ModuleNotFoundError, as documented

    name = "rembg.commands.p_command"
    if name not in sys.modules:
        path = Path(rembg.__file__).parent / "commands" / "p_command.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name].p_command


def run_rembg_p(input: str | os.PathLike, output: str | os.PathLike, model_path: str | os.PathLike) -> dict:
    """Run rembg's ``p`` command on a folder with ``u2net_custom`` and ``model_path``.

    Returns:
        ``import_s`` (importing rembg), ``load_s`` (one ``new_session``, timed separately since
        the command builds its own), ``total_s`` (the command: its session plus every photo),
        ``process_s`` (``total_s - load_s``), ``cpu_s`` (CPU seconds of the command, all threads),
        ``photos`` (outputs written) and ``version``.

    Raises:
        ModuleNotFoundError: rembg is not installed (test-only: ``scripts/install_test_extras.sh``).
        FileNotFoundError: ``model_path`` does not exist.
    """
    if not Path(model_path).is_file():
        raise FileNotFoundError(f"model_path: no such file '{model_path}' (the official u2netp.onnx)")
    os.environ.setdefault("U2NET_HOME", str(Path(output).parent / ".u2net_home"))  # nothing is downloaded with model_path
    start = time.perf_counter()
    from rembg import new_session  # deferred: optional peer (rembg); importing it is timed (import_s)

    p_command = load_rembg_p_command()
    import_s = time.perf_counter() - start
    start = time.perf_counter()
    new_session("u2net_custom", model_path=str(model_path))
    load_s = time.perf_counter() - start
    arguments = ["-m", "u2net_custom", "-x", json.dumps({"model_path": str(model_path)}), str(input), str(output)]
    start, cpu = time.perf_counter(), time.process_time()
    p_command.main(args=arguments, standalone_mode=False)
    total_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    photos = len(list(Path(output).glob("*.png")))
    return {"import_s": import_s, "load_s": load_s, "total_s": total_s, "process_s": total_s - load_s,
            "cpu_s": cpu_s, "photos": photos, "version": rembg_version()}


# === PyTorch U2NETP (u2net-fast) ===============================================================
def keras_to_torch_state(backbone) -> dict[str, np.ndarray]:
    """A PyTorch U^2-Net state dict (official module names) from our Keras backbone.

    Our layers carry the PyTorch module paths (``stage1.rebnconvin.conv_s1``...): convolution
    kernels go from HWIO to OIHW, BatchNorm gamma/beta/mean/variance to
    weight/bias/running_mean/running_var.
    """
    import keras  # deferred: Keras (TensorFlow) only for the weight copy; the PyTorch worker runs without it

    state: dict[str, np.ndarray] = {}
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel, bias = (np.asarray(w) for w in layer.weights)
            state[f"{layer.name}.weight"] = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))
            state[f"{layer.name}.bias"] = bias
        elif isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = (np.asarray(w) for w in layer.weights)
            state.update({f"{layer.name}.weight": gamma, f"{layer.name}.bias": beta,
                          f"{layer.name}.running_mean": mean, f"{layer.name}.running_var": variance})
    return state


class TorchU2NetP:
    """u2net-fast's PyTorch ``U2NETP`` with the official weights, predicting like our Segmenter.

    Args:
        state_path: ``.npz`` written from :func:`keras_to_torch_state`.
        threads: ``torch.set_num_threads`` (``None``: PyTorch's default).

    Raises:
        ModuleNotFoundError: torch or u2net-fast is not installed (benchmark-only dependencies:
            ``pip install torch`` and ``pip install --no-deps u2net-fast``).
        ValueError: the state dict does not match the architecture.
    """

    def __init__(self, state_path: str | os.PathLike, *, threads: int | None = None):
        import torch  # deferred: optional (torch), benchmark-only; absent → ModuleNotFoundError
        from u2net_fast.model import U2NETP  # deferred: optional (u2net-fast, needs torch), benchmark-only

        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        self.net = U2NETP(3, 1)
        with np.load(state_path) as arrays:
            state = {key: torch.from_numpy(arrays[key]) for key in arrays.files}
        result = self.net.load_state_dict(state, strict=False)
        missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
        if missing or result.unexpected_keys:
            raise ValueError(f"state_path: '{state_path}' does not match U2NETP: missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}")
        self.net.eval()

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Masks ``(N, H, W)`` in [0, 1] for ``(N, H, W, 3)`` pixel values [0, 255] at the model's size."""
        with self.torch.inference_mode():
            fused = self.net(self.torch.from_numpy(official_preprocess(batch)))[0][:, 0].numpy()
        return minmax(fused)


# === faster building blocks (candidates for the Remover) =====================================
def rgba_cutout_uint8(image: np.ndarray, small_mask: np.ndarray) -> np.ndarray:
    """The RGBA cutout of ``image`` from a model-size mask, computed in uint8.

    Equivalent to ``compose(image, clip(resize_bilinear(small_mask)), "rgba")`` within 1/255: the
    mask is quantised to uint8 at the model's size and resized (bilinear, OpenCV) in uint8, so
    no full-size float32 temporaries are made (at 24 MP each is 96 MB) and the resize runs on
    uint8 SIMD paths.

    Args:
        image: the photo, HxWx3 uint8 RGB.
        small_mask: the mask at the model's size, float in [0, 1].

    Returns:
        HxWx4 uint8 RGBA.
    """
    height, width = image.shape[:2]
    alpha = np.clip(small_mask * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if alpha.shape != (height, width):
        alpha = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_LINEAR)
    rgba = np.empty((height, width, 4), np.uint8)
    rgba[..., :3] = image
    rgba[..., 3] = alpha
    return rgba


# === PNG encoders ============================================================================
def encode_png_pil(image: np.ndarray, level: int = 1) -> bytes:
    """PNG bytes through Pillow at zlib ``level``, colours kept under alpha 0 (RMBG's ``save_image``:
    level 1 and those pixels zero, the ``"rmbg"`` encoder below; Pillow's default level is 6)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=level)
    return buffer.getvalue()


def encode_png_cv2(image: np.ndarray, level: int = 1) -> bytes:
    """PNG bytes through OpenCV (libpng) at zlib ``level``; ``image`` is RGB(A) or grey uint8."""
    if image.ndim == 3:
        code = cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR
        image = cv2.cvtColor(image, code)
    ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, level])
    if not ok:
        raise ValueError(f"image: OpenCV could not encode an array of shape {image.shape} as PNG")
    return data.tobytes()


#: Encoders the stage profile compares (name → ``encoder(rgba uint8) -> bytes``).
PNG_ENCODERS: dict[str, Callable[[np.ndarray], bytes]] = {
    "rmbg": lambda image: encode_image(image, "png"),  # what remove writes: level 1, invisible pixels zero
    "pil-1": lambda image: encode_png_pil(image, 1),
    "pil-6": lambda image: encode_png_pil(image, 6),
    "cv2-1": lambda image: encode_png_cv2(image, 1),
    "cv2-3": lambda image: encode_png_cv2(image, 3),
}


__all__ = [
    "PNG_ENCODERS",
    "TorchU2NetP",
    "encode_png_cv2",
    "encode_png_pil",
    "keras_to_torch_state",
    "load_rembg_p_command",
    "minmax",
    "official_preprocess",
    "rembg_version",
    "rgba_cutout_uint8",
    "run_rembg_p",
]

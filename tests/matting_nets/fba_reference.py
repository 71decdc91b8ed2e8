"""CarveKit 4.1.2's own FBA network (test-only: torch + `pip install --no-deps carvekit==4.1.2`),
randomised so every tensor matters, and saved as a `.pth` the way users save checkpoints."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the FBA reference needs torch (pip install torch==2.13.0)")
models = pytest.importorskip(
    "carvekit.ml.arch.fba_matting.models", reason="the FBA reference needs carvekit (pip install --no-deps carvekit==4.1.2)"
)
transforms = pytest.importorskip("carvekit.ml.arch.fba_matting.transforms", reason="needs carvekit==4.1.2")


def random_reference(seed: int = 1):
    """``FBA(encoder="resnet50_GN_WS")`` in eval mode with every parameter random.

    The reference zero-initialises 8 of conv1's 11 input channels and GroupNorm to (1, 0); all are
    redrawn here so a misplaced tensor shows. The residual branches' last GroupNorm scale is kept
    small (0.05-0.25) and the plain head convolutions He-scaled: a random ResNet with unit gains
    is chaotic (float32 round-off grows to ~1e-4 relative by layer4, in torch as in TF), which
    would measure the random network's conditioning instead of our port. The head's alpha bias
    is 0.5 so about 55 % of the alphas are fractional (not clipped to 0 or 1).
    """
    torch.manual_seed(0)
    model = models.FBA("resnet50_GN_WS").eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith("decoder.conv_up4"):
                if parameter.ndim == 4:
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * math.sqrt(2.0 / parameter[0].numel()))
                else:
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)
                if name == "decoder.conv_up4.4.bias":
                    parameter[0] = 0.5
            elif parameter.ndim == 1 and name.endswith("bn3.weight"):
                parameter.copy_(torch.rand(parameter.shape, generator=generator) * 0.2 + 0.05)
            elif parameter.ndim == 1 and name.endswith("weight"):
                parameter.copy_(torch.rand(parameter.shape, generator=generator) + 0.5)
            elif parameter.ndim == 1:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
            else:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    return model


def save_reference(model, path: Path) -> Path:
    """``torch.save(model.state_dict(), path)`` (the zip format)."""
    torch.save(model.state_dict(), path)
    return path


def reference_outputs(model, image: np.ndarray, two_channel: np.ndarray, *, dtype=torch.float64) -> np.ndarray:
    """The reference's ``(H, W, 7)`` output for an ``HxWx3`` image in [0, 1] and its two-channel trimap,
    with the reference's own ``trimap_transform`` and ``groupnorm_normalise_image`` (in float64 by default)."""
    normalised = transforms.groupnorm_normalise_image(image.astype(np.float64).copy())
    encoded = transforms.trimap_transform(two_channel.astype(np.float64))

    def nchw(array):
        return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))[None]).to(dtype)

    reference = model.to(dtype)
    with torch.no_grad():
        out = reference(nchw(image), nchw(two_channel), nchw(normalised), nchw(encoded))
    model.to(torch.float32)
    return out[0].numpy().transpose(1, 2, 0)

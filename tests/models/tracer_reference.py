"""CarveKit's TRACER-B7 as the reference of the tracer_b7 tests (skips without torch / carvekit)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

#: CarveKit's normalisation (``transforms.Normalize`` after ``ToTensor``).
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def random_reference(path: Path | None = None):
    """``TracerDecoder(EfficientEncoderB7(), [32, 64, 128], [48, 80, 224, 640])`` in eval mode, with
    random weights and random BatchNorm statistics (so no normalisation is the identity); saved as a
    ``.pth`` state dict at ``path`` if given."""
    torch = pytest.importorskip("torch", reason="the CarveKit reference needs torch (scripts/install_test_extras.sh)")
    pytest.importorskip("carvekit", reason="the reference is carvekit==4.1.2, installed --no-deps by scripts/install_test_extras.sh")
    from carvekit.ml.arch.tracerb7.efficientnet import EfficientEncoderB7
    from carvekit.ml.arch.tracerb7.tracer import TracerDecoder

    torch.manual_seed(0)
    net = TracerDecoder(encoder=EfficientEncoderB7(), rfb_channel=[32, 64, 128], features_channels=[48, 80, 224, 640])
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.5)
                module.running_var.copy_(torch.rand(n, generator=generator) * 1.5 + 0.5)
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.2)
    net.eval()
    if path is not None:
        torch.save(net.state_dict(), path)
    return net


def reference_mask(net, pixels: np.ndarray) -> np.ndarray:
    """CarveKit's mask ``(N, H, W, 1)`` for ``pixels`` ``(N, H, W, 3)`` in [0, 255], already at the net's size."""
    import torch

    x = torch.from_numpy(((pixels / 255.0 - MEAN) / STD).transpose(0, 3, 1, 2).astype(np.float32).copy())
    with torch.no_grad():
        return net(x).numpy().transpose(0, 2, 3, 1)

"""The PyTorch reference of InSPyReNet, loaded for tests only.

The reference is the model code shipped by ``transparent-background==1.3.4`` (``InSPyReNet.py``,
``backbones/SwinTransformer.py``, ``modules/``), installed with ``--no-deps`` beside the CPU torch
(see scripts/install_test_extras.sh). Two things around the model code cannot run here, so:

* the package ``__init__`` imports its GUI and downloader (wget, gdown, albumentations,
  torchvision): it is never executed; a stub parent package lets the three submodules import;
* ``timm`` imports torchvision, which does not import beside the CPU torch wheel here. The
  reference takes only ``DropPath``, ``to_2tuple`` and ``trunc_normal_`` from ``timm.layers``.
  When ``timm`` is absent this module stands in for those three: ``to_2tuple`` and
  ``trunc_normal_`` (``torch.nn.init.trunc_normal_``, the same signature and distribution) only
  shape and initialise weights, which the tests copy anyway; ``DropPath`` is the identity in eval
  mode, which is exact (timm's ``DropPath`` returns its input unchanged when not training). The
  stand-in refuses training mode, so no test can silently compare against a different model.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import pytest


def _timm_stand_in(torch) -> None:
    try:
        import timm.layers  # noqa: F401

        return
    except Exception:  # noqa: BLE001  (timm absent, or failing on torchvision: use the stand-in)
        pass

    class DropPath(torch.nn.Module):
        """timm's DropPath in eval mode (the identity); training mode is refused."""

        def __init__(self, drop_prob: float = 0.0):
            super().__init__()
            self.drop_prob = drop_prob

        def forward(self, x):
            if self.training and self.drop_prob > 0:
                raise RuntimeError("the DropPath stand-in supports eval mode only")
            return x

    def to_2tuple(value):
        return tuple(value) if isinstance(value, (tuple, list)) else (value, value)

    layers = types.ModuleType("timm.layers")
    layers.DropPath, layers.to_2tuple, layers.trunc_normal_ = DropPath, to_2tuple, torch.nn.init.trunc_normal_
    timm = types.ModuleType("timm")
    timm.layers = layers
    sys.modules["timm"], sys.modules["timm.layers"] = timm, layers


def load_reference():
    """``(torch, InSPyReNet module, SwinTransformer module)``; skips when torch, the reference or
    its kornia dependency is not installed."""
    torch = pytest.importorskip("torch", reason="the InSPyReNet reference needs torch (pip install torch==2.13.0)")
    pytest.importorskip("kornia", reason="the InSPyReNet reference needs kornia (pip install --no-deps kornia==0.9.0 kornia-rs)")
    spec = importlib.util.find_spec("transparent_background")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the InSPyReNet reference needs transparent-background (pip install --no-deps transparent-background==1.3.4)")
    _timm_stand_in(torch)
    if "transparent_background" not in sys.modules or not hasattr(sys.modules["transparent_background"], "__rmbg_stub__"):
        package = types.ModuleType("transparent_background")
        package.__path__ = list(spec.submodule_search_locations)
        package.__rmbg_stub__ = True
        sys.modules["transparent_background"] = package
    network = importlib.import_module("transparent_background.InSPyReNet")
    swin = importlib.import_module("transparent_background.backbones.SwinTransformer")
    return torch, network, swin


def randomise(torch, model, seed: int = 1):
    """Give every parameter-free default a non-trivial value, so each mapping is really tested:
    BatchNorm statistics and affine terms, the axial attention ``gamma`` (0 at init, which would
    hide the attention path), the SICA thresholds (0.5 at init) and the relative position tables."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
        for name, parameter in model.named_parameters():
            if name.endswith(".gamma"):
                parameter.copy_(torch.rand(1, generator=generator) * 0.5 + 0.25)
            elif name.endswith("threshold"):
                parameter.copy_(torch.rand(1, generator=generator) * 0.4 + 0.3)
            elif name.endswith("relative_position_bias_table"):
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    return model


def calibrate_batchnorm(torch, model, x):
    """Give every BatchNorm statistics that keep the random network well conditioned, then
    random affine terms.

    A randomly initialised InSPyReNet with arbitrary statistics has long unnormalised chains
    (logits reach 1e9), and SICA's class contexts are sums over up to 147k positions, whose
    BatchNorm would subtract a mean thousands of times larger than the spread (cancellation
    that amplifies float32 rounding). So one forward pass over ``x`` (NCHW) in BatchNorm
    training mode measures each layer's input mean m and variance v, and each BatchNorm gets
    ``running_var = v + m**2`` (the second moment) and ``running_mean = u * m`` with u uniform in
    [0, 0.5): every map stays O(1), no layer cancels more than half its input, and every
    statistic is non-trivial, so the mapping of all four BatchNorm tensors is still tested.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for module in norms:
        module.reset_running_stats()
        module.momentum = None  # cumulative average: one pass sets the statistics of that pass
        module.train()
    with torch.no_grad():
        model.forward_inspyre(x) if hasattr(model, "forward_inspyre") else model(x)
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for module in norms:
            module.eval()
            module.momentum = 0.1
            n = module.num_features
            mean = module.running_mean.clone()
            module.running_var.copy_(module.running_var + mean ** 2)
            module.running_mean.copy_(mean * torch.rand(n, generator=generator) * 0.5)
            module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.copy_(torch.randn(n, generator=generator) * 0.1)
    return model

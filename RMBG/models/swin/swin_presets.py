"""The Swin Transformer shapes of the paper (Liu et al., 2021, Table 1 / the official configs).

Pure data, no Keras import. Each entry holds :class:`~RMBG.models.swin.SwinTransformer` arguments.
Swin-T and Swin-S use 7x7 windows (ImageNet-1k 224 px), Swin-B and Swin-L the 12x12 windows of
their 384 px ImageNet-22k checkpoints, which InSPyReNet starts from.
"""

from __future__ import annotations

SWIN_CONFIGS = {
    "swin_t": {"embed_dim": 96, "depths": (2, 2, 6, 2), "num_heads": (3, 6, 12, 24), "window_size": 7},
    "swin_s": {"embed_dim": 96, "depths": (2, 2, 18, 2), "num_heads": (3, 6, 12, 24), "window_size": 7},
    "swin_b": {"embed_dim": 128, "depths": (2, 2, 18, 2), "num_heads": (4, 8, 16, 32), "window_size": 12},
    "swin_l": {"embed_dim": 192, "depths": (2, 2, 18, 2), "num_heads": (6, 12, 24, 48), "window_size": 12},
}

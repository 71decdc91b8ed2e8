"""The Swin Transformer backbone: patch embedding, four stages of (shifted) window attention, patch merging."""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np

from RMBG.models.swin.pad_to_multiple import PadToMultiple
from RMBG.models.swin.patch_merging import LAYER_NORM_EPSILON, PatchMerging
from RMBG.models.swin.swin_block import swin_block


@keras.saving.register_keras_serializable(package="RMBG")
class SwinTransformer(keras.Model):
    """Swin Transformer (Liu et al., 2021) as a functional Keras model for dense prediction.

    Input: normalised images ``(N, H, W, C)``, any H and W (a side that is not a multiple of the
    patch size, the window size or 2 is zero-padded where the official code pads it).
    Outputs, a list of ``1 + len(depths)`` maps (the layout of the detection/segmentation Swin that
    InSPyReNet uses): the normalised patch embedding ``(N, H/p, W/p, embed_dim)``, then each
    stage's output after its LayerNorm ``norm{i}``, ``(N, H/(p*2^i), W/(p*2^i), embed_dim*2^i)``
    (sides rounded up).

    Block ``j`` of every stage uses shifted windows when ``j`` is odd (the shift is applied at
    every resolution, as the official dense-prediction code does). Stochastic depth grows
    linearly from 0 to ``drop_path_rate`` over all blocks. Layers carry the PyTorch module paths
    (``patch_embed.proj``, ``layers.{i}.blocks.{j}.attn``, ``layers.{i}.downsample``, ``norm{i}``).

    Args:
        embed_dim: channels of the patch embedding (stage i has ``embed_dim * 2**i``).
        depths: blocks per stage.
        num_heads: attention heads per stage.
        window_size: window side.
        patch_size: side of the square patches (stride of the embedding).
        mlp_ratio: MLP width over channels.
        qkv_bias: learn query/key/value biases.
        patch_norm: LayerNorm after the patch embedding.
        dropout_rate: dropout after attention projections and in MLPs.
        attention_dropout_rate: dropout on attention weights.
        drop_path_rate: the stochastic depth rate of the last block.
        image_channels: input channels.
    """

    def __init__(
        self,
        embed_dim: int = 96,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        window_size: int = 7,
        patch_size: int = 4,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        patch_norm: bool = True,
        dropout_rate: float = 0.0,
        attention_dropout_rate: float = 0.0,
        drop_path_rate: float = 0.2,
        image_channels: int = 3,
        **kwargs,
    ):
        depths = tuple(int(d) for d in depths)
        num_heads = tuple(int(h) for h in num_heads)
        if len(depths) != len(num_heads) or not depths:
            raise ValueError(f"depths {list(depths)} and num_heads {list(num_heads)}: expected one value per stage each")
        for stage, heads in enumerate(num_heads):
            if (embed_dim * 2 ** stage) % heads:
                raise ValueError(
                    f"num_heads: stage {stage} has {embed_dim * 2 ** stage} channels, not a multiple of {heads} heads"
                )
        if window_size < 2:
            raise ValueError(f"window_size: expected at least 2, got {window_size}")
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f"drop_path_rate: expected a rate in [0, 1), got {drop_path_rate}")

        # === Functional model ===
        inputs = keras.Input(shape=(None, None, image_channels), name="images")
        x = PadToMultiple(patch_size, name="patch_embed.pad")(inputs)
        x = keras.layers.Conv2D(embed_dim, patch_size, strides=patch_size, name="patch_embed.proj")(x)
        if patch_norm:
            x = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="patch_embed.norm")(x)
        outputs = [x]
        rates = np.linspace(0.0, drop_path_rate, sum(depths)).tolist()
        for stage, (depth, heads) in enumerate(zip(depths, num_heads)):
            dim = embed_dim * 2 ** stage
            for block in range(depth):
                x = swin_block(
                    x, dim, heads, window_size, shift_size=0 if block % 2 == 0 else window_size // 2,
                    mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, dropout_rate=dropout_rate,
                    attention_dropout_rate=attention_dropout_rate,
                    drop_path_rate=rates[sum(depths[:stage]) + block], name=f"layers.{stage}.blocks.{block}",
                )
            outputs.append(keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name=f"norm{stage}")(x))
            if stage < len(depths) - 1:
                x = PatchMerging(dim, name=f"layers.{stage}.downsample")(x)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.embed_dim = int(embed_dim)
        self.depths = depths
        self.num_heads = num_heads
        self.window_size = int(window_size)
        self.patch_size = int(patch_size)
        self.mlp_ratio = float(mlp_ratio)
        self.qkv_bias = bool(qkv_bias)
        self.patch_norm = bool(patch_norm)
        self.dropout_rate = float(dropout_rate)
        self.attention_dropout_rate = float(attention_dropout_rate)
        self.drop_path_rate = float(drop_path_rate)
        self.image_channels = int(image_channels)

    @property
    def feature_channels(self) -> tuple[int, ...]:
        """Channels of each output: the embedding's, then each stage's."""
        return (self.embed_dim, *(self.embed_dim * 2 ** i for i in range(len(self.depths))))

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "embed_dim": self.embed_dim,
            "depths": self.depths,
            "num_heads": self.num_heads,
            "window_size": self.window_size,
            "patch_size": self.patch_size,
            "mlp_ratio": self.mlp_ratio,
            "qkv_bias": self.qkv_bias,
            "patch_norm": self.patch_norm,
            "dropout_rate": self.dropout_rate,
            "attention_dropout_rate": self.attention_dropout_rate,
            "drop_path_rate": self.drop_path_rate,
            "image_channels": self.image_channels,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

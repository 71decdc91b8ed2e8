"""One Swin Transformer block, built from named layers (functional)."""

from __future__ import annotations

import keras

from RMBG.models.swin.gelu import GELU
from RMBG.models.swin.patch_merging import LAYER_NORM_EPSILON
from RMBG.models.swin.stochastic_depth import StochasticDepth
from RMBG.models.swin.window_attention import WindowAttention


def swin_block(
    x,
    dim: int,
    num_heads: int,
    window_size: int,
    shift_size: int,
    mlp_ratio: float,
    qkv_bias: bool,
    dropout_rate: float,
    attention_dropout_rate: float,
    drop_path_rate: float,
    name: str,
):
    """``x + SDepth(W-MSA(LN(x)))``, then ``x + SDepth(MLP(LN(x)))`` on a ``(N, H, W, C)`` map.

    Layers carry the PyTorch module paths below ``name`` (``norm1``, ``attn``, ``norm2``,
    ``mlp.fc1``, ``mlp.fc2``). The MLP uses the exact (erf) :class:`GELU`, as ``nn.GELU``.

    Args:
        x: the input map.
        dim: channels.
        num_heads: attention heads.
        window_size: window side.
        shift_size: cyclic shift (0 for even blocks, ``window_size // 2`` for odd ones).
        mlp_ratio: hidden width of the MLP over ``dim``.
        qkv_bias: learn query/key/value biases.
        dropout_rate: dropout after the attention projection and inside the MLP.
        attention_dropout_rate: dropout on the attention weights.
        drop_path_rate: stochastic depth rate of both residual branches.
        name: the module path, e.g. ``"layers.2.blocks.5"``.
    """

    def branch(h, label):
        if drop_path_rate > 0.0:
            h = StochasticDepth(drop_path_rate, name=f"{name}.drop_path_{label}")(h)
        return h

    h = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name=f"{name}.norm1")(x)
    h = WindowAttention(
        dim, num_heads, window_size, shift_size, qkv_bias=qkv_bias,
        attention_dropout=attention_dropout_rate, projection_dropout=dropout_rate, name=f"{name}.attn",
    )(h)
    x = keras.layers.Add(name=f"{name}.add_attn")([x, branch(h, "attn")])
    h = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name=f"{name}.norm2")(x)
    h = keras.layers.Dense(int(dim * mlp_ratio), name=f"{name}.mlp.fc1")(h)
    h = GELU(name=f"{name}.mlp.act")(h)
    if dropout_rate > 0.0:
        h = keras.layers.Dropout(dropout_rate, name=f"{name}.mlp.drop1")(h)
    h = keras.layers.Dense(dim, name=f"{name}.mlp.fc2")(h)
    if dropout_rate > 0.0:
        h = keras.layers.Dropout(dropout_rate, name=f"{name}.mlp.drop2")(h)
    return keras.layers.Add(name=f"{name}.add_mlp")([x, branch(h, "mlp")])

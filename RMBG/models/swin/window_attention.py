"""Window multi-head self-attention with relative position bias, optionally on shifted windows."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

#: The additive mask between tokens of different regions of a shifted window (the official value;
#: exp(-100) underflows to 0 in the softmax, unlike -inf it never produces NaN).
MASK_VALUE = -100.0


def relative_position_index(window_size: int) -> np.ndarray:
    """``(ws*ws, ws*ws)`` int32: for each query/key token pair of a window, the row of the
    ``(2*ws-1)**2``-entry bias table holding their relative offset (the official index)."""
    coords = np.stack(np.meshgrid(np.arange(window_size), np.arange(window_size), indexing="ij")).reshape(2, -1)
    relative = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0) + (window_size - 1)
    return (relative[..., 0] * (2 * window_size - 1) + relative[..., 1]).astype(np.int32)


@tf.custom_gradient
def _gather_rows(table, index):
    """``tf.gather(table, index)`` whose gradient is a dense tensor (segment sums), not the
    ``IndexedSlices`` of ``tf.gather``: the bias table is small and every row is used."""

    def gradient(upstream):
        return tf.math.unsorted_segment_sum(upstream, index, tf.shape(table)[0]), None

    return tf.gather(table, index), gradient


def _roll(x, shift: int):
    """``torch.roll(x, (shift, shift), dims=(1, 2))`` with slices and concatenation (every
    exporter supports those; ``|shift|`` must not exceed the padded size, which holds here)."""
    size = tf.shape(x)[1]
    cut = (size - shift) % size
    x = tf.concat([x[:, cut:], x[:, :cut]], axis=1)
    size = tf.shape(x)[2]
    cut = (size - shift) % size
    x = tf.concat([x[:, :, cut:], x[:, :, :cut]], axis=2)
    return x


def window_partition(x, window_size: int):
    """``(N, Hp, Wp, C)`` → ``(N * Hp/ws * Wp/ws, ws*ws, C)``, windows in row-major order."""
    shape = tf.shape(x)
    x = tf.reshape(x, [shape[0], shape[1] // window_size, window_size, shape[2] // window_size, window_size, shape[3]])
    x = tf.transpose(x, [0, 1, 3, 2, 4, 5])
    return tf.reshape(x, [-1, window_size * window_size, shape[3]])


def window_reverse(windows, window_size: int, batch, height, width):
    """The inverse of :func:`window_partition` for a ``(batch, height, width, C)`` map."""
    channels = tf.shape(windows)[-1]
    x = tf.reshape(windows, [batch, height // window_size, width // window_size, window_size, window_size, channels])
    x = tf.transpose(x, [0, 1, 3, 2, 4, 5])
    return tf.reshape(x, [batch, height, width, channels])


def shifted_window_mask(height, width, window_size: int, shift_size: int, dtype):
    """``(num_windows, ws*ws, ws*ws)``: 0 between tokens of the same region of the cyclically
    shifted, padded ``height x width`` map, :data:`MASK_VALUE` between different regions.

    The regions are the official ones: along each axis ``[0, size - ws)``, ``[size - ws, size -
    shift)`` and ``[size - shift, size)``, numbered row-major (3 x 3).
    """

    def regions(size):
        index = tf.range(size)
        return tf.where(index < size - window_size, 0, tf.where(index < size - shift_size, 1, 2))

    ids = regions(height)[:, None] * 3 + regions(width)[None, :]
    windows = window_partition(ids[None, :, :, None], window_size)[..., 0]  # (nW, ws*ws)
    different = tf.not_equal(windows[:, None, :], windows[:, :, None])
    return tf.where(different, tf.constant(MASK_VALUE, dtype), tf.constant(0.0, dtype))


@keras.saving.register_keras_serializable(package="RMBG")
class WindowAttention(keras.layers.Layer):
    """(S)W-MSA of a Swin block on a ``(N, H, W, C)`` map, returning the same shape.

    The map is zero-padded at the bottom/right to a multiple of ``window_size``, cyclically shifted
    by ``-shift_size`` (shifted windows, with the attention mask between regions that are not
    adjacent in the image), split into windows, attended with a learned relative position bias,
    merged, shifted back and cropped: the official Swin computation, any H and W.

    Sub-layers (PyTorch names): ``qkv`` (Dense 3C), ``proj`` (Dense C); the weight
    ``relative_position_bias_table`` ``((2*ws-1)**2, num_heads)``.

    Args:
        dim: channels C (a multiple of ``num_heads``).
        num_heads: attention heads.
        window_size: window side ws.
        shift_size: cyclic shift in [0, ws) (0: regular windows, no mask).
        qkv_bias: learn a bias for query, key and value.
        qk_scale: the query scale (``None``: head_dim ** -0.5).
        attention_dropout: dropout on the attention weights (training only).
        projection_dropout: dropout after the output projection (training only).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int,
        shift_size: int = 0,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        attention_dropout: float = 0.0,
        projection_dropout: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if dim % num_heads:
            raise ValueError(f"dim: {dim} is not a multiple of num_heads {num_heads}")
        if not 0 <= shift_size < window_size:
            raise ValueError(f"shift_size: expected 0 <= shift_size < window_size ({window_size}), got {shift_size}")
        self.dim = int(dim)
        self.num_heads = int(num_heads)
        self.window_size = int(window_size)
        self.shift_size = int(shift_size)
        self.qkv_bias = bool(qkv_bias)
        self.qk_scale = qk_scale
        self.attention_dropout = float(attention_dropout)
        self.projection_dropout = float(projection_dropout)
        self.scale = float(qk_scale) if qk_scale is not None else (self.dim // self.num_heads) ** -0.5
        self.qkv = keras.layers.Dense(3 * self.dim, use_bias=self.qkv_bias, name="qkv")
        self.proj = keras.layers.Dense(self.dim, name="proj")
        self.attention_drop = keras.layers.Dropout(self.attention_dropout, name="attn_drop")
        self.projection_drop = keras.layers.Dropout(self.projection_dropout, name="proj_drop")
        self.index = relative_position_index(self.window_size)

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] != self.dim:
            raise ValueError(f"layer {self.name}: expected {self.dim} input channels, got {input_shape[-1]}")
        self.qkv.build((None, self.dim))
        self.proj.build((None, self.dim))
        self.relative_position_bias_table = self.add_weight(
            name="relative_position_bias_table",
            shape=((2 * self.window_size - 1) ** 2, self.num_heads),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        )
        self.built = True

    def relative_position_bias(self):
        """``(num_heads, ws*ws, ws*ws)``: the table gathered by the relative position index."""
        tokens = self.window_size * self.window_size
        bias = _gather_rows(tf.convert_to_tensor(self.relative_position_bias_table), tf.constant(self.index.reshape(-1)))
        return tf.transpose(tf.reshape(bias, [tokens, tokens, self.num_heads]), [2, 0, 1])

    def call(self, x, training=False):
        ws, heads = self.window_size, self.num_heads
        shape = tf.shape(x)
        batch, height, width = shape[0], shape[1], shape[2]
        x = tf.pad(x, [[0, 0], [0, (ws - height % ws) % ws], [0, (ws - width % ws) % ws], [0, 0]])
        padded_height, padded_width = tf.shape(x)[1], tf.shape(x)[2]
        if self.shift_size:
            x = _roll(x, -self.shift_size)
        windows = window_partition(x, ws)  # (B_, N, C)
        tokens = ws * ws
        # Dense on 2-D rows (a plain MatMul): tf2onnx mis-sizes the Tensordot of a 3-D input
        # after a window partition (ONNX Runtime then fails with a MatMul dimension mismatch).
        qkv = self.qkv(tf.reshape(windows, [-1, self.dim]))
        qkv = tf.reshape(qkv, [-1, tokens, 3, heads, self.dim // heads])
        qkv = tf.transpose(qkv, [2, 0, 3, 1, 4])  # (3, B_, heads, N, head_dim)
        query, key, value = qkv[0] * tf.cast(self.scale, x.dtype), qkv[1], qkv[2]
        attention = tf.matmul(query, key, transpose_b=True)
        attention = attention + tf.cast(self.relative_position_bias(), attention.dtype)[None]
        if self.shift_size:
            mask = shifted_window_mask(padded_height, padded_width, ws, self.shift_size, attention.dtype)
            count = tf.shape(mask)[0]
            attention = tf.reshape(attention, [-1, count, heads, tokens, tokens]) + mask[None, :, None]
            attention = tf.reshape(attention, [-1, heads, tokens, tokens])
        attention = self.attention_drop(tf.nn.softmax(attention, axis=-1), training=training)
        out = tf.reshape(tf.transpose(tf.matmul(attention, value), [0, 2, 1, 3]), [-1, self.dim])
        out = self.projection_drop(tf.reshape(self.proj(out), [-1, tokens, self.dim]), training=training)
        out = window_reverse(out, ws, batch, padded_height, padded_width)
        if self.shift_size:
            out = _roll(out, self.shift_size)
        return out[:, :height, :width, :]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "num_heads": self.num_heads,
            "window_size": self.window_size,
            "shift_size": self.shift_size,
            "qkv_bias": self.qkv_bias,
            "qk_scale": self.qk_scale,
            "attention_dropout": self.attention_dropout,
            "projection_dropout": self.projection_dropout,
        }

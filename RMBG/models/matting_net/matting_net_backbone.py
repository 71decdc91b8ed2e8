"""The matting network's backbone: normalised image + encoded trimap -> alpha logits."""

from __future__ import annotations

from typing import Sequence

import keras

from RMBG.models.matting_net.matting_net_layers import encoder_decoder


def check_filters(label: str, values: Sequence[int], length: int | None = None) -> tuple[int, ...]:
    """Filter counts as a tuple of positive ints; raises naming ``label`` otherwise."""
    try:
        values = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"{label}: expected a sequence of positive integers, got {values!r}") from None
    if not values or min(values) < 1 or (length is not None and len(values) != length):
        expected = f"{length} positive integers" if length is not None else "positive integers"
        raise ValueError(f"{label}: expected {expected}, got {list(values)}")
    return values


@keras.saving.register_keras_serializable(package="RMBG")
class MattingNetBackbone(keras.Model):
    """A small encoder-decoder for trimap-based matting (Deep Image Matting / FBA spirit).

    Input: ``(N, H, W, 3 + G)``: the normalised image and ``G`` trimap-encoding channels
    (:class:`~RMBG.models.matting_net.matting_net_layers.GuideEncoding`), any size.
    Output: alpha logits ``(N, H, W, 1)``.

    Args:
        guide_channels: channels of the trimap encoding (G).
        encoder_filters: filters of the stride-2 encoder stages.
        decoder_filters: filters of the decoder stages, coarse to fine; one per encoder stage (the
            last one works at full resolution with the inputs as its skip).
        context_rates: dilation rates of the context block after the encoder (empty: none).
        head_filters: filters of the full-resolution head.
    """

    def __init__(
        self,
        guide_channels: int = 6,
        encoder_filters: Sequence[int] = (16, 32, 48, 64),
        decoder_filters: Sequence[int] = (48, 32, 24, 16),
        context_rates: Sequence[int] = (2, 4),
        head_filters: int = 16,
        **kwargs,
    ):
        encoder_filters = check_filters("encoder_filters", encoder_filters)
        decoder_filters = check_filters("decoder_filters", decoder_filters, len(encoder_filters))
        context_rates = tuple(int(r) for r in context_rates)
        if any(r < 1 for r in context_rates):
            raise ValueError(f"context_rates: expected positive dilation rates, got {list(context_rates)}")
        if int(guide_channels) < 1:
            raise ValueError(f"guide_channels: expected a positive integer, got {guide_channels!r}")
        inputs = keras.Input(shape=(None, None, 3 + int(guide_channels)), name="image_and_trimap")
        features = encoder_decoder(inputs, encoder_filters, decoder_filters, context_rates, int(head_filters), "mat")
        outputs = keras.layers.Conv2D(1, 3, padding="same", name="alpha_logits", dtype="float32")(features)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.guide_channels = int(guide_channels)
        self.encoder_filters = encoder_filters
        self.decoder_filters = decoder_filters
        self.context_rates = context_rates
        self.head_filters = int(head_filters)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "guide_channels": self.guide_channels,
            "encoder_filters": self.encoder_filters,
            "decoder_filters": self.decoder_filters,
            "context_rates": self.context_rates,
            "head_filters": self.head_filters,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

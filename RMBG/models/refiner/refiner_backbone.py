"""The refiner's backbone: a CascadePSP-style cascade of one shared refinement network."""

from __future__ import annotations

from typing import Sequence

import keras

from RMBG.models.layers import ResizeLike
from RMBG.models.matting_net.matting_net_backbone import check_filters
from RMBG.models.matting_net.matting_net_layers import ProbabilityLogit, encoder_decoder


def refinement_stage(
    input_channels: int,
    encoder_filters: Sequence[int],
    decoder_filters: Sequence[int],
    context_rates: Sequence[int],
    head_filters: int,
    name: str,
) -> keras.Model:
    """One refinement step: ``(image 3 + coarse-mask encoding G + previous estimate 1)`` -> a logit
    correction ``(N, H, W, 1)`` (added to the previous estimate's logit by the caller)."""
    inputs = keras.Input(shape=(None, None, input_channels), name=f"{name}_inputs")
    features = encoder_decoder(inputs, encoder_filters, decoder_filters, context_rates, head_filters, name)
    correction = keras.layers.Conv2D(1, 3, padding="same", name=f"{name}_correction", dtype="float32")(features)
    return keras.Model(inputs, correction, name=name)


@keras.saving.register_keras_serializable(package="RMBG")
class ChannelSlice(keras.layers.Layer):
    """Channel ``index`` of the input, kept as ``(N, H, W, 1)``."""

    def __init__(self, index: int, **kwargs):
        super().__init__(**kwargs)
        self.index = int(index)

    def call(self, inputs):
        return inputs[..., self.index:self.index + 1]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 1)

    def get_config(self):
        return {**super().get_config(), "index": self.index}


@keras.saving.register_keras_serializable(package="RMBG")
class RefinerBackbone(keras.Model):
    """Coarse-to-fine mask refinement (Cheng et al., CascadePSP, CVPR 2020, in spirit).

    One refinement network (weights shared by every step) is applied at the scales ``scales``
    (divisors of the input size, coarse first, ending with 1). Step ``s`` sees the image and the
    coarse-mask encoding average-pooled by ``s`` and the previous step's estimate resized to that
    scale (the first step: the coarse mask itself), and predicts a logit correction of that
    estimate. Residual refinement keeps a good mask as it is, and the cascade lets the coarse step
    fix large errors (holes, wrong blobs) while the fine one sharpens the edges.

    Input: ``(N, H, W, 3 + G)``: the normalised image and the mask encoding whose channel 0 is the
    coarse probability; any size.
    Output: logits ``(N, H, W, len(scales))``: channel 0 the final (finest) step, then the earlier
    steps, coarse to fine, resized to the input size (for deep supervision).

    Args:
        guide_channels: channels of the mask encoding (G).
        scales: the cascade's downscaling factors, strictly decreasing, ending with 1.
        encoder_filters, decoder_filters, context_rates, head_filters: the shared network
            (see :func:`~RMBG.models.matting_net.matting_net_layers.encoder_decoder`).
    """

    def __init__(
        self,
        guide_channels: int = 2,
        scales: Sequence[int] = (4, 1),
        encoder_filters: Sequence[int] = (16, 32, 64),
        decoder_filters: Sequence[int] = (32, 24, 16),
        context_rates: Sequence[int] = (2, 4),
        head_filters: int = 16,
        **kwargs,
    ):
        scales = tuple(int(s) for s in scales)
        if not scales or scales[-1] != 1 or any(a <= b for a, b in zip(scales, scales[1:])) or min(scales) < 1:
            raise ValueError(f"scales: expected strictly decreasing positive factors ending with 1, e.g. (4, 1), got {list(scales)}")
        encoder_filters = check_filters("encoder_filters", encoder_filters)
        decoder_filters = check_filters("decoder_filters", decoder_filters, len(encoder_filters))
        context_rates = tuple(int(r) for r in context_rates)
        guide_channels = int(guide_channels)
        if guide_channels < 1:
            raise ValueError(f"guide_channels: expected a positive integer, got {guide_channels!r}")

        inputs = keras.Input(shape=(None, None, 3 + guide_channels), name="image_and_mask")
        stage = refinement_stage(3 + guide_channels + 1, encoder_filters, decoder_filters, context_rates, int(head_filters), "refine")
        to_logit = ProbabilityLogit(name="to_logit")
        logits_per_step = []
        previous = None
        for scale in scales:
            scaled = inputs if scale == 1 else keras.layers.AveragePooling2D(scale, padding="same", name=f"pool{scale}")(inputs)
            if previous is None:
                estimate = ChannelSlice(3, name=f"coarse_prob{scale}")(scaled)
            else:
                estimate = keras.layers.Activation("sigmoid", name=f"prob_to{scale}", dtype="float32")(previous)
                estimate = ResizeLike(name=f"up_to{scale}")([estimate, scaled])
            step_in = keras.layers.Concatenate(name=f"step{scale}_inputs")([scaled, estimate])
            correction = stage(step_in)
            previous = keras.layers.Add(name=f"step{scale}_logits", dtype="float32")([to_logit(estimate), correction])
            logits_per_step.append(previous)
        maps = [logits_per_step[-1]] + [ResizeLike(name=f"side{i}_up")([m, inputs]) for i, m in enumerate(logits_per_step[:-1], start=1)]
        outputs = maps[0] if len(maps) == 1 else keras.layers.Concatenate(name="maps", dtype="float32")(maps)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.guide_channels = guide_channels
        self.scales = scales
        self.encoder_filters = encoder_filters
        self.decoder_filters = decoder_filters
        self.context_rates = context_rates
        self.head_filters = int(head_filters)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "guide_channels": self.guide_channels,
            "scales": self.scales,
            "encoder_filters": self.encoder_filters,
            "decoder_filters": self.decoder_filters,
            "context_rates": self.context_rates,
            "head_filters": self.head_filters,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

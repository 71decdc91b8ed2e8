"""The TRACER-B7 backbone: CarveKit's EfficientNet-B7 encoder, RFBs, aggregation, object attention."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from RMBG.models.tracer_b7.tracer_b7_encoder import efficientnet_b7_features
from RMBG.models.tracer_b7.tracer_b7_layers import (
    aggregation,
    object_attention,
    rfb_block,
)

#: Output channels, in order: the fused map (what CarveKit returns after sigmoid), then the three
#: deep-supervision maps it averages.
MAP_NAMES = ("final", "ds_map0", "ds_map1", "ds_map2")

#: Input sides must be multiples of this (the aggregation multiplies upsampled stride-32 maps
#: with stride-16 ones; the reference fails the same way otherwise).
SIZE_MULTIPLE = 32


@keras.saving.register_keras_serializable(package="RMBG")
class TracerB7Backbone(keras.Model):
    """TRACER (Lee et al., AAAI 2022) with an EfficientNet-B7 encoder, as CarveKit 4.1.2 builds it.

    Input: normalised images ``(N, H, W, 3)``, H and W multiples of 32 (any, not only 640).
    Output: logits ``(N, H, W, 4)``: channel 0 the final map ``(ds_map0 + ds_map1 + ds_map2) / 3``
    (CarveKit applies sigmoid to it), channels 1..3 the three maps it averages (aggregation,
    object attention at stride 8, object attention at stride 4), all upsampled bilinearly
    (half-pixel) to the input size. Sigmoid is applied by the task model in float32.

    Args:
        rfb_channels: RFB widths of the stride-8, -16 and -32 features (CarveKit: 32, 64, 128).
        padding_reference_size: input size the encoder's static paddings are computed for (600).
        drop_connect_rate: the encoder's stochastic-depth rate (training only).
        denoise: object attention's background threshold (0.93).
        confidence_ratio: union attention's quantile and dropout rate (0.1).
        image_channels: channels of the input.
    """

    def __init__(
        self,
        rfb_channels: Sequence[int] = (32, 64, 128),
        padding_reference_size: int = 600,
        drop_connect_rate: float = 0.2,
        denoise: float = 0.93,
        confidence_ratio: float = 0.1,
        image_channels: int = 3,
        **kwargs,
    ):
        if len(rfb_channels) != 3:
            raise ValueError(f"rfb_channels: expected 3 widths (strides 8, 16, 32), got {list(rfb_channels)}")

        # === Functional model ===
        inputs = keras.Input(shape=(None, None, image_channels), name="images")
        features = efficientnet_b7_features(inputs, padding_reference_size, drop_connect_rate)
        x3 = rfb_block(features[1], rfb_channels[0], "rfb2")
        x4 = rfb_block(features[2], rfb_channels[1], "rfb3")
        x5 = rfb_block(features[3], rfb_channels[2], "rfb4")
        d0 = aggregation(x5, x4, x3, rfb_channels, "agg", confidence_ratio)
        d1 = object_attention(d0, features[1], "ObjectAttention2", denoise)
        d1_up = keras.layers.UpSampling2D(2, interpolation="bilinear", name="ds_map_up2")(d1)
        d2 = object_attention(d1_up, features[0], "ObjectAttention1", denoise)
        maps = [
            keras.layers.UpSampling2D(8, interpolation="bilinear", name="ds_map0_up")(d0),
            keras.layers.UpSampling2D(8, interpolation="bilinear", name="ds_map1_up")(d1),
            keras.layers.UpSampling2D(4, interpolation="bilinear", name="ds_map2_up")(d2),
        ]
        final = keras.layers.Average(name="final_map")([maps[2], maps[1], maps[0]])
        outputs = keras.layers.Concatenate(name="maps", dtype="float32")([final, *maps])
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.rfb_channels = tuple(int(v) for v in rfb_channels)
        self.padding_reference_size = int(padding_reference_size)
        self.drop_connect_rate = float(drop_connect_rate)
        self.denoise = float(denoise)
        self.confidence_ratio = float(confidence_ratio)
        self.image_channels = int(image_channels)

    map_names = MAP_NAMES

    def encoder_layers(self) -> list[keras.layers.Layer]:
        """The EfficientNet-B7 encoder's layers (stem and the 55 blocks), for ``freeze_encoder``."""
        return [layer for layer in self.layers if layer.name.startswith("encoder.")]

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "rfb_channels": self.rfb_channels,
            "padding_reference_size": self.padding_reference_size,
            "drop_connect_rate": self.drop_connect_rate,
            "denoise": self.denoise,
            "confidence_ratio": self.confidence_ratio,
            "image_channels": self.image_channels,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

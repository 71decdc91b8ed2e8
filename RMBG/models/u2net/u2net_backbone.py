"""The U^2-Net backbone: six encoder RSU stages, five decoder stages, six side maps and a fused map."""

from __future__ import annotations

from typing import Sequence

import keras

from RMBG.models.layers import ResizeLike
from RMBG.models.u2net.u2net_layers import max_pool, rsu_block

#: RSU heights of stages 1..6 (stages 5 and 6 are RSU-4F); decoder stage k uses stage k's height.
STAGE_HEIGHTS = (7, 6, 5, 4, 4, 4)
NUM_STAGES = 6


@keras.saving.register_keras_serializable(package="RMBG")
class U2NetBackbone(keras.Model):
    """U^2-Net (Qin et al., 2020) as a functional Keras model.

    Input: normalised images ``(N, H, W, 3)``, any H and W (odd sizes included).
    Output: the logits of every map stacked on the last axis, ``(N, H, W, 7)``: channel 0 is the
    fused map d0, channels 1..6 the side maps d1..d6, all at the input size. Sigmoid is applied
    by the task model in float32.

    Args:
        encoder_mid_channels: mid channels of stages 1..6.
        encoder_out_channels: output channels of stages 1..6.
        decoder_mid_channels: mid channels of decoder stages 1d..5d.
        decoder_out_channels: output channels of decoder stages 1d..5d.
        image_channels: channels of the input.
    """

    def __init__(
        self,
        encoder_mid_channels: Sequence[int],
        encoder_out_channels: Sequence[int],
        decoder_mid_channels: Sequence[int],
        decoder_out_channels: Sequence[int],
        image_channels: int = 3,
        **kwargs,
    ):
        for label, value, count in (
            ("encoder_mid_channels", encoder_mid_channels, NUM_STAGES),
            ("encoder_out_channels", encoder_out_channels, NUM_STAGES),
            ("decoder_mid_channels", decoder_mid_channels, NUM_STAGES - 1),
            ("decoder_out_channels", decoder_out_channels, NUM_STAGES - 1),
        ):
            if len(value) != count:
                raise ValueError(f"{label}: expected {count} values (one per stage), got {list(value)}")

        # === Functional model ===
        inputs = keras.Input(shape=(None, None, image_channels), name="images")
        encoder = []
        h = inputs
        for stage in range(1, NUM_STAGES + 1):
            if stage > 1:
                h = max_pool(h, f"pool{stage - 1}{stage}")
            h = rsu_block(
                h, STAGE_HEIGHTS[stage - 1], encoder_mid_channels[stage - 1],
                encoder_out_channels[stage - 1], dilated=stage >= 5, name=f"stage{stage}",
            )
            encoder.append(h)

        decoder = {NUM_STAGES: encoder[-1]}
        d = encoder[-1]
        for stage in range(NUM_STAGES - 1, 0, -1):
            skip = encoder[stage - 1]
            d = ResizeLike(name=f"stage{stage + 1}_up")([d, skip])
            merged = keras.layers.Concatenate(name=f"stage{stage}d_cat")([d, skip])
            d = rsu_block(
                merged, STAGE_HEIGHTS[stage - 1], decoder_mid_channels[stage - 1],
                decoder_out_channels[stage - 1], dilated=stage >= 5, name=f"stage{stage}d",
            )
            decoder[stage] = d

        sides = []
        for stage in range(1, NUM_STAGES + 1):
            side = keras.layers.Conv2D(1, 3, padding="same", name=f"side{stage}")(decoder[stage])
            if stage > 1:
                side = ResizeLike(name=f"side{stage}_up")([side, sides[0]])
            sides.append(side)
        fused = keras.layers.Conv2D(1, 1, name="outconv")(keras.layers.Concatenate(name="sides")(sides))
        outputs = keras.layers.Concatenate(name="maps", dtype="float32")([fused, *sides])
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.encoder_mid_channels = tuple(int(v) for v in encoder_mid_channels)
        self.encoder_out_channels = tuple(int(v) for v in encoder_out_channels)
        self.decoder_mid_channels = tuple(int(v) for v in decoder_mid_channels)
        self.decoder_out_channels = tuple(int(v) for v in decoder_out_channels)
        self.image_channels = int(image_channels)

    #: Names of the output channels, in order.
    map_names = ("d0", "d1", "d2", "d3", "d4", "d5", "d6")

    def encoder_layers(self) -> list[keras.layers.Layer]:
        """The layers of encoder stages 1..6 (``stage1.*`` .. ``stage6.*``; the decoder's are
        ``stage5d.*`` ..): what ``freeze_encoder`` freezes."""
        stages = {f"stage{i}" for i in range(1, NUM_STAGES + 1)}
        return [layer for layer in self.layers if layer.name.split(".")[0] in stages]

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "encoder_mid_channels": self.encoder_mid_channels,
            "encoder_out_channels": self.encoder_out_channels,
            "decoder_mid_channels": self.decoder_mid_channels,
            "decoder_out_channels": self.decoder_out_channels,
            "image_channels": self.image_channels,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

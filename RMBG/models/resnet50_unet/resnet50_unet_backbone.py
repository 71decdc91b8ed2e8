"""The ResNet50-U-Net backbone."""

from __future__ import annotations

from typing import Sequence

import keras

from RMBG.models.layers import ResizeLike
from RMBG.models.resnet50_unet.resnet50_unet_layers import dilated_bridge, residual_block

#: ResNet50 layers tapped as skips, coarse to fine (1/8, 1/4, 1/2), then the input itself.
SKIP_LAYERS = ("conv3_block4_out", "conv2_block3_out", "conv1_relu")
BRIDGE_LAYER = "conv4_block6_out"


def _resnet50(encoder_weights: str | None, inputs):
    try:
        return keras.applications.ResNet50(include_top=False, weights=encoder_weights, input_tensor=inputs)
    except Exception as error:  # keras.utils.get_file raises a bare Exception when offline
        if encoder_weights is None:
            raise
        raise RuntimeError(
            f"encoder_weights={encoder_weights!r}: Keras could not load the ResNet50 ImageNet weights "
            f"({type(error).__name__}: {error}). They are downloaded once to ~/.keras/models/ "
            "(resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5); go online once, place that file "
            "there by hand, or pass encoder_weights=None to train from scratch."
        ) from error


@keras.saving.register_keras_serializable(package="RMBG")
class ResNet50UNetBackbone(keras.Model):
    """ResNet50 encoder tapped at the input, ``conv1_relu``, ``conv2_block3_out``,
    ``conv3_block4_out`` and ``conv4_block6_out``; a dilated bridge; four decoder blocks (bilinear
    x2 to the skip's size, concatenate the skip, residual block); four side maps at full resolution.

    Input: images normalised as the encoder expects (``"caffe"`` for ImageNet weights), any size.
    Output: logits ``(N, H, W, 4)``; channel 0 is the finest decoder's map (the primary).

    Args:
        encoder_weights: ``"imagenet"`` (Keras' weights, downloaded once) or ``None`` (scratch).
        bridge_filters: filters of each dilated branch and of the fused bridge.
        bridge_rates: dilation rates of the bridge branches.
        decoder_filters: filters of the four decoder blocks, coarse to fine.
    """

    def __init__(
        self,
        encoder_weights: str | None = None,
        bridge_filters: int = 1024,
        bridge_rates: Sequence[int] = (3, 6, 9),
        decoder_filters: Sequence[int] = (512, 256, 128, 64),
        **kwargs,
    ):
        if encoder_weights not in (None, "imagenet"):
            raise ValueError(f"encoder_weights: expected 'imagenet' or None, got {encoder_weights!r}")
        if len(decoder_filters) != 4:
            raise ValueError(f"decoder_filters: expected 4 values (one per decoder block), got {list(decoder_filters)}")

        # === Functional model ===
        inputs = keras.Input(shape=(None, None, 3), name="images")
        encoder = _resnet50(encoder_weights, inputs)
        skips = [encoder.get_layer(name).output for name in SKIP_LAYERS] + [inputs]
        x = dilated_bridge(encoder.get_layer(BRIDGE_LAYER).output, bridge_filters, bridge_rates, "bridge")
        decoded = []
        for index, (skip, filters) in enumerate(zip(skips, decoder_filters), start=1):
            x = ResizeLike(name=f"decoder{index}_up")([x, skip])
            x = keras.layers.Concatenate(name=f"decoder{index}_concat")([x, skip])
            x = residual_block(x, filters, f"decoder{index}")
            decoded.append(x)
        sides = []
        for index, feature in enumerate(reversed(decoded), start=1):
            side = keras.layers.Conv2D(1, 1, name=f"side{index}")(feature)
            if index > 1:
                side = ResizeLike(name=f"side{index}_up")([side, inputs])
            sides.append(side)
        outputs = keras.layers.Concatenate(name="maps", dtype="float32")(sides)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.encoder_weights = encoder_weights
        self.bridge_filters = int(bridge_filters)
        self.bridge_rates = tuple(int(r) for r in bridge_rates)
        self.decoder_filters = tuple(int(f) for f in decoder_filters)

    #: Names of the output channels, in order.
    map_names = ("side1", "side2", "side3", "side4")

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            # Weights are saved with the model; rebuilding must never download them again.
            "encoder_weights": None,
            "bridge_filters": self.bridge_filters,
            "bridge_rates": self.bridge_rates,
            "decoder_filters": self.decoder_filters,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

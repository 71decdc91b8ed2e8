"""InSPyReNet: a Swin encoder, context modules, a pyramid decoder and Laplacian reconstruction."""

from __future__ import annotations

from typing import Sequence

import keras

from RMBG.models.inspyrenet.inspyrenet_blocks import paa_d, paa_e, sica
from RMBG.models.inspyrenet.layers.pyramid_reconstruct import PyramidReconstruct
from RMBG.models.inspyrenet.layers.resize_to_fraction import ResizeToFraction
from RMBG.models.inspyrenet.layers.stop_gradient import StopGradient
from RMBG.models.layers import ResizeLike
from RMBG.models.swin.swin_transformer import SwinTransformer


@keras.saving.register_keras_serializable(package="RMBG")
class InSPyReNet(keras.Model):
    """InSPyReNet (Kim et al., ACCV 2022) as a functional Keras model, the single-pass inference
    of the reference (``forward_inspyre``, what ``transparent-background`` runs: ``threshold=None``).

    Input: normalised images ``(N, H, W, 3)`` (H and W multiples of 32 give the reference's sizes;
    other sizes run, with the output resized to the input). Output: logits ``(N, H, W, 4)``:
    channel 0 the final saliency map d0, channels 1..3 the coarser reconstructions d1 (H/2), d2
    (H/4), d3 (H/8) resized to the input size (bilinear) for deep supervision.

    The Swin encoder gives five maps; a ``PAA_e`` context module maps each to ``depth`` channels;
    ``PAA_d`` decodes the three deepest into d3 (H/8); then three ``SICA`` stages each predict a
    Laplacian at twice the resolution, and d2, d1, d0 are reconstructed from them (Laplacian
    pyramid). Coarser maps enter the next stage detached, as in the reference. The encoder is
    the nested :class:`~RMBG.models.swin.SwinTransformer` named ``backbone``.

    Args:
        swin: :class:`SwinTransformer` arguments (Swin-B for the official checkpoints).
        depth: channels of the decoder.
        base_size: the ``(height, width)`` the model was trained at; it fixes the size each SICA
            stage sums its class contexts at (``base_size // 2**stage``), as the reference does.
        pyramid_kernel_size: the Gaussian kernel of the image pyramid.
        pyramid_sigma: its standard deviation.
    """

    def __init__(
        self,
        swin: dict,
        depth: int = 64,
        base_size: Sequence[int] = (384, 384),
        pyramid_kernel_size: int = 7,
        pyramid_sigma: float = 1.0,
        **kwargs,
    ):
        if depth % 8:
            raise ValueError(f"depth: expected a multiple of 8 (the axial attention projects to depth // 8), got {depth}")
        base_size = tuple(int(v) for v in base_size)
        if len(base_size) != 2 or min(base_size) < 8:
            raise ValueError(f"base_size: expected (height, width) of at least 8 px, got {base_size!r}")
        swin = dict(swin)
        encoder = SwinTransformer(**swin, name="backbone")
        if len(encoder.depths) != 4:
            raise ValueError(f"swin: InSPyReNet needs a 4-stage Swin, got depths {list(encoder.depths)}")

        # === Functional model ===
        image = keras.Input(shape=(None, None, encoder.image_channels), name="images")
        features = encoder(image)
        x1, x2, x3, x4, x5 = (paa_e(f, depth, f"context{i}") for i, f in enumerate(features, start=1))

        def stage_size(stage: int) -> tuple[int, int]:
            return (base_size[0] // 2 ** stage, base_size[1] // 2 ** stage)

        f3, d3 = paa_d([x3, x4, x5], depth, "decoder")  # H/8
        reconstruct = [PyramidReconstruct(pyramid_kernel_size, pyramid_sigma, name=f"reconstruct{i}") for i in range(3)]
        f3 = ResizeToFraction(4, name="res_f3")([f3, image])
        x = keras.layers.Concatenate(name="cat_x2_f3")([x2, f3])
        d3_detached = StopGradient(name="detach_d3")(d3)
        f2, p2 = sica(x, d3_detached, None, depth, stage_size(2), "attention2")
        d2 = reconstruct[2]([d3_detached, p2])  # H/4

        x1 = ResizeToFraction(2, name="res_x1")([x1, image])
        f2 = ResizeToFraction(2, name="res_f2")([f2, image])
        x = keras.layers.Concatenate(name="cat_x1_f2")([x1, f2])
        d2_detached = StopGradient(name="detach_d2")(d2)
        f1, p1 = sica(x, d2_detached, StopGradient(name="detach_p2")(p2), depth, stage_size(1), "attention1")
        d1 = reconstruct[1]([d2_detached, p1])  # H/2

        f1 = ResizeToFraction(1, name="res_f1")([f1, image])
        d1_detached = StopGradient(name="detach_d1")(d1)
        _, p0 = sica(f1, d1_detached, StopGradient(name="detach_p1")(p1), depth, stage_size(0), "attention0")
        d0 = reconstruct[0]([d1_detached, p0])  # H

        maps = [ResizeLike(name=f"{label}_to_input")([d, image]) for label, d in (("d0", d0), ("d1", d1), ("d2", d2), ("d3", d3))]
        outputs = keras.layers.Concatenate(name="maps", dtype="float32")(maps)
        super().__init__(inputs=image, outputs=outputs, **kwargs)

        # === Config ===
        self.swin = swin
        self.depth = int(depth)
        self.base_size = base_size
        self.pyramid_kernel_size = int(pyramid_kernel_size)
        self.pyramid_sigma = float(pyramid_sigma)

    #: Names of the output channels, in order.
    map_names = ("d0", "d1", "d2", "d3")

    @property
    def encoder(self) -> SwinTransformer:
        """The Swin Transformer encoder (the nested model ``backbone``)."""
        return self.get_layer("backbone")

    def encoder_layers(self) -> list[keras.layers.Layer]:
        """The layers ``freeze_encoder`` fixes for fine-tuning: the Swin encoder."""
        return [self.encoder]

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "swin": self.swin,
            "depth": self.depth,
            "base_size": self.base_size,
            "pyramid_kernel_size": self.pyramid_kernel_size,
            "pyramid_sigma": self.pyramid_sigma,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

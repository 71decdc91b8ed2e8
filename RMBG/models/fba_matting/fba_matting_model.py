"""The FBA matting network: image + trimap (+ its distance encoding) -> alpha, foreground, background.

Inputs (a dict, NHWC float32; ``H`` and ``W`` multiples of 8, as the reference requires):

* ``"image"``: ``(N, H, W, 3)`` colours in [0, 1] (RGB for the official weights' training; the
  channel order of F and B follows it);
* ``"trimap"``: ``(N, H, W, 2)`` the two-channel trimap: channel 0 = known background, channel
  1 = known foreground (both 0 in the unknown region);
* ``"trimap_transform"``: ``(N, H, W, 6)`` the Gaussians of the distance to each known region
  (:func:`RMBG.matting.fba.trimap_transform`; a distance transform, hence computed outside the graph).

Output ``"fba"``: ``(N, H, W, 7)``: alpha (channel 0), F (1-3), B (4-6), all in [0, 1]
(:func:`split_outputs`). The image is normalised inside (:class:`ImageStandardize`), so the
exported network takes exactly these three inputs. :mod:`RMBG.matting.fba` prepares them from a
photo and a ``0/128/255`` trimap and brings the outputs back to the photo's size.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from RMBG.registry.preset import IMAGENET_MEAN as FBA_MEAN, IMAGENET_STD as FBA_STD  # the reference normalises with ImageNet statistics
from RMBG.models.fba_matting.fba_matting_backbone import FBAMattingBackbone
from RMBG.models.fba_matting.fba_matting_decoder import fba_decoder
from RMBG.models.fba_matting.fba_matting_layers import FBAFusion, ImageStandardize

INPUT_NAMES = ("image", "trimap", "trimap_transform")


@keras.saving.register_keras_serializable(package="RMBG")
class FBAMatting(keras.Model):
    """FBA matting (Forte & Pitié 2020) as CarveKit's ``FBA(encoder="resnet50_GN_WS")``.

    34,693,031 parameters with the default backbone. See the module docstring for the inputs
    and the output.

    Args:
        backbone: the encoder (default: a new :class:`FBAMattingBackbone`); it must take 11 channels.
        mean, std: the image normalisation (the reference's ``groupnorm_normalise_image``).
    """

    def __init__(
        self,
        backbone: FBAMattingBackbone | None = None,
        mean: Sequence[float] = FBA_MEAN,
        std: Sequence[float] = FBA_STD,
        **kwargs,
    ):
        backbone = backbone if backbone is not None else FBAMattingBackbone(name="encoder")
        if getattr(backbone, "input_channels", None) != 11:
            raise ValueError(
                f"backbone: FBA's encoder takes 11 channels (image 3 + trimap transform 6 + trimap 2), "
                f"got one with input_channels={getattr(backbone, 'input_channels', None)!r}"
            )
        image = keras.Input(shape=(None, None, 3), name="image")
        trimap = keras.Input(shape=(None, None, 2), name="trimap")
        transform = keras.Input(shape=(None, None, 6), name="trimap_transform")
        image_n = ImageStandardize(mean, std, name="normalise")(image)
        encoder_input = keras.layers.Concatenate(name="encoder_concat")([image_n, transform, trimap])
        stem, layer1, layer4 = backbone(encoder_input)
        raw = fba_decoder(stem, layer1, layer4, image_n, image, trimap)
        output = FBAFusion(name="fba")([raw, image])
        super().__init__(inputs={"image": image, "trimap": trimap, "trimap_transform": transform},
                         outputs=output, **kwargs)
        self.backbone = backbone
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)

    def get_config(self):
        return {
            "name": self.name, "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "mean": self.mean, "std": self.std,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


def split_outputs(output):
    """``(alpha (..., 1), foreground (..., 3), background (..., 3))`` of FBA's 7-channel output."""
    return output[..., 0:1], output[..., 1:4], output[..., 4:7]


def build_fba_matting(
    name: str = "fba_matting",
    block_counts: Sequence[int] = (3, 4, 6, 3),
    mean: Sequence[float] = FBA_MEAN,
    std: Sequence[float] = FBA_STD,
) -> FBAMatting:
    """The registry builder: :class:`FBAMatting` with a ResNet-50 GN+WS encoder (``resnet50_GN_WS``).

    Args:
        name: the model's name.
        block_counts: the encoder's bottleneck blocks per stage.
        mean, std: the image normalisation.
    """
    backbone = FBAMattingBackbone(block_counts=block_counts, name="encoder")
    return FBAMatting(backbone=backbone, mean=mean, std=std, name=name)

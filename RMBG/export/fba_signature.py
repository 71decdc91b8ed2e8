"""The FBA matting network's exported signature, shared by its ONNX and TFLite exporters.

Inputs (NHWC float32, dynamic batch, height and width; sides multiples of 8): ``image``
``(batch, H, W, 3)`` in [0, 1], ``trimap`` ``(batch, H, W, 2)`` and ``trimap_transform``
``(batch, H, W, 6)`` exactly as :func:`RMBG.matting.fba.prepare_fba` makes them. One output,
``(batch, H, W, 7)``: alpha, F, B. Importing this module does not import TensorFlow.
"""

from __future__ import annotations

from typing import Any

INPUT_NAMES = ("image", "trimap", "trimap_transform")
INPUT_CHANNELS = {"image": 3, "trimap": 2, "trimap_transform": 6}
OUTPUT_NAME = "fba"
#: What an FBA export records under its metadata key (with the model's name).
LAYOUT = "fba"


def fba_serving_function(model: Any):
    """A ``tf.function`` of the three inputs (dynamic batch and size) running ``model`` for inference."""
    import tensorflow as tf  # deferred: TensorFlow only when exporting; the runners import this module

    signature = [tf.TensorSpec((None, None, None, INPUT_CHANNELS[name]), tf.float32, name=name) for name in INPUT_NAMES]

    @tf.function(input_signature=signature)
    def serve(image, trimap, trimap_transform):
        return model({"image": image, "trimap": trimap, "trimap_transform": trimap_transform}, training=False)

    return serve


def fba_metadata(model: Any) -> dict:
    """The metadata an FBA export carries."""
    return {"model": model.name, "layout": LAYOUT, "inputs": list(INPUT_NAMES)}

"""Learned trimap-based matting (image + trimap -> alpha): a small encoder-decoder, registered as ``matting_net``."""

from functools import partial

from RMBG.models.matting_net.matting_net_backbone import MattingNetBackbone
from RMBG.models.matting_net.matting_net_layers import GuideEncoding, ProbabilityLogit
from RMBG.models.matting_net.matting_net_presets import MATTING_NET_PRESETS, WEIGHTS_DIR
from RMBG.models.matting_net.matting_net_segmenter import (
    GuidedSegmenter,
    build_matting_net,
    load_packaged_weights,
    predict_full,
)
from RMBG.registry import ModelSpec, register_model

_load = partial(load_packaged_weights, folder=WEIGHTS_DIR)

for _name, _preset in MATTING_NET_PRESETS.items():
    register_model(
        ModelSpec(
            name=_name,
            family="matting_net",
            description=_preset["description"],
            builder=build_matting_net,
            config=dict(_preset["config"]),
            weights=_preset["weights"],
            load_pretrained=_load if _preset["weights"] is not None else None,
            params=_preset.get("params"),
            input_size=None,
            task="matting",
            license=_preset["weights"].license if _preset["weights"] is not None else "",
        )
    )

__all__ = [
    "GuideEncoding", "GuidedSegmenter", "MATTING_NET_PRESETS", "MattingNetBackbone", "ProbabilityLogit",
    "build_matting_net", "load_packaged_weights", "predict_full",
]

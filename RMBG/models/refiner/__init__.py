"""Learned mask refinement (image + coarse mask -> refined mask), CascadePSP-style, registered as ``refiner``."""

from functools import partial

from RMBG.models.matting_net.matting_net_segmenter import load_packaged_weights
from RMBG.models.refiner.refiner_backbone import ChannelSlice, RefinerBackbone
from RMBG.models.refiner.refiner_presets import REFINER_PRESETS, WEIGHTS_DIR
from RMBG.models.refiner.refiner_segmenter import build_refiner
from RMBG.registry import ModelSpec, register_model

_load = partial(load_packaged_weights, folder=WEIGHTS_DIR)

for _name, _preset in REFINER_PRESETS.items():
    register_model(
        ModelSpec(
            name=_name,
            family="refiner",
            description=_preset["description"],
            builder=build_refiner,
            config=dict(_preset["config"]),
            weights=_preset["weights"],
            load_pretrained=_load if _preset["weights"] is not None else None,
            params=_preset.get("params"),
            input_size=None,
            task="refinement",
            license=_preset["weights"].license if _preset["weights"] is not None else "",
        )
    )

__all__ = ["ChannelSlice", "REFINER_PRESETS", "RefinerBackbone", "build_refiner"]

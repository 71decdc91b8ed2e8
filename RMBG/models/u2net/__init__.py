"""U^2-Net (Qin et al., Pattern Recognition 2020): nested U-structure for salient-object detection."""

from RMBG.models.u2net.u2net_backbone import U2NetBackbone
from RMBG.models.u2net.u2net_presets import U2NET_PRESETS
from RMBG.models.u2net.u2net_segmenter import build_u2net, load_u2net_weights
from RMBG.registry import ModelSpec, register_model
from RMBG.weights.catalog import WEIGHT_FILES

for _name, _preset in U2NET_PRESETS.items():
    register_model(
        ModelSpec(
            name=_name,
            family="u2net",
            description=_preset["description"],
            builder=build_u2net,
            config={**_preset["backbone"], **_preset["converter"], "output_normalization": _preset["output_normalization"]},
            weights=WEIGHT_FILES[_preset["weights"]],
            load_pretrained=load_u2net_weights,
            params=_preset["params"],
            input_size=_preset["converter"]["image_size"],
            license=WEIGHT_FILES[_preset["weights"]].license,
        )
    )

__all__ = ["U2NetBackbone", "U2NET_PRESETS", "build_u2net", "load_u2net_weights"]

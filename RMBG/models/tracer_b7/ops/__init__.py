"""Parameter-free custom layers of TRACER (each registered serializable, one per file)."""

from RMBG.models.tracer_b7.ops.align_corners_upsampling import AlignCornersUpsampling
from RMBG.models.tracer_b7.ops.channel_tracing import ChannelTracing
from RMBG.models.tracer_b7.ops.object_mask import ObjectMask
from RMBG.models.tracer_b7.ops.quantile_mask import QuantileMask
from RMBG.models.tracer_b7.ops.spatial_tracing import SpatialTracing

__all__ = ["AlignCornersUpsampling", "ChannelTracing", "ObjectMask", "QuantileMask", "SpatialTracing"]

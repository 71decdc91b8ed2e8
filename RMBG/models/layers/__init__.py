"""Custom layers shared by the model families (all registered serializable)."""

from RMBG.models.layers.resize_like import ResizeLike

__all__ = ["ResizeLike"]

"""The custom layers of InSPyReNet (all registered serializable; none of them imports at package import)."""

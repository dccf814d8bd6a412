"""Model analysis: per-layer parameters, multiply-adds and activation memory."""

from cnnlab.analysis.profile import LayerProfile, ModelProfile, profile

__all__ = ["LayerProfile", "ModelProfile", "profile"]

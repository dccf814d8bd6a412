"""Model analysis: per-layer parameters, multiply-adds, activation memory and receptive fields."""

from cnnlab.analysis.profile import LayerProfile, ModelProfile, profile

__all__ = ["LayerProfile", "ModelProfile", "profile"]

"""Model analysis: per-layer parameters, multiply-adds, activation memory and receptive fields."""

from cnnlab.analysis.profile import LayerProfile, ModelProfile, profile, shapes_only

__all__ = ["LayerProfile", "ModelProfile", "profile", "shapes_only"]

"""Ensembles: members trained or gathered from MLflow runs, their predictions combined."""

from cnnlab.ensemble.combine import accuracy, combinations, majority_vote, weighted_average
from cnnlab.ensemble.model import averaging_model
from cnnlab.ensemble.run import EnsembleResult, Member, build_ensemble

__all__ = [
    "EnsembleResult",
    "Member",
    "accuracy",
    "averaging_model",
    "build_ensemble",
    "combinations",
    "majority_vote",
    "weighted_average",
]

"""Combining members' class probabilities: the average (AlexNet's 7 CNNs, Krizhevsky et al.
2012, §6; VGG's multi-scale models, Simonyan & Zisserman 2015, §4.3), a weighted average and
a majority vote."""

import numpy as np


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of (N, classes) probabilities against N integer labels."""
    return float(np.mean(np.argmax(probabilities, axis=-1) == labels))


def weighted_average(probabilities: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(M, N, classes) members' probabilities -> (N, classes), weights normalized to sum 1."""
    weights = np.asarray(weights, np.float64)
    return np.tensordot(weights / weights.sum(), probabilities, axes=1)


def majority_vote(probabilities: np.ndarray) -> np.ndarray:
    """One-hot (N, classes) of the class most members predict; a tie goes to the tied class
    with the highest mean probability."""
    classes = probabilities.shape[-1]
    votes = np.eye(classes)[np.argmax(probabilities, axis=-1)].sum(axis=0)  # (N, classes)
    # the mean probability (< 1) breaks ties between equal vote counts and nothing else
    winners = np.argmax(votes + probabilities.mean(axis=0) / 2, axis=-1)
    return np.eye(classes)[winners]


def combinations(probabilities: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Every combination of (M, N, classes) probabilities, by name."""
    return {
        "mean": probabilities.mean(axis=0),
        "weighted": weighted_average(probabilities, weights),
        "vote": majority_vote(probabilities),
    }

"""Per-epoch training state that a killed run resumes from.

One file, `checkpoints/state.npz`, replaced atomically at the end of every epoch, holds
everything the next epoch depends on: the model's variables (weights and the random-seed
states of dropout-like layers), the optimizer's variables (step count, slots, loss scale),
the number of completed epochs, the Python and NumPy RNG states, the epoch logs so far and
the state of stateful callbacks (reduce-on-plateau, early stopping).
"""

import logging
import os
import pickle
import random
from pathlib import Path
from typing import Any, Protocol

import keras
import numpy as np

log = logging.getLogger(__name__)

STATE_FILE = "state.npz"


class Stateful(Protocol):
    def get_state(self) -> dict[str, Any]: ...

    def set_state(self, state: dict[str, Any]) -> None: ...


def ensure_optimizer_built(model: keras.Model) -> None:
    """Create the optimizer's slots now (Keras does it at the first step) so they can be loaded."""
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def save_state(
    path: Path,
    model: keras.Model,
    epochs_done: int,
    history: dict[str, list[float]],
    callbacks: dict[str, Stateful],
) -> None:
    """Write the state after `epochs_done` completed epochs; a kill mid-write keeps the old file."""
    ensure_optimizer_built(model)
    meta = {
        "epochs_done": epochs_done,
        "history": history,
        "python_rng": random.getstate(),
        "numpy_rng": np.random.get_state(),
        "callbacks": {name: callback.get_state() for name, callback in callbacks.items()},
    }
    arrays = {f"model_{i}": np.asarray(v) for i, v in enumerate(model.variables)}
    arrays |= {f"optimizer_{i}": np.asarray(v) for i, v in enumerate(model.optimizer.variables)}
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as file:
        np.savez(file, meta=np.frombuffer(pickle.dumps(meta), np.uint8), **arrays)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)


def load_state(path: Path, model: keras.Model, callbacks: dict[str, Stateful]) -> dict[str, Any]:
    """Put a saved state back into `model`, its optimizer, the RNGs and `callbacks`; return the
    metadata (`epochs_done`, `history`)."""
    meta = load_variables(path, model)
    random.setstate(meta["python_rng"])
    np.random.set_state(meta["numpy_rng"])
    for name, callback in callbacks.items():
        callback.set_state(meta["callbacks"][name])
    log.info("resumed from %s after %d completed epochs", path, meta["epochs_done"])
    return meta


def load_variables(path: Path, model: keras.Model) -> dict[str, Any]:
    """Put a saved state's model and optimizer variables back into `model`; return its metadata."""
    ensure_optimizer_built(model)
    with np.load(path) as stored:
        meta = pickle.loads(stored["meta"].tobytes())  # our own file, written by save_state
        for kind, variables in (
            ("model", model.variables),
            ("optimizer", model.optimizer.variables),
        ):
            saved = sorted((k for k in stored.files if k.startswith(f"{kind}_")), key=_index)
            if len(saved) != len(variables):
                raise ValueError(
                    f"{path} holds {len(saved)} {kind} variables, the run has {len(variables)}: "
                    "it was written by a different config"
                )
            for variable, key in zip(variables, saved, strict=True):
                variable.assign(stored[key])
    return meta


def _index(key: str) -> int:
    return int(key.rsplit("_", 1)[1])


class EpochCheckpoint(keras.callbacks.Callback):
    """Save the state at every epoch end and keep the epoch logs of the whole run, resumed
    epochs included (Keras's History only sees the epochs of the current `fit`)."""

    def __init__(self, path: Path, callbacks: dict[str, Stateful], history: dict[str, list[float]]):
        super().__init__()
        self.path, self.stateful, self.history = path, callbacks, history

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        save_state(self.path, self.model, epoch + 1, self.history, self.stateful)

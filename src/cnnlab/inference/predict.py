"""Predict image files with a run's logged model: class and top-k probabilities per file."""

import csv
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from cnnlab import tracking
from cnnlab.config.run import PredictConfig
from cnnlab.errors import ConfigError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


@dataclass
class Prediction:
    path: str
    top: list[tuple[str, float]]  # (class name, probability), most probable first


def image_files(paths: Iterable[str]) -> list[Path]:
    """Files as given, and the image files under each folder (recursively, sorted)."""
    files = []
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise ConfigError(
                    f"images={given!r} is invalid: the folder holds no image files "
                    f"(expected {', '.join(sorted(IMAGE_SUFFIXES))})"
                )
            files += found
        elif path.exists():
            files.append(path)
        else:
            raise ConfigError(f"images={given!r} is invalid: no such file or folder")
    return files


def read_image(path: Path, channels: int) -> np.ndarray | None:
    """float32 pixel values (H, W, channels) in [0, 255], or None for an unreadable file."""
    try:
        with Image.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            pixels = np.asarray(image, np.float32)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        log.warning("skipped %s: %s", path, error)
        return None
    return pixels[..., None] if channels == 1 else pixels


def predict_files(cfg: PredictConfig) -> tuple[list[Prediction], list[str]]:
    """Predictions for the readable files of `cfg.images`, and the paths of the unreadable."""
    paths = [cfg.images] if isinstance(cfg.images, str) else list(cfg.images)
    files = image_files(paths)
    run_id = tracking.find_run_id(cfg.run, cfg.tracking)
    model = tracking.load_model(run_id, cfg.tracking)
    classes = tracking.model_metadata(run_id, cfg.tracking)["class_names"]
    channels = model.inputs[0].shape[-1]
    predictions, skipped = [], []
    for path in files:
        pixels = read_image(path, channels)
        if pixels is None:
            skipped.append(str(path))
            continue
        probabilities = model.predict(pixels[None], verbose=0)[0]
        order = np.argsort(probabilities)[::-1][: cfg.top_k]
        predictions.append(
            Prediction(str(path), [(classes[k], float(probabilities[k])) for k in order])
        )
    if skipped:
        log.warning("%d of %d files could not be read and were skipped", len(skipped), len(files))
    return predictions, skipped


def table(predictions: list[Prediction]) -> str:
    """An aligned text table: file, class, probability, then the other top classes."""
    rows = [("file", "class", "probability", "next")]
    rows += [
        (p.path, p.top[0][0], f"{p.top[0][1]:.4f}", ", ".join(f"{c} {v:.3f}" for c, v in p.top[1:]))
        for p in predictions
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(
            [*(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)), row[3]]
        ).rstrip()
        for row in rows
    )


def write_csv(predictions: list[Prediction], path: Path, top_k: int) -> None:
    """One row per file: path, class, probability, then top-k class/probability pairs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        header = ["file", "class", "probability"]
        for k in range(1, top_k + 1):
            header += [f"top{k}_class", f"top{k}_probability"]
        writer.writerow(header)
        for p in predictions:
            row = [p.path, p.top[0][0], f"{p.top[0][1]:.6f}"]
            for name, value in p.top:
                row += [name, f"{value:.6f}"]
            writer.writerow(row)

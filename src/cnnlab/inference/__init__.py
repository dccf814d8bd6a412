"""Using a logged model after training: evaluate it on a split, predict image files."""

from cnnlab.inference.evaluate import Evaluation, evaluate_run, predict_pixels, split_pixels
from cnnlab.inference.predict import Prediction, predict_files, read_image, table, write_csv

__all__ = [
    "Evaluation",
    "Prediction",
    "evaluate_run",
    "predict_files",
    "predict_pixels",
    "read_image",
    "split_pixels",
    "table",
    "write_csv",
]

"""Every registered model, sized at its paper's input and trained briefly on the embedded digits.

For each model: parameters and multiply-adds at the paper's input size and class count
(`cnnlab.analysis.profile`, as `make profile` prints them), then a short run of the default
recipe (what `make train ARGS="model=<name>"` runs: SGD 0.02 with momentum 0.9, cosine decay,
batch 32, translate augmentation, 28x28 digits) for a few epochs, logged to MLflow (experiment
`digits-zoo`). Prints the README's models table as Markdown, a row as each model finishes.

A short run ranks how quickly each architecture learns 1,293 tiny images on a CPU, not what it
can reach: the heavy models get fewer epochs (EPOCHS), and the plain GoogLeNet (no batch norm)
its smaller stable learning rate (OVERRIDES). Both appear in the table.

    python benchmarks/digits_zoo.py [--models lenet5 resnet20] [--epochs N] [--seed 42]
"""

import argparse
import os
import time
from pathlib import Path

from cnnlab import native_logs

native_logs.quiet_by_default()  # TensorFlow reads its log level once, when it loads
native_logs.import_tensorflow()  # its start-up notices filtered to that level

import keras
from _machine import machine
from hydra import compose, initialize_config_dir

from cnnlab import models
from cnnlab.analysis import profile
from cnnlab.config import register_schemas, typed
from cnnlab.training import train

CONF = Path(__file__).resolve().parents[1] / "conf"
DEFAULT_EPOCHS = 5
# Fewer epochs for the models that need over a minute per epoch on 2 CPU cores, so that the
# whole table takes about an hour and a half; VGG-11 keeps 5 as its family's reference.
EPOCHS = {
    **dict.fromkeys(["vgg11_lrn", "vgg13", "vgg16_c", "vgg16", "vgg19"], 1),
    "zfnet": 3,
    **dict.fromkeys(["alexnet", "resnet18"], 2),
    **dict.fromkeys(["resnet34", "resnet50", "resnet101", "resnet152", "resnet1202"], 1),
    **dict.fromkeys(["inception_v3", "inception_v4", "inception_resnet_v2"], 1),
}
OVERRIDES = {  # where the default recipe does not suit a model, and why
    # 22 layers without batch norm: at lr 0.02 the loss oscillates near chance
    "googlenet": ["optimizer.lr=0.005"],
}


def paper_size(name: str) -> tuple[str, int, int]:
    """('224x224x3, 1000', parameters, multiply-adds) at the model's paper input."""
    shape, classes = models.paper_input(name)
    keras.backend.clear_session()
    result = profile(models.inference_model(models.build(name, shape, classes)))
    return f"{'x'.join(map(str, shape))}, {classes}", result.params, result.macs


def short_run(name: str, epochs: int, seed: int) -> tuple[float, float, list[str]]:
    """Train `name` on the digits for `epochs`: (test accuracy, training seconds, overrides)."""
    overrides = [f"trainer.epochs={epochs}", *OVERRIDES.get(name, [])]
    register_schemas()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "train",
            [
                f"model={name}",
                f"seed={seed}",
                "trainer.verbose=0",
                "tracking.experiment=digits-zoo",
                "tracking.log_model=false",
                *overrides,
            ],
        )
    keras.backend.clear_session()
    result = train(typed(cfg), Path("outputs", "zoo", name))
    return result.test_metrics["test_accuracy"], result.train_seconds, overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=models.available())
    parser.add_argument("--epochs", type=int, help="the same number of epochs for every model")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    print(f"{machine()}; load average at start {os.getloadavg()[0]:.2f}\n")
    print("| model | input, classes | parameters | multiply-adds | digits test acc. | recipe |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    for name in args.models:
        epochs = args.epochs or EPOCHS.get(name, DEFAULT_EPOCHS)
        started = time.perf_counter()
        size, params, macs = paper_size(name)
        accuracy, seconds, overrides = short_run(name, epochs, args.seed)
        recipe = ", ".join(o.replace("trainer.epochs=", "epochs ") for o in overrides)
        print(
            f"| `{name}` | {size} | {params:,} | {macs / 1e9:.3g} G | {accuracy:.3f} | "
            f"{recipe} ({seconds:.0f} s; {time.perf_counter() - started:.0f} s in all) |",
            flush=True,
        )


if __name__ == "__main__":
    main()

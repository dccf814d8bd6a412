"""Training-step speed on an accelerator, float32 against mixed_float16 (`make bench-gpu`).

Times `train_on_batch` of lenet5, resnet20, resnet50 and vgg16 from cnnlab's registry on one
synthetic batch held in device memory, after warm-up steps, in turns per precision; prints
images/s and the mixed-precision speed-up. Keras 3 runs it on any backend: with TensorFlow
absent, `KERAS_BACKEND=jax python benchmarks/gpu.py` (the registry's models are Keras layers).

    python benchmarks/gpu.py [--models lenet5,resnet20,resnet50,vgg16] [--steps 30] [--batch 128]
"""

import argparse
import statistics
import time

from cnnlab import native_logs

native_logs.quiet_by_default()  # TensorFlow reads its log level once, when it loads

import keras
import numpy as np

from cnnlab import models

# Each model at its paper's input size (the CIFAR ResNets at 32x32, LeNet-5 at 32x32x1).
INPUTS = {
    "lenet5": ((32, 32, 1), 10),
    "resnet20": ((32, 32, 3), 10),
    "resnet50": ((224, 224, 3), 1000),
    "vgg16": ((224, 224, 3), 1000),
}
PRECISIONS = ("float32", "mixed_float16")


def images_per_second(name: str, policy: str, batch: int, steps: int, size: int | None) -> float:
    keras.mixed_precision.set_global_policy(policy)
    shape, classes = INPUTS[name]
    if size:
        shape = (size, size, shape[2])
    keras.utils.set_random_seed(0)
    model = models.build(name, shape, classes)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="categorical_crossentropy"
    )
    rng = np.random.default_rng(0)
    images = keras.ops.convert_to_tensor(rng.random((batch, *shape), dtype=np.float32))
    labels = keras.ops.convert_to_tensor(
        np.eye(classes, dtype=np.float32)[rng.integers(0, classes, batch)]
    )
    for _ in range(3):  # compile and warm up
        model.train_on_batch(images, labels)
    start = time.perf_counter()
    for _ in range(steps):
        loss = model.train_on_batch(images, labels)
    float(np.ravel(loss)[0])  # wait for the device
    return batch * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(INPUTS))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=None, help="override the input size")
    args = parser.parse_args()
    print(f"backend {keras.backend.backend()}, devices: {device_names()}")
    print(
        f"{'model':<10} {'batch':>5} {'float32 img/s':>14} {'mixed_float16 img/s':>20} {'speed-up':>9}"
    )
    for name in args.models.split(","):
        rates = {p: [] for p in PRECISIONS}
        for _ in range(args.repeats):
            for policy in PRECISIONS:
                rates[policy].append(
                    images_per_second(name, policy, args.batch, args.steps, args.image_size)
                )
        f32, f16 = (statistics.median(rates[p]) for p in PRECISIONS)
        print(f"{name:<10} {args.batch:>5} {f32:>14.1f} {f16:>20.1f} {f16 / f32:>9.2f}")
    keras.mixed_precision.set_global_policy("float32")


def device_names() -> str:
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return ", ".join(str(d) for d in jax.devices())
    if backend == "tensorflow":
        import tensorflow as tf

        return ", ".join(d.name for d in tf.config.list_logical_devices())
    return backend


if __name__ == "__main__":
    main()

"""Where the training step runs: `trainer.strategy` through `tf.distribute`.

`trainer.batch_size` is the global batch: a strategy splits each batch over its replicas
(Keras does the splitting), and `optimizer.scale_lr: linear` multiplies the learning rate by
the number of replicas. `mirrored` uses every GPU of this machine, or every logical CPU
device where there is no GPU (how the tests run it); `multi_worker` reads the cluster from
`TF_CONFIG` (https://www.tensorflow.org/guide/distributed_training#TF_CONFIG).
"""

import dataclasses
import json
import os

import keras
import tensorflow as tf

from cnnlab.data import Datasets
from cnnlab.errors import ConfigError


def build_strategy(name: str) -> tf.distribute.Strategy:
    """`auto`: mirrored over several GPUs, else TF's default (one device, no wrapping). The
    schema (`cnnlab.config.training.Strategy`) allows only the names handled here."""
    if name == "multi_worker":  # before anything initializes TensorFlow's runtime
        if "TF_CONFIG" not in os.environ:
            raise ConfigError(
                "trainer.strategy=multi_worker is invalid: expected TF_CONFIG in the environment "
                '(e.g. {"cluster": {"worker": ["host1:2222", "host2:2222"]}, "task": {"type": "worker", "index": 0}})'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    devices = gpus or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([d.name for d in devices])


def tf_config() -> dict:
    """The `TF_CONFIG` environment variable's cluster and task ({} outside a cluster)."""
    return json.loads(os.environ.get("TF_CONFIG", "{}"))


def worker_task() -> tuple[str, int] | None:
    """This process's (task type, index) in a `TF_CONFIG` cluster, or None outside one."""
    task = tf_config().get("task")
    return (task["type"], int(task["index"])) if task else None


def is_chief() -> bool:
    """The process that records the run: the `chief` task, else worker 0, else the only one."""
    task = worker_task()
    if task is None:
        return True
    cluster = tf_config().get("cluster", {})
    return task[0] == "chief" or (task == ("worker", 0) and "chief" not in cluster)


def shard_by_data(data: Datasets) -> Datasets:
    """Multi-worker input: every worker reads the same files and keeps its share of each split's
    batches (the default shards by file, and a small dataset has fewer files than workers)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataclasses.replace(
        data,
        train=data.train.with_options(options),
        val=data.val and data.val.with_options(options),
        test=data.test.with_options(options),
    )


def cluster_workers() -> int:
    """How many processes train in the `TF_CONFIG` cluster (chief and workers); 1 outside one."""
    cluster = tf_config().get("cluster", {})
    return max(1, len(cluster.get("chief", [])) + len(cluster.get("worker", [])))


def work_around_keras_multi_worker(model: keras.Model) -> None:
    """Let Keras 3.15's `fit`/`evaluate` run under MultiWorkerMirroredStrategy, which its
    TensorFlow trainer (keras/src/backend/tensorflow/trainer.py) breaks in two places:

    - `_maybe_symbolic_build` (line 731) hands the whole `(images, labels)` batch to
      `strategy.reduce`, which takes one value, not a nest ("Attempt to convert a value
      (PerReplica...) to a Tensor"). Keras skips that eager build, and builds when the step is
      traced, for a model without a strategy of its own: the model forgets its strategy and
      the caller runs fit and evaluate inside `strategy.scope()` instead.
    - `reduce_per_replica` (line 841) averages a step's metrics over the workers with
      `strategy.reduce("MEAN", value, axis=0)`, which needs a batch axis that a scalar loss
      lacks ("Invalid reduction dimension 0"): each step returns its metrics as shape [1].
    """
    model._distribute_strategy = None  # Keras then takes tf.distribute.get_strategy()
    if cluster_workers() > 1:
        model.train_step = metrics_with_an_axis(model.train_step)
        model.test_step = metrics_with_an_axis(model.test_step)


def metrics_with_an_axis(step):
    """A train/test step whose scalar metrics have shape [1] (see above)."""

    def step_with_axis(data):
        return keras.tree.map_structure(lambda value: tf.reshape(value, [1]), step(data))

    return step_with_axis

"""Any TFDS dataset by name (`data=tfds data.name=...`), and the embedded digits builder.

Data already prepared in `data.data_dir` (or TFDS's default folder) is read directly.
Otherwise TFDS downloads it when the machine is online; offline, loading fails at once
with a message that says how to provide the data, instead of waiting on a download.
"""

import difflib
import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import tensorflow as tf
import tensorflow_datasets as tfds

from cnnlab.config.data import DigitsDataConfig, TfdsDataConfig, TfdsSplits
from cnnlab.data.sources.registry import Source, register_source
from cnnlab.errors import DataError

log = logging.getLogger(__name__)

CATALOG = "https://www.tensorflow.org/datasets/catalog/overview"
NETWORK_PROBE = ("storage.googleapis.com", 443)  # where TFDS keeps prepared datasets
PROBE_SECONDS = 3.0


@dataclass(frozen=True)
class SplitNames:
    """TFDS split names for train/val/test; `val` None carves `data.val_fraction` off train."""

    train: str
    val: str | None
    test: str


@register_source("digits")
def load_digits_source(data: DigitsDataConfig, seed: int) -> Source:
    from cnnlab.data.sources.digits import prepare

    builder = prepare(data.data_dir)
    splits = SplitNames("train", None, "test")
    return source_from_builder(builder, "digits", splits, data.val_fraction)


@register_source("tfds")
def load_tfds_source(data: TfdsDataConfig, seed: int) -> Source:
    builder = open_builder(data.name, data.data_dir)
    ensure_prepared(builder, data)
    splits = split_names(builder, data.splits)
    return source_from_builder(
        builder, data.name, splits, data.val_fraction, data.image_key, data.label_key
    )


def open_builder(name: str, data_dir: str | None) -> tfds.core.DatasetBuilder:
    """The builder for `name` ('dataset', 'dataset/config' or 'dataset:version').

    An unknown name lists the closest TFDS names; an unknown config lists the dataset's configs.
    """
    dataset = name.split("/")[0].split(":")[0]
    known = tfds.list_builders(with_community_datasets=False)
    if dataset not in known:
        close = difflib.get_close_matches(dataset, known, n=5, cutoff=0.6)
        hint = f"close matches: {', '.join(close)}" if close else "no close match"
        raise DataError(f"data.name={name!r} is not a TFDS dataset; {hint} (all: {CATALOG})")
    try:
        return tfds.builder(name, data_dir=data_dir)
    except (ValueError, AssertionError) as error:  # a config or version the dataset lacks
        configs = [c.name for c in tfds.builder_cls(dataset).BUILDER_CONFIGS or []]
        detail = str(error).splitlines()[0]
        options = f"; configs: {', '.join(configs)}" if configs else ""
        raise DataError(f"data.name={name!r}: {detail}{options}") from None


def ensure_prepared(builder: tfds.core.DatasetBuilder, data: TfdsDataConfig) -> None:
    """Download and prepare once when online; fail fast with instructions when not."""
    try:
        builder.as_dataset(split=data.splits.train)
        return
    except AssertionError as error:  # TFDS: "Dataset x: could not find data in <dir>"
        if "could not find data" not in str(error):
            raise
    name = data.name
    if not data.download:
        reason = "data.download=false"
    elif not network_reachable():
        reason = "this machine has no network to download it"
    else:
        log.info("downloading and preparing %s into %s (once)", name, builder.data_dir_root)
        try:
            builder.download_and_prepare()
        except Exception as error:  # network, disk or checksum: one line for the user
            raise DataError(
                f"data.name={name!r}: download failed ({str(error).splitlines()[0]}); retry, or "
                "set data.data_dir to a folder with the dataset prepared by `tfds build`"
            ) from None
        return
    raise DataError(
        f"data.name={name!r} is not prepared in {builder.data_dir_root} and {reason}: "
        f"prepare it once where there is network (`tfds build {name} --data_dir DIR`, or "
        f"this same command), copy DIR here and set data.data_dir=DIR"
    )


def network_reachable(address: tuple[str, int] = NETWORK_PROBE) -> bool:
    """Can we open a TCP connection within PROBE_SECONDS? (DNS lookups get the same deadline.)"""

    def connect() -> bool:
        with socket.create_connection(address, timeout=PROBE_SECONDS):
            return True

    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(connect).result(timeout=PROBE_SECONDS)
    except (OSError, TimeoutError):
        return False
    finally:
        pool.shutdown(wait=False)


def split_names(builder: tfds.core.DatasetBuilder, requested: TfdsSplits) -> SplitNames:
    """`data.splits` with nulls filled in: test is 'test' (or 'validation' if there is no test
    split, as in imagenette); val is 'validation' when that is not already the test split."""
    available = list(builder.info.splits)  # empty when unknown (a mocked builder)
    test = requested.test or (
        "validation" if "test" not in available and "validation" in available else "test"
    )
    val = requested.val
    if val is None and test != "validation" and "validation" in available:
        val = "validation"
    names = SplitNames(requested.train, val, test)
    for role, split in vars(names).items():
        base = split and split.split("[")[0]
        if base and available and base not in available:
            raise DataError(
                f"data.splits.{role}={split!r} is not a split of {builder.info.full_name}; "
                f"available: {', '.join(available)}"
            )
    return names


def source_from_builder(
    builder: tfds.core.DatasetBuilder,
    name: str,
    names: SplitNames,
    val_fraction: float,
    image_key: str = "image",
    label_key: str = "label",
) -> Source:
    """(image, label) splits; without a val split, the tail of train becomes validation.

    TFDS stores examples in a hash-shuffled order, so the tail is a fixed random subset.
    """
    features = builder.info.features
    for role, key in (("image_key", image_key), ("label_key", label_key)):
        if key not in features:
            raise DataError(
                f"data.{role}={key!r} is not a feature of {name}; features: {', '.join(features)}"
            )
    label = features[label_key]
    if not isinstance(label, tfds.features.ClassLabel):
        raise DataError(f"data.label_key={label_key!r} of {name} is not a class label")

    def read(split: str) -> tf.data.Dataset:
        return builder.as_dataset(split=split).map(
            lambda example: (example[image_key], example[label_key])
        )

    if names.val is not None:
        specs = {"train": names.train, "val": names.val}
    else:
        train_size = split_size(builder, names.train)
        fit_size = train_size - round(train_size * val_fraction)
        specs = {"train": f"{names.train}[:{fit_size}]"}
        if fit_size < train_size:
            specs["val"] = f"{names.train}[{fit_size}:]"
    specs["test"] = names.test
    splits = {role: read(spec) for role, spec in specs.items()}
    return Source(
        name=name,
        splits=splits,
        class_names=list(label.names),
        split_sizes={role: split_size(builder, spec) for role, spec in specs.items()},
        fingerprint=f"tfds:{builder.info.full_name}:{builder.data_dir}:{specs['train']}",
    )


def split_size(builder: tfds.core.DatasetBuilder, split: str) -> int:
    """Examples in `split` (slices included), as the dataset reports it."""
    cardinality = int(builder.as_dataset(split=split).cardinality())
    if cardinality < 0:
        raise DataError(f"{builder.info.full_name}: the size of split {split!r} is unknown")
    return cardinality

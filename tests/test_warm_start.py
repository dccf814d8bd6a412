"""Warm start and fine-tuning: `model.init_from`, `model.freeze`, `trainer.unfreeze_at_epoch`.

Keras's ImageNet weights are never downloaded here: keras.applications models built with
`weights=None`, their statistics randomized, are saved to local files and loaded through
`model.weights_path`; their outputs are the reference the cnnlab models must reproduce.
"""

import logging
import re

import keras
import mlflow
import numpy as np
import pytest
from PIL import Image
from support.compose import compose_config
from support.in_process import run_pipeline

from cnnlab import models
from cnnlab.errors import ConfigError
from cnnlab.models.keras_applications import APPLICATIONS
from cnnlab.models.transfer import layer_mapping, layer_weights, transfer_weights
from cnnlab.models.vgg import STAGEWISE_LAYERS
from cnnlab.training import train
from cnnlab.training.freeze import check_unfreeze, layers_to_freeze
from cnnlab.training.warm_start import load_source, open_source

# One worker trains the source run and the fine-tuned run that most tests here read.
pytestmark = pytest.mark.xdist_group("warm_start")
RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _same_draws_in_any_order():
    """Each test draws the same values whichever tests ran before it on its worker."""
    RNG.bit_generator.state = np.random.default_rng(0).bit_generator.state


COLOURS = {"red": (200, 40, 40), "green": (40, 200, 40), "blue": (40, 40, 200)}
LENET_BACKBONE = ("c1", "c3", "f5", "f6")


# keras: sources -----------------------------------------------------------------------------


def randomized(model: keras.Model) -> keras.Model:
    """Random batch-norm statistics and conv biases, so that a conversion that ignored them
    (the bias fold, the epsilon) could not pass by accident."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            values = layer.get_weights()
            mean = len(values) - 2
            layer.set_weights(
                [
                    RNG.normal(0, 0.1, v.shape) if i == mean else RNG.uniform(0.5, 1.5, v.shape)
                    for i, v in enumerate(values)
                ]
            )
        elif isinstance(layer, keras.layers.Conv2D) and layer.use_bias:
            layer.set_weights([layer.get_weights()[0], RNG.normal(0, 0.1, layer.bias.shape)])
    return model


def keras_reference(name, side, tmp_path, include_top=True):
    """keras.applications' model `name` with random weights, saved as a .weights.h5 file."""
    app = APPLICATIONS[name]
    builder = getattr(keras.applications, app.builder)
    reference = randomized(
        builder(weights=None, include_top=include_top, input_shape=(side,) * 2 + (3,))
    )
    path = tmp_path / f"{name}.weights.h5"
    reference.save_weights(path)
    return reference, path


def warm_started(make_cfg, name, side, path, num_classes=1000, **options):
    """cnnlab's model `name`, loaded through `model.init_from=keras:<name>` as train() loads it."""
    cfg = make_cfg(
        f"model={name}",
        f"model.init_from=keras:{name}",
        f"model.weights_path={path}",
        f"data.image_size=[{side},{side}]",
    )
    model = models.build(name, (side, side, 3), num_classes, **options)
    transfer = load_source(open_source(cfg), model)
    return model, transfer


def rgb_and_bgr(name, side):
    x = RNG.uniform(0, 1, (2, side, side, 3)).astype("float32")
    return x, (x[..., ::-1] if APPLICATIONS[name].bgr else x)  # caffe models were fed BGR


@pytest.mark.slow  # 14.7M weights to write and read: MobileNet tests the path in the fast suite
def test_keras_vgg16_weights_without_the_top_give_its_features(make_cfg, tmp_path):
    reference, path = keras_reference("vgg16", 32, tmp_path, include_top=False)
    model, transfer = warm_started(make_cfg, "vgg16", 32, path, num_classes=5)
    assert transfer.new == ("fc1", "fc2", "predictions_logits")
    ours = keras.Model(model.input, model.get_layer("block5_pool").output)
    x, theirs = rgb_and_bgr("vgg16", 32)
    np.testing.assert_allclose(ours(x), reference(theirs), rtol=1e-5, atol=1e-6)


def test_keras_mobilenet_weights_give_its_outputs(make_cfg, tmp_path):
    reference, path = keras_reference("mobilenet", 32, tmp_path)
    model, transfer = warm_started(make_cfg, "mobilenet", 32, path, activation="relu6")
    assert transfer.new == ()  # its 1x1-conv classifier became the Dense one
    x, theirs = rgb_and_bgr("mobilenet", 32)
    np.testing.assert_allclose(model(x), reference(theirs), rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_keras_resnet50_conv_biases_fold_into_batch_norm_with_equal_outputs(make_cfg, tmp_path):
    reference, path = keras_reference("resnet50", 64, tmp_path)
    model, transfer = warm_started(make_cfg, "resnet50", 64, path, stem="imagenet")
    assert transfer.new == ()
    x, theirs = rgb_and_bgr("resnet50", 64)
    np.testing.assert_allclose(model(x), reference(theirs), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_keras_inception_v3_weights_give_its_outputs(make_cfg, tmp_path):
    reference, path = keras_reference("inception_v3", 75, tmp_path)
    model, _ = warm_started(make_cfg, "inception_v3", 75, path)
    x, theirs = rgb_and_bgr("inception_v3", 75)
    np.testing.assert_allclose(model(x), reference(theirs), rtol=1e-4, atol=1e-6)


# From a run, into a folder of images ---------------------------------------------------------


def write_folder(root, per_class=8, size=(20, 24)):
    """Three classes of RGB PNGs of another size than the digits."""
    for c, (name, colour) in enumerate(COLOURS.items()):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            rng = np.random.default_rng(100 * c + i)
            pixels = np.clip(np.array(colour) + rng.normal(0, 30, (*size, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def stores(tfds_dir, mlflow_dir):
    return [
        f"tracking.uri=sqlite:///{mlflow_dir}/mlflow.db",
        f"tracking.artifact_location={mlflow_dir}/artifacts",
        "tracking.experiment=warm_start",
        "trainer.verbose=0",
        f"data.data_dir={tfds_dir}",
    ]


@pytest.fixture(scope="module")
def digits_run(stores, tmp_path_factory):
    """LeNet-5 trained two short epochs on the digits: the source."""
    cfg = compose_config("train", *stores, "trainer.epochs=2", "trainer.steps_per_epoch=5")
    return train(cfg, tmp_path_factory.mktemp("source"))


@pytest.fixture(scope="module")
def colour_folder(tmp_path_factory):
    return write_folder(tmp_path_factory.mktemp("colours"))


def on_folder(stores, folder, *overrides):
    data_dir = [s for s in stores if s.startswith("data.data_dir")]
    return compose_config(
        "train",
        *(s for s in stores if s not in data_dir),
        "data=folder",
        f"data.path={folder}",
        f"data.stats_cache={folder.parent / 'stats'}",
        "trainer.epochs=2",
        "trainer.batch_size=8",
        "tracking.log_model=false",  # the saved model.keras is what the tests read
        *overrides,
    )


class WeightsAtEpochEnd(keras.callbacks.Callback):
    """The model's weights by layer name after each epoch."""

    def __init__(self):
        super().__init__()
        self.epochs: list[dict[str, list[np.ndarray]]] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append({layer.name: layer.get_weights() for layer in self.model.layers})


@pytest.fixture(scope="module")
def finetuned(stores, digits_run, colour_folder, tmp_path_factory):
    """The colour folder from the digits run: one epoch with the backbone frozen, one with
    everything at a tenth of the rate. Returns (result, weights after each epoch)."""
    cfg = on_folder(
        stores,
        colour_folder,
        f"model.init_from={digits_run.run_name}",
        "model.freeze=backbone",
        "trainer.unfreeze_at_epoch=1",
        "trainer.unfreeze_lr_factor=0.1",
        "schedule=constant",
    )
    weights = WeightsAtEpochEnd()
    return train(cfg, tmp_path_factory.mktemp("finetuned"), callbacks=[weights]), weights.epochs


def saved_weights(result) -> dict[str, list[np.ndarray]]:
    model = keras.models.load_model(result.model_path, compile=False)
    return {layer.name: layer.get_weights() for layer in model.layers if layer.weights}


def test_frozen_backbone_keeps_the_source_runs_weights_bit_for_bit(digits_run, finetuned):
    source, (_, (frozen_epoch, _)) = saved_weights(digits_run), finetuned
    for name in LENET_BACKBONE:
        for theirs, mine in zip(source[name], frozen_epoch[name], strict=True):
            np.testing.assert_array_equal(mine, theirs)


def test_unfreezing_trains_the_backbone_at_the_lower_rate(digits_run, finetuned):
    source, (result, (_, unfrozen_epoch)) = saved_weights(digits_run), finetuned
    assert all(not np.array_equal(source[n][0], unfrozen_epoch[n][0]) for n in LENET_BACKBONE)
    first, second = result.history["lr"]
    assert second == pytest.approx(first * 0.1)


def test_the_head_is_new_for_the_folders_three_classes(finetuned):
    head = saved_weights(finetuned[0])["predictions_logits"]
    assert head[0].shape == (84, 3)


def test_folder_images_take_the_source_runs_input_shape(finetuned):
    params = mlflow.get_run(finetuned[0].run_id).data.params
    assert params["dataset.input_shape"] == "(28, 28, 1)"  # the folder's 20x24 RGB images


def test_warm_started_run_finishes_with_its_lineage(digits_run, finetuned):
    run = mlflow.get_run(finetuned[0].run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["init_from_run"] == digits_run.run_id
    assert run.data.params["model.init_from"] == digits_run.run_name


def test_a_run_is_found_by_its_models_uri(make_cfg, digits_run):
    source = open_source(make_cfg(f"model.init_from=runs:/{digits_run.run_id}/model"))
    assert (source.run_id, source.input_shape, source.model) == (
        digits_run.run_id,
        (28, 28, 1),
        "lenet5",
    )


@pytest.mark.slow  # ResNet-20's train step to trace: about 6 s of CPU
def test_frozen_batch_norm_keeps_its_statistics(make_cfg, tmp_path):
    source = randomized(models.build("resnet20", (28, 28, 1), 10))
    source.save(tmp_path / "source.keras")
    cfg = make_cfg(
        f"model.init_from={tmp_path / 'source.keras'}",
        "model=resnet20",
        "model.freeze=backbone",
        "trainer.epochs=1",
        "trainer.steps_per_epoch=2",
        "trainer.eval_steps=1",
        "tracking.log_model=false",
    )
    result = train(cfg, tmp_path / "run")
    ours = saved_weights(result)
    norms = [layer for layer in source.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms
    for layer in norms:
        for theirs, mine in zip(layer.get_weights(), ours[layer.name], strict=True):
            np.testing.assert_array_equal(mine, theirs)


def test_freeze_names_a_layer_or_stage_and_everything_before_it():
    lenet = models.build("lenet5", (28, 28, 1), 10)
    assert [layer.name for layer in layers_to_freeze(lenet, "c3", None)] == ["c1", "c3"]
    assert [layer.name for layer in layers_to_freeze(lenet, "backbone", None)] == [*LENET_BACKBONE]
    with pytest.raises(ConfigError, match=r"model.freeze='c9' is invalid: .*\(stages: c1, c3,"):
        layers_to_freeze(lenet, "c9", None)


def test_unfreezing_needs_frozen_layers_and_a_later_epoch():
    with pytest.raises(
        ConfigError, match=r"unfreeze_at_epoch=2 is invalid with model\.freeze=none"
    ):
        check_unfreeze("none", 2, 5)
    with pytest.raises(ConfigError, match=r"expected an epoch before trainer\.epochs=5"):
        check_unfreeze("backbone", 5, 5)


# Bad sources: one line, exit 2, no run ----------------------------------------------------------


def lenet_file(tmp_path, channels):
    path = tmp_path / f"lenet5_{channels}.weights.h5"
    models.build("lenet5", (28, 28, channels), 10).save_weights(path)
    return path


def unrelated_file(tmp_path):
    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, keras.layers.Dense(3, name="unrelated")(inputs))
    model.save(tmp_path / "unrelated.keras")
    return tmp_path / "unrelated.keras"


def offline(*args, **kwargs):
    raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- [Errno -3]")


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("no-such-run", r"model.init_from='no-such-run' is invalid: expected a run id or name"),
        ("missing.keras", r"model.init_from='.*missing.keras' is invalid: no such file"),
        (
            "keras:mobilenet",
            r"keras:mobilenet is invalid here: .*MobileNet\(weights='imagenet'\) failed",
        ),
        ("keras:alexnet", r"keras:alexnet is invalid: expected keras: followed by one of vgg16"),
        ("unrelated", r"none of its layers matches a layer of model=lenet5"),
        ("rgb_lenet", r"its layer c1 has weights of shapes \[\(5, 5, 3, 6\), \(6,\)\]"),
    ],
)
def test_bad_source_is_one_line_exit_2_and_no_run(
    monkeypatch, mlflow_dir, tfds_dir, tmp_path, source, line
):
    monkeypatch.setattr(keras.src.utils.file_utils, "get_file", offline)
    model = (
        ("model=mobilenet", "data.image_size=[32,32]")
        if source == "keras:mobilenet"
        else ("model=lenet5",)
    )
    value = {
        "missing.keras": tmp_path / "missing.keras",
        "unrelated": unrelated_file(tmp_path) if source == "unrelated" else None,
        "rgb_lenet": lenet_file(tmp_path, 3) if source == "rgb_lenet" else None,
    }.get(source) or source
    experiment = f"bad_source_{source.replace(':', '_').replace('.', '_')}"
    status, stderr = run_pipeline(
        monkeypatch,
        "train",
        *model,
        f"model.init_from={value}",
        f"tracking.uri=sqlite:///{mlflow_dir}/mlflow.db",
        f"tracking.experiment={experiment}",
        f"data.data_dir={tfds_dir}",
        f"hydra.run.dir={tmp_path / 'out'}",
    )
    assert status == 2
    errors = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and re.search(line, errors[0]), stderr
    assert "Traceback" not in stderr
    mlflow.set_tracking_uri(f"sqlite:///{mlflow_dir}/mlflow.db")
    if mlflow.get_experiment_by_name(experiment) is not None:
        assert mlflow.search_runs(experiment_names=[experiment], output_format="list") == []


# Recipes ----------------------------------------------------------------------------------------


@pytest.mark.slow  # two VGGs with their 4096-wide FC layers: 13 s on the loaded 2 cores
def test_vgg_d_starts_from_as_first_four_convolutions_and_fc_layers():
    a, d = models.build("vgg11", (32, 32, 3), 10), models.build("vgg16", (32, 32, 3), 10)
    transfer = transfer_weights(
        layer_weights(a), d, "model.init_from=A", layer_mapping("vgg11", "vgg16")
    )
    assert transfer.loaded == STAGEWISE_LAYERS  # Sec. 3.1; block1_conv2, block2_conv2, ... new
    np.testing.assert_array_equal(
        d.get_layer("block3_conv2").kernel, a.get_layer("block3_conv2").kernel
    )


def test_finetune_folder_recipe_composes_to_the_guides_two_phases(make_cfg, tmp_path):
    cfg = make_cfg("experiment=finetune_folder", f"data.path={tmp_path}")
    assert (cfg.data.source, cfg.model.name, cfg.model.init_from) == (
        "folder",
        "mobilenet",
        "keras:mobilenet",
    )
    assert (cfg.model.freeze, cfg.trainer.unfreeze_at_epoch) == ("backbone", 5)
    assert cfg.optimizer.lr * cfg.trainer.unfreeze_lr_factor == pytest.approx(1e-5)  # the guide's


@pytest.mark.slow
def test_finetune_folder_recipe_trains_from_a_local_weights_file(make_cfg, tmp_path, colour_folder):
    """README's command: `make train ARGS="experiment=finetune_folder data.path=<folder>
    model.weights_path=<file>"`, shortened to two epochs of two steps."""
    _, path = keras_reference("mobilenet", 224, tmp_path, include_top=False)
    cfg = make_cfg(
        "experiment=finetune_folder",
        f"data.path={colour_folder}",
        f"data.stats_cache={tmp_path / 'stats'}",
        f"model.weights_path={path}",
        "trainer.epochs=2",
        "trainer.unfreeze_at_epoch=1",
        "trainer.steps_per_epoch=2",
        "trainer.batch_size=4",
        "tracking.log_model=false",
    )
    result = train(cfg, tmp_path / "run")
    assert mlflow.get_run(result.run_id).info.status == "FINISHED"
    first, second = result.history["lr"]
    assert second == pytest.approx(first * 0.01)


@pytest.mark.slow
def test_vgg_stagewise_recipe_starts_vgg16_from_a_vgg11_run(make_cfg, tmp_path, caplog):
    tiny = (
        "data=synthetic",
        "data.image_size=[32,32]",
        "data.train_size=32",
        "data.test_size=8",
        "trainer.epochs=1",
        "trainer.batch_size=8",
        "tracking.log_model=true",
    )
    a = train(make_cfg("model=vgg11", *tiny), tmp_path / "a")
    with caplog.at_level(logging.INFO):
        train(
            make_cfg("experiment=vgg_stagewise", f"model.init_from={a.run_id}", *tiny),
            tmp_path / "d",
        )
    assert "7 layers loaded, 9 left new (block1_conv2, block2_conv2, block3_conv3" in caplog.text
    assert "(vgg11 -> vgg16 mapping)" in caplog.text

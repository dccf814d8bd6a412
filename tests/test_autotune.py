"""`model.conv_impl=auto` (`cnnlab.models.autotune`): each conv and pool layer on the kernel the
timer finds faster, the same weights and outputs, timings cached per machine on disk.

A stubbed timer decides which kernel is faster, so the choices are known; one test runs the real
timer. Each kernel's correctness is covered by the parity tests (test_conv_impl.py,
test_im2col_layers.py): `auto` only picks between them.
"""

import math
import random

import keras
import mlflow
import numpy as np
import pytest
from support.in_process import run_pipeline

from cnnlab import models, tracking
from cnnlab.layers import Im2ColConv2D, Im2ColPool2D
from cnnlab.models import autotune
from cnnlab.models.blocks.auxiliary import with_auxiliary_outputs
from cnnlab.training import train
from cnnlab.viz.autotune import plot_kernel_choices

# LeNet-5's conv and pool layers, and the ones the stub makes faster on im2col.
LENET_LAYERS = ("c1", "s2", "c3", "s4")
FASTER_ON_IM2COL = {"c1", "s4"}


class StubTimer:
    """im2col takes half of native's time on FASTER_ON_IM2COL, twice elsewhere; the whole model
    with those layers on im2col takes `model_ratio` of the all-native model's time. Records
    what it timed. `first_ms`: the whole model's first steps (tracing, compiling) it reports, by
    f"{kernel}_first"."""

    def __init__(self, model_ratio: float = 0.5, first_ms: dict[str, float] | None = None):
        self.model_ratio = model_ratio
        self.first_ms = first_ms or {}
        self.timed: list[tuple] = []  # layers: (name, input shape, input gradient?)
        self.models: list[dict[str, keras.Model]] = []  # whole-model checks: {kernel: model}

    def __call__(self, kernels, input_shape, input_gradient):
        if isinstance(kernels["native"], keras.Model):
            self.models.append(dict(kernels))
            return {"native": 10.0, "im2col": 10.0 * self.model_ratio, **self.first_ms}
        layer = kernels["native"]
        assert isinstance(kernels["im2col"], Im2ColConv2D | Im2ColPool2D)
        self.timed.append((layer.name, input_shape, input_gradient))
        faster = layer.name in FASTER_ON_IM2COL
        return {"native": 1.0, "im2col": 0.5 if faster else 2.0}


def never_called(kernels, input_shape, input_gradient):
    raise AssertionError(f"timed {kernels['native'].name} again: the cache was not used")


@pytest.fixture
def lenet():
    keras.utils.set_random_seed(0)
    return models.build("lenet5", (28, 28, 1), 10, conv_impl="auto")


def test_auto_puts_each_layer_on_the_faster_kernel_with_the_same_weights_and_outputs(
    lenet, tmp_path
):
    tuning = autotune.tune(lenet, 16, cache=tmp_path, timer=StubTimer())

    tuned = tuning.model
    for name in LENET_LAYERS:
        on_im2col = isinstance(tuned.get_layer(name), Im2ColConv2D | Im2ColPool2D)
        assert on_im2col == (name in FASTER_ON_IM2COL), name
    assert {c.layer: c.kernel for c in tuning.choices} == {
        name: "im2col" if name in FASTER_ON_IM2COL else "native" for name in LENET_LAYERS
    }
    assert tuning.counts() == {"native": 2, "im2col": 2}
    for got, expected in zip(tuned.get_weights(), lenet.get_weights(), strict=True):
        np.testing.assert_array_equal(got, expected)
    images = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(tuned(images), lenet(images), rtol=1e-5, atol=1e-6)


def test_each_layer_is_timed_at_its_input_shape_with_the_batch_and_no_input_gradient_first(
    lenet, tmp_path
):
    timer = StubTimer()
    autotune.tune(lenet, 16, cache=tmp_path, timer=timer)
    assert timer.timed == [
        ("c1", (16, 28, 28, 1), False),  # training needs no gradient of the images
        ("s2", (16, 28, 28, 6), True),
        ("c3", (16, 14, 14, 6), True),
        ("s4", (16, 10, 10, 16), True),
    ]


def test_the_whole_model_is_timed_all_native_and_with_the_choices_and_kept_if_faster(
    lenet, tmp_path
):
    timer = StubTimer(model_ratio=0.5)
    kept = autotune.tune(lenet, 16, cache=tmp_path, timer=timer)
    (check,) = timer.models
    assert not any(
        isinstance(layer, Im2ColConv2D | Im2ColPool2D) for layer in check["native"].layers
    )
    assert isinstance(check["im2col"].get_layer("c1"), Im2ColConv2D)
    assert isinstance(check["im2col"].get_layer("s4"), Im2ColPool2D)
    assert kept.counts() == {"native": 2, "im2col": 2}
    assert "whole model with the layers' im2col choices 0.50x: kept" in kept.table()


def test_the_whole_model_check_times_what_fit_runs_a_compiled_train_step_with_loss_and_optimizer(
    lenet, tmp_path
):
    timer = StubTimer()
    autotune.tune(lenet, 16, cache=tmp_path, timer=timer)
    (check,) = timer.models
    for model in check.values():
        assert isinstance(model.optimizer, keras.optimizers.SGD)
        assert isinstance(model.loss, keras.losses.CategoricalCrossentropy)
    assert not lenet.compiled  # the copies are compiled, not the model


@pytest.mark.parametrize("model_ratio", [1.3, 0.8])  # slower; faster but within the margin
def test_choices_that_do_not_make_the_whole_step_faster_go_back_to_all_native(
    lenet, tmp_path, model_ratio
):
    dropped = autotune.tune(lenet, 16, cache=tmp_path, timer=StubTimer(model_ratio))
    assert dropped.model is lenet
    assert dropped.counts() == {"native": 4, "im2col": 0}
    assert {c.layer: c.im2col_ms for c in dropped.choices}["c1"] == 0.5  # still shown
    verdict = f"whole model with the layers' im2col choices {model_ratio:.2f}x: dropped"
    assert verdict in dropped.table()
    assert verdict in plot_kernel_choices(dropped).axes[0].get_title()


# The check's steady steps: 10 ms all native, 5 ms with the choices; the first step compiles the
# im2col ops for 800 ms against native's 300. Over S steps: (5 S + 795) / (10 S + 290).
COMPILING = {"native_first": 300.0, "im2col_first": 800.0}


@pytest.mark.parametrize(
    ("steps", "ratio", "verdict"), [(100, 1295 / 1290, "dropped"), (10_000, 50795 / 100290, "kept")]
)
def test_the_check_weighs_the_runs_steps_against_the_first_steps_compiling(
    lenet, tmp_path, steps, ratio, verdict
):
    timer = StubTimer(model_ratio=0.5, first_ms=COMPILING)
    tuning = autotune.tune(lenet, 16, cache=tmp_path, timer=timer, steps=steps)
    assert tuning.check_ratio() == pytest.approx(ratio)
    assert tuning.counts()["im2col"] == (2 if verdict == "kept" else 0)
    assert f"{ratio:.2f}x over {steps} steps with compiling: {verdict}" in tuning.table()
    assert "its first step (tracing, compiling): 300 ms all native, 800 ms" in tuning.table()


def test_without_the_runs_length_the_steady_step_decides(lenet, tmp_path):
    timer = StubTimer(model_ratio=0.5, first_ms=COMPILING)
    tuning = autotune.tune(lenet, 16, cache=tmp_path, timer=timer)
    assert (tuning.check_ratio(), tuning.counts()["im2col"]) == (0.5, 2)


def test_a_cached_whole_model_check_of_another_meaning_is_timed_again_the_layers_are_not(
    lenet, tmp_path, monkeypatch
):
    autotune.tune(lenet, 16, cache=tmp_path, timer=StubTimer())
    monkeypatch.setattr(autotune, "MODEL_CHECK", "the gradient of the outputs' sum")
    timer = StubTimer()
    again = autotune.tune(lenet, 16, cache=tmp_path, timer=timer)
    assert (timer.timed, len(timer.models), again.measured) == ([], 1, 1)


class DrawingTimer(StubTimer):
    """Draws from every global random source, as building layers and training steps do."""

    def __call__(self, kernels, input_shape, input_gradient):
        random.random(), np.random.random(), keras.random.normal((2,))
        return super().__call__(kernels, input_shape, input_gradient)


def test_timing_leaves_the_random_state_as_a_cached_tuning_does(tmp_path):
    def tune_then_draw(timer) -> tuple:
        keras.utils.set_random_seed(0)
        model = models.build("lenet5", (28, 28, 1), 10, conv_impl="auto")
        tuned = autotune.tune(model, 16, cache=tmp_path, timer=timer).model
        draws = (random.random(), np.random.random(), float(keras.random.normal(())))
        return draws, tuned.get_weights()

    timed, timed_weights = tune_then_draw(DrawingTimer())
    cached, cached_weights = tune_then_draw(never_called)
    assert timed == cached
    for t, c in zip(timed_weights, cached_weights, strict=True):
        np.testing.assert_array_equal(t, c)


def test_a_second_tuning_reads_the_cache_and_times_nothing(lenet, tmp_path):
    first = autotune.tune(lenet, 16, cache=tmp_path, timer=StubTimer())
    again = autotune.tune(lenet, 16, cache=tmp_path, timer=never_called)
    assert again.choices == first.choices
    assert (again.measured, again.seconds) == (0, 0.0)
    assert "every timing from the cache" in again.table()


def test_layers_of_one_geometry_are_timed_once(tmp_path):
    inputs = keras.Input((8, 8, 4))
    x = keras.layers.Conv2D(4, 3, padding="same", name="a")(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", name="b")(x)  # a's geometry, after a
    x = keras.layers.Conv2D(4, 3, padding="same", name="c")(x)
    model = keras.Model(inputs, x)
    timer = StubTimer()
    tuning = autotune.tune(model, 2, cache=tmp_path, timer=timer)
    assert [name for name, *_ in timer.timed] == ["a", "b"]  # a has no input gradient to time
    assert (tuning.geometries, tuning.measured) == (2, 2)


def test_another_batch_size_or_machine_is_timed_anew(lenet, tmp_path, monkeypatch):
    autotune.tune(lenet, 16, cache=tmp_path, timer=StubTimer())
    timer = StubTimer()
    autotune.tune(lenet, 32, cache=tmp_path, timer=timer)
    assert len(timer.timed) == 4

    other_machine = {**autotune.machine(), "onednn": not autotune.onednn_enabled()}
    monkeypatch.setattr(autotune, "machine", lambda: other_machine)
    timer = StubTimer()
    autotune.tune(lenet, 16, cache=tmp_path, timer=timer)
    assert len(timer.timed) == 4


def test_the_cache_lives_in_xdg_cache_home_or_the_home_folders_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert autotune.cache_dir() == tmp_path / "xdg" / "cnnlab"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert autotune.cache_dir() == tmp_path / ".cache" / "cnnlab"


def test_an_unreadable_cache_file_is_timed_again(lenet, tmp_path):
    autotune.tune(lenet, 16, cache=tmp_path, timer=StubTimer())
    (cache_file,) = (tmp_path / "conv_impl").glob("*.json")
    cache_file.write_text("{not json")
    timer = StubTimer()
    autotune.tune(lenet, 16, cache=tmp_path, timer=timer)
    assert len(timer.timed) == 4


def test_the_real_timer_times_a_training_step_of_both_kernels():
    conv = keras.layers.Conv2D(4, 3, padding="same", name="conv")
    ms = autotune.time_kernels(autotune.twins(conv), (2, 8, 8, 3), input_gradient=True)
    assert set(ms) == {"native", "im2col", "native_first", "im2col_first"}
    assert all(0 < t < 10_000 and math.isfinite(t) for t in ms.values())
    assert ms["im2col_first"] > ms["im2col"]  # tracing and compiling


def test_the_real_timer_runs_the_compiled_train_step_of_whole_models(lenet):
    models_ = {
        "native": autotune.compiled(autotune.copy(lenet, set())),
        "im2col": autotune.compiled(autotune.copy(lenet, {"s2"})),
    }
    weights = lenet.get_weights()
    ms = autotune.time_kernels(models_, (4, 28, 28, 1), input_gradient=False)
    assert all(0 < t < 10_000 and math.isfinite(t) for t in ms.values())
    steps = autotune.WARMUP_STEPS + autotune.TIMED_STEPS
    for model in models_.values():  # each step updated the weights through the optimizer
        assert int(model.optimizer.iterations) == steps
        assert not np.array_equal(model.get_weights()[0], weights[0])
    for got, before in zip(lenet.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(got, before)


def test_the_whole_model_check_trains_every_output_of_a_model_with_auxiliary_classifiers():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(keras.layers.Conv2D(4, 3, name="conv")(inputs))
    main = keras.layers.Dense(10, activation="softmax", name=models.MAIN_OUTPUT)(x)
    aux = keras.layers.Dense(10, activation="softmax", name="aux1")(x)
    model = with_auxiliary_outputs(inputs, main, {"aux1": aux}, 0.3, "tiny")
    checked = autotune.compiled(autotune.copy(model, {"conv"}))
    total, main_loss, aux_loss = autotune.fit_step(checked, 4)()
    assert total == pytest.approx(main_loss + 0.3 * aux_loss, rel=1e-5)  # the paper's weighting
    assert int(checked.optimizer.iterations) == 1


def test_the_table_names_each_layer_geometry_timings_and_choice(lenet, tmp_path):
    table = autotune.tune(lenet, 16, cache=tmp_path, timer=StubTimer()).table()
    assert "2 of 4 conv/pool layers on im2col" in table
    assert "oneDNN" in table
    assert "c1     conv 5x5/1 same 1->6 at 28x28x1        1.000      0.500  im2col" in table
    assert "s2     max pool 2x2/2 valid at 28x28x6        1.000      2.000  native" in table


def test_a_run_with_auto_logs_its_choices_and_saves_the_chosen_layers(
    make_cfg, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(autotune, "time_kernels", StubTimer())
    cfg = make_cfg("debug=fast", "model.conv_impl=auto", "tracking.log_model=false")
    result = train(cfg, output_dir=tmp_path / "run")
    steps = cfg.trainer.epochs * cfg.trainer.steps_per_epoch  # the check counts the run's steps

    run = tracking.get_run(result.run_id, cfg.tracking)
    assert run.info.status == "FINISHED"
    assert run.data.params["autotune.im2col_layers"] == "2"
    assert run.data.params["autotune.native_layers"] == "2"
    table = mlflow.artifacts.load_text(f"runs:/{result.run_id}/autotune.txt")
    assert "c1" in table and "im2col" in table
    assert f"choices 0.50x over {steps} steps with compiling: kept" in table
    assert "autotune.png" in tracking.list_artifacts(result.run_id, cfg.tracking)
    saved = keras.saving.load_model(result.model_path)
    assert isinstance(saved.get_layer("c1"), Im2ColConv2D)
    assert isinstance(saved.get_layer("c3"), keras.layers.Conv2D)


def test_make_profile_with_auto_prints_the_choice_per_layer(tmp_path, monkeypatch, capsys):
    # `make profile ARGS="model=lenet5 model.conv_impl=auto"`
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(autotune, "time_kernels", StubTimer())
    status, stderr = run_pipeline(
        monkeypatch, "profile", "model.conv_impl=auto", "batch_size=8", f"hydra.run.dir={tmp_path}"
    )
    assert status == 0, stderr
    out = capsys.readouterr().out
    assert "2 of 4 conv/pool layers on im2col" in out
    assert "c1     conv 5x5/1 valid 1->6 at 32x32x1" in out


def test_make_profile_refuses_a_batch_size_below_one_in_one_line(tmp_path, monkeypatch):
    status, stderr = run_pipeline(
        monkeypatch, "profile", "model.conv_impl=auto", "batch_size=0", f"hydra.run.dir={tmp_path}"
    )
    assert status == 2
    assert "error: batch_size=0 is invalid: expected an integer >= 1" in stderr

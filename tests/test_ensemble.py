"""Ensembles: combining rules against hand-computed values, and ensemble runs on digits."""

import keras
import mlflow
import numpy as np
import pytest
from support.compose import compose_config

from cnnlab import tracking
from cnnlab.data import build_datasets
from cnnlab.ensemble import averaging_model, build_ensemble, majority_vote, weighted_average
from cnnlab.errors import ConfigError
from cnnlab.inference import split_pixels

pytestmark = pytest.mark.xdist_group("ensemble")  # one worker: the module's fixtures run once


def test_weighted_average_normalizes_the_weights():
    members = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])  # 2 members, 1 example, 2 classes
    np.testing.assert_allclose(weighted_average(members, [3.0, 1.0]), [[0.75, 0.25]])


def test_majority_vote_counts_argmaxes_and_breaks_ties_by_mean_probability():
    members = np.array(
        [
            [[0.6, 0.4, 0.0], [0.9, 0.1, 0.0]],
            [[0.6, 0.4, 0.0], [0.0, 0.6, 0.4]],
            [[0.0, 0.4, 0.6], [0.0, 0.45, 0.55]],
        ]
    )
    # example 0: class 0 has two votes; example 1: one vote each, class 1 has the best mean
    np.testing.assert_array_equal(majority_vote(members), [[1, 0, 0], [0, 1, 0]])


def pixel_member(seed: int) -> keras.Model:
    """A tiny untrained model on pixels of any size: global average, then softmax over 3."""
    pixels = keras.Input((None, None, 1))
    features = keras.layers.GlobalAveragePooling2D()(pixels)
    dense = keras.layers.Dense(
        3, activation="softmax", kernel_initializer=keras.initializers.RandomNormal(seed=seed)
    )
    return keras.Model(pixels, dense(features), name="member")


def test_weighted_averaging_model_equals_the_weighted_mean_of_members():
    members = [pixel_member(1), pixel_member(2)]
    pixels = np.random.default_rng(0).uniform(0, 255, (4, 5, 7, 1)).astype(np.float32) / 255
    outputs = np.stack([m.predict(pixels, verbose=0) for m in members])
    model = averaging_model(members, weights=[3.0, 1.0])
    np.testing.assert_allclose(
        model.predict(pixels, verbose=0), weighted_average(outputs, [3.0, 1.0]), atol=1e-6
    )


@pytest.fixture(scope="module")
def stores(tmp_path_factory, tfds_dir) -> list[str]:
    """A store of its own: these runs are searched by experiment."""
    root = tmp_path_factory.mktemp("ensembles")
    return [
        f"data.data_dir={tfds_dir}",
        f"tracking.uri=sqlite:///{root}/mlflow.db",
        f"tracking.artifact_location={root}/artifacts",
        "tracking.experiment=ensembles",
        "trainer.verbose=0",
    ]


@pytest.fixture(scope="module")
def trained(stores, tmp_path_factory):
    """Three LeNet-5 members (seeds 42, 43, 44), two short epochs each."""
    cfg = compose_config(
        "ensemble", *stores, "ensemble.members=3", "trainer.epochs=2", "trainer.batch_size=64"
    )
    return cfg, build_ensemble(cfg, output_dir=tmp_path_factory.mktemp("ensemble"))


def test_trained_ensemble_beats_the_mean_of_its_members_under_one_parent(trained):
    cfg, result = trained
    assert len(result.members) == 3 and all(m.trained for m in result.members)
    assert result.accuracy["mean"] >= result.mean_member
    parent = tracking.get_run(result.run_id, cfg.tracking)
    assert parent.data.tags["kind"] == "ensemble"
    metrics = parent.data.metrics
    assert metrics["test_accuracy"] == pytest.approx(result.accuracy["mean"])
    assert metrics["gain_over_best_member"] == pytest.approx(
        result.accuracy["mean"] - result.best_member
    )
    children = mlflow.search_runs(
        experiment_names=["ensembles"],
        filter_string=f"tags.mlflow.parentRunId = '{result.run_id}'",
        output_format="list",
    )
    assert {c.info.run_id for c in children} == {m.run_id for m in result.members}
    for child in children:  # each member's own test accuracy, as its training run logged it
        assert child.data.metrics["test_accuracy"] == pytest.approx(
            result.member_accuracy[child.info.run_name], abs=1e-6
        )
    assert {"ensemble.md", "ensemble.png"} <= set(
        tracking.list_artifacts(result.run_id, cfg.tracking)
    )


def test_ensemble_model_averages_its_members(trained):
    cfg, result = trained
    pixels = np.random.default_rng(0).uniform(0, 255, (5, 8, 8, 1)).astype(np.float32)
    members = [tracking.load_model(m.run_id, cfg.tracking) for m in result.members]
    expected = np.mean([m.predict(pixels, verbose=0) for m in members], axis=0)
    ensemble = tracking.load_model(result.run_id, cfg.tracking)
    np.testing.assert_allclose(ensemble.predict(pixels, verbose=0), expected, atol=1e-6)


def member_predictions(cfg, result) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each member's test probabilities (members, N, classes), the labels, the members'
    validation accuracies: recomputed from the logged models and runs."""
    pixels, labels = split_pixels(build_datasets(cfg), "test")
    members = [tracking.load_model(m.run_id, cfg.tracking) for m in result.members]
    probabilities = np.stack([m.predict(pixels, verbose=0) for m in members])
    val = [
        tracking.get_run(m.run_id, cfg.tracking).data.metrics["val_accuracy"]
        for m in result.members
    ]
    return probabilities, labels, np.array(val)


def test_parent_logs_each_combinations_accuracy_and_the_gains(trained):
    cfg, result = trained
    probabilities, labels, val = member_predictions(cfg, result)
    members = (probabilities.argmax(axis=2) == labels).mean(axis=1)
    expected = {
        "test_accuracy_mean": probabilities.mean(axis=0),
        "test_accuracy_weighted": weighted_average(probabilities, val),
        "test_accuracy_vote": majority_vote(probabilities),
    }
    metrics = tracking.get_run(result.run_id, cfg.tracking).data.metrics
    for key, combined in expected.items():
        assert metrics[key] == pytest.approx(np.mean(combined.argmax(axis=1) == labels)), key
    assert metrics["gain_over_member_mean"] == pytest.approx(
        metrics["test_accuracy_mean"] - members.mean()
    )
    assert metrics["gain_over_best_member"] == pytest.approx(
        metrics["test_accuracy_mean"] - members.max()
    )


def test_weighted_export_logs_the_validation_weighted_average(trained, stores, tmp_path):
    cfg, result = trained
    ids = ",".join(m.run_id for m in result.members)
    exported = build_ensemble(
        compose_config(
            "ensemble", *stores, f"ensemble.run_ids=[{ids}]", "ensemble.export=weighted"
        ),
        output_dir=tmp_path,
    )
    probabilities, _, val = member_predictions(cfg, result)
    pixels, _ = split_pixels(build_datasets(cfg), "test")
    model = tracking.load_model(exported.run_id, cfg.tracking)
    np.testing.assert_allclose(
        model.predict(pixels[:16], verbose=0),
        weighted_average(probabilities[:, :16], val),
        atol=1e-6,
    )
    metrics = tracking.get_run(exported.run_id, cfg.tracking).data.metrics
    assert metrics["test_accuracy"] == metrics["test_accuracy_weighted"]


def test_members_gathered_by_an_mlflow_filter(trained, stores, tmp_path):
    _, result = trained
    cfg = compose_config("ensemble", *stores, "ensemble.filter='params.seed = \"43\"'")
    gathered = build_ensemble(cfg, output_dir=tmp_path)
    assert [m.run_id for m in gathered.members] == [result.members[1].run_id]  # seed 42 + 1


@pytest.mark.slow  # trains two more members (make test-all)
def test_members_vary_by_architecture_and_input_scale(stores, tmp_path):
    cfg = compose_config(
        "ensemble",
        *stores,
        "tracking.experiment=ensemble-variety",
        "ensemble.members=2",
        "ensemble.models=[lenet5,simple_convnet]",
        "ensemble.image_sizes=[[28,28],[32,32]]",
        "debug=fast",
    )
    result = build_ensemble(cfg, output_dir=tmp_path)
    params = [tracking.get_run(m.run_id, cfg.tracking).data.params for m in result.members]
    assert [p["model.name"] for p in params] == ["lenet5", "simple_convnet"]
    assert [p["data.image_size"] for p in params] == ["[28, 28]", "[32, 32]"]
    assert [p["seed"] for p in params] == ["42", "43"]


def test_members_gathered_by_run_ids_give_the_same_numbers(trained, stores, tmp_path):
    _, result = trained
    ids = ",".join(m.run_id for m in result.members)
    cfg = compose_config("ensemble", *stores, f"ensemble.run_ids=[{ids}]")
    gathered = build_ensemble(cfg, output_dir=tmp_path)
    assert not any(m.trained for m in gathered.members)
    assert gathered.member_accuracy == pytest.approx(result.member_accuracy)
    assert gathered.accuracy == pytest.approx(result.accuracy)
    member = tracking.get_run(result.members[0].run_id, cfg.tracking)
    assert member.data.tags[f"ensemble.{gathered.run_id}"] == "member"


def test_top_k_children_of_a_sweep_parent_are_gathered_best_first(trained, stores, tmp_path):
    cfg, result = trained
    with tracking.run(cfg.tracking, "sweep", {"kind": "sweep"}) as sweep_id:
        pass
    for member in result.members:
        tracking.set_run_tags(member.run_id, {"mlflow.parentRunId": sweep_id}, cfg.tracking)
    cfg = compose_config(
        "ensemble",
        *stores,
        f"ensemble.sweep_parent={sweep_id}",
        "ensemble.top_k=2",
        "ensemble.metric=test_accuracy",
    )
    gathered = build_ensemble(cfg, output_dir=tmp_path)
    best_two = sorted(result.member_accuracy.values(), reverse=True)[:2]
    assert list(gathered.member_accuracy.values()) == pytest.approx(best_two)


def test_two_ways_of_gathering_at_once_is_one_clear_error(stores):
    with pytest.raises(
        ConfigError, match=r"ensemble.sweep_parent is invalid with ensemble.run_ids"
    ):
        compose_config("ensemble", *stores, "ensemble.run_ids=[a]", "ensemble.sweep_parent=b")


def test_unknown_member_run_is_one_clear_error(stores):
    cfg = compose_config("ensemble", *stores, "ensemble.run_ids=[0123456789abcdef]")
    with pytest.raises(ConfigError, match=r"run '0123456789abcdef' is unknown"):
        build_ensemble(cfg)

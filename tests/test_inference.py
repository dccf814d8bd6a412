"""A trained run's MLflow model: raw pixels in, pyfunc in a fresh interpreter, `mlflow models
serve` over HTTP, the Model Registry, and the evaluate and predict pipelines."""

import csv
import json
import os
import subprocess
import sys
import urllib.request

import keras
import mlflow
import numpy as np
import pytest
from PIL import Image
from support.compose import compose_config
from support.in_process import run_pipeline
from support.servers import serve_on_a_free_port, stop, with_env_bin

from cnnlab import tracking
from cnnlab.data import build_datasets
from cnnlab.errors import ConfigError
from cnnlab.inference import evaluate_run, predict_files, split_pixels, write_csv
from cnnlab.inference.predict import image_files
from cnnlab.training import train

pytestmark = pytest.mark.xdist_group("inference")  # one worker: the module's fixtures run once


@pytest.fixture(scope="module")
def store(tmp_path_factory, tfds_dir) -> dict[str, str]:
    root = tmp_path_factory.mktemp("inference")
    return {
        "uri": f"sqlite:///{root}/mlflow.db",
        "overrides": [
            f"tracking.uri=sqlite:///{root}/mlflow.db",
            f"tracking.artifact_location={root}/artifacts",
            "tracking.experiment=inference",
        ],
        "data_dir": str(tfds_dir),
    }


@pytest.fixture(scope="module")
def trained(store, tmp_path_factory):
    """One short LeNet-5 run on standardized digits, registered as `digits-lenet5`."""
    cfg = compose_config(
        "train",
        *store["overrides"],
        f"data.data_dir={store['data_dir']}",
        "data.normalize=true",
        "trainer.epochs=2",
        "trainer.batch_size=64",
        "trainer.verbose=0",
        "tracking.register_as=digits-lenet5",
    )
    return cfg, train(cfg, output_dir=tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def test_split(trained):
    cfg, _ = trained
    return split_pixels(build_datasets(cfg), "test")


def test_logged_model_repeats_the_input_pipeline_on_raw_pixels(trained, test_split):
    cfg, result = trained
    network = keras.saving.load_model(result.model_path)  # takes the pipeline's standardized images
    expected = network.predict(build_datasets(cfg).test, verbose=0)
    pixels, _ = test_split  # the same test images as stored: 8x8 pixel values in [0, 255]
    logged = tracking.load_model(result.run_id, cfg.tracking)
    np.testing.assert_allclose(logged.predict(pixels, verbose=0), expected, atol=1e-5)
    metadata = tracking.model_metadata(result.run_id, cfg.tracking)
    assert metadata["input_shape"] == [28, 28, 1] and metadata["normalization"]["mean"][0] > 0


def test_pyfunc_predicts_in_a_fresh_interpreter(trained, test_split, store, tmp_path):
    cfg, result = trained
    pixels = test_split[0][:8]
    np.save(tmp_path / "pixels.npy", pixels)
    script = (
        "import sys, mlflow, numpy as np;"
        "m = mlflow.pyfunc.load_model(sys.argv[1]);"
        "np.save(sys.argv[3], np.asarray(m.predict(np.load(sys.argv[2]))))"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": store["uri"]}
    model_uri = f"runs:/{result.run_id}/model"
    subprocess.run(
        [sys.executable, "-c", script, model_uri, tmp_path / "pixels.npy", tmp_path / "out.npy"],
        check=True,
        env=env,
        capture_output=True,
    )
    expected = tracking.load_model(result.run_id, cfg.tracking).predict(pixels, verbose=0)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-5)


@pytest.mark.slow  # trains an im2col model, then a fresh interpreter loads it
def test_a_model_with_cnnlab_layers_loads_with_pyfunc_without_importing_cnnlab(store, tmp_path):
    cfg = compose_config(
        "train",
        *store["overrides"],
        f"data.data_dir={store['data_dir']}",
        "debug=fast",
        "model.conv_impl=im2col",
        "trainer.verbose=0",
    )
    result = train(cfg, output_dir=tmp_path / "run")
    pixels = np.random.default_rng(0).uniform(0, 255, (3, 8, 8, 1)).astype(np.float32)
    np.save(tmp_path / "pixels.npy", pixels)
    script = (
        "import sys, mlflow, numpy as np;"
        "assert 'cnnlab' not in sys.modules;"
        "m = mlflow.pyfunc.load_model(sys.argv[1]);"
        "np.save(sys.argv[3], np.asarray(m.predict(np.load(sys.argv[2]))))"
    )
    subprocess.run(
        [
            *(sys.executable, "-c", script, f"runs:/{result.run_id}/model"),
            *(tmp_path / "pixels.npy", tmp_path / "out.npy"),
        ],
        check=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": store["uri"]},
        capture_output=True,
    )
    expected = tracking.load_model(result.run_id, cfg.tracking).predict(pixels, verbose=0)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-5)
    metadata = tracking.model_metadata(result.run_id, cfg.tracking)
    assert metadata["import_before_loading"] == ["cnnlab.models"]


def test_mlflow_models_serve_answers_http_requests(trained, test_split, store, tmp_path):
    cfg, result = trained
    log = tmp_path / "server.log"

    def serve(port: int) -> subprocess.Popen:
        with log.open("w") as output:
            return subprocess.Popen(
                [
                    *(sys.executable, "-m", "mlflow", "models", "serve"),
                    *("-m", f"runs:/{result.run_id}/model", "--env-manager", "local"),
                    *("--host", "127.0.0.1", "--port", str(port)),
                ],
                env=with_env_bin({**os.environ, "MLFLOW_TRACKING_URI": store["uri"]}),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    server, port = serve_on_a_free_port(serve, "http://127.0.0.1:{port}/ping", log, seconds=180)
    try:
        pixels = test_split[0][:4]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps({"inputs": pixels.tolist()}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = np.asarray(json.load(response)["predictions"])
    finally:
        stop(server)
    expected = tracking.load_model(result.run_id, cfg.tracking).predict(pixels, verbose=0)
    np.testing.assert_allclose(answer, expected, atol=1e-5)


def test_register_as_creates_a_model_version(trained, store):
    _, result = trained
    client = mlflow.MlflowClient(tracking_uri=store["uri"])
    (version,) = client.search_model_versions("name = 'digits-lenet5'")
    assert version.run_id == result.run_id


def test_evaluate_logs_accuracy_confusion_and_per_class_to_the_run(trained, store):
    cfg, result = trained
    evaluation = evaluate_run(
        compose_config("evaluate", *store["overrides"], f"run={result.run_id}")
    )
    # the logged model on raw pixels scores what training measured through the pipeline
    assert evaluation.metrics["eval_test_accuracy"] == pytest.approx(
        result.test_metrics["test_accuracy"], abs=1 / 360
    )
    assert evaluation.confusion.sum() == 360
    run = tracking.get_run(result.run_id, cfg.tracking)
    assert run.data.metrics["eval_test_accuracy"] == evaluation.metrics["eval_test_accuracy"]
    assert "eval_test_class_7_accuracy" in run.data.metrics
    artifacts = tracking.list_artifacts(result.run_id, cfg.tracking, "evaluation/eval_test")
    assert {
        "evaluation/eval_test/confusion.png",
        "evaluation/eval_test/most_confused.png",
        "evaluation/eval_test/per_class.md",
    } <= set(artifacts)


def test_evaluate_with_flips_averages_the_probabilities_of_each_image_and_its_mirror(
    trained, store
):
    cfg, result = trained
    evaluation = evaluate_run(
        compose_config(
            "evaluate",
            *store["overrides"],
            f"run={result.run_id}",
            "split=val",
            "test_time=flip",
        )
    )
    pixels, labels = split_pixels(build_datasets(cfg), "val")
    model = tracking.load_model(result.run_id, cfg.tracking)
    expected = (model.predict(pixels, verbose=0) + model.predict(pixels[:, :, ::-1], verbose=0)) / 2
    picked = expected[np.arange(len(labels)), labels]
    assert evaluation.prefix == "eval_val_flip" and evaluation.confusion.sum() == 144
    assert evaluation.metrics["eval_val_flip_loss"] == pytest.approx(
        -np.mean(np.log(picked)), rel=1e-4
    )
    assert evaluation.metrics["eval_val_flip_accuracy"] == pytest.approx(
        np.mean(expected.argmax(axis=1) == labels)
    )
    np.testing.assert_array_equal(
        np.diag(evaluation.confusion),
        np.bincount(labels[expected.argmax(axis=1) == labels], minlength=10),
    )


def test_logged_model_has_the_pixel_signature_an_input_example_and_its_metadata(
    trained, test_split
):
    cfg, result = trained
    info = mlflow.models.get_model_info(f"runs:/{result.run_id}/model")
    (inputs,) = info.signature.inputs.inputs
    (outputs,) = info.signature.outputs.inputs
    # unnamed: MLflow hands the model the array itself, as `model.predict` takes it
    assert (inputs.name, inputs.shape, inputs.type) == (None, (-1, -1, -1, 1), np.float32)
    assert (outputs.name, outputs.shape) == ("probabilities", (-1, 10))
    local = mlflow.artifacts.download_artifacts(f"runs:/{result.run_id}/model")
    example = mlflow.models.Model.load(local).load_input_example(local)
    np.testing.assert_array_equal(example, test_split[0][:2])  # the first test images
    metadata = tracking.model_metadata(result.run_id, cfg.tracking)
    assert metadata["class_names"] == [str(k) for k in range(10)]
    assert metadata["import_before_loading"] == []  # LeNet-5 is Keras layers only


def test_predict_reads_files_and_folders_and_skips_unreadable_ones(
    trained, test_split, store, tmp_path
):
    cfg, result = trained
    pixels, _ = test_split
    for i in range(3):
        Image.fromarray(pixels[i, ..., 0].astype(np.uint8)).save(tmp_path / f"digit{i}.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    (tmp_path / "notes.txt").write_text("not an image either")
    cfg_predict = compose_config(
        "predict",
        *store["overrides"],
        f"run={result.run_id}",
        f"images=[{tmp_path},{tmp_path / 'notes.txt'}]",
        "top_k=2",
        f"output={tmp_path / 'out.csv'}",
    )
    predictions, skipped = predict_files(cfg_predict)
    assert sorted(skipped) == [str(tmp_path / "broken.png"), str(tmp_path / "notes.txt")]
    expected = tracking.load_model(result.run_id, cfg.tracking).predict(pixels[:3], verbose=0)
    assert [p.top[0][0] for p in predictions] == [str(k) for k in expected.argmax(axis=1)]
    assert all(len(p.top) == 2 and p.top[0][1] >= p.top[1][1] for p in predictions)
    write_csv(predictions, tmp_path / "out.csv", 2)
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert (
        lines[0] == "file,class,probability,top1_class,top1_probability,top2_class,top2_probability"
    )
    assert len(lines) == 4


def test_a_run_without_a_model_is_one_clear_error(store):
    cfg = compose_config("train", *store["overrides"])
    with tracking.run(cfg.tracking, "no-model") as run_id:
        pass
    with pytest.raises(ConfigError, match=f"run '{run_id}' has no logged model 'model'"):
        tracking.load_model(run_id, cfg.tracking)


def test_predict_with_an_unknown_run_exits_with_one_line(store, tmp_path, monkeypatch):
    image = tmp_path / "digit.png"
    Image.new("L", (8, 8)).save(image)
    status, stderr = run_pipeline(
        monkeypatch,
        "predict",
        "run=feedfacefeedface",
        f"images={image}",
        *store["overrides"],
        f"hydra.run.dir={tmp_path / 'out'}",
    )
    assert status == 2
    assert stderr.strip().splitlines()[-1] == (
        f"error: run='feedfacefeedface' is unknown: no such run id or run name in {store['uri']}"
    )


def test_predict_command_line_writes_the_models_classes_to_predictions_csv(
    trained, test_split, store, tmp_path, monkeypatch
):
    cfg, result = trained
    pixels, _ = test_split
    files = []
    for i in range(3):
        files.append(tmp_path / f"digit{i}.png")
        Image.fromarray(pixels[i, ..., 0].astype(np.uint8)).save(files[-1])
    status, stderr = run_pipeline(
        monkeypatch,
        "predict",
        f"run={result.run_id}",
        f"images=[{','.join(map(str, files))}]",
        "top_k=2",
        *store["overrides"],
        f"hydra.run.dir={tmp_path / 'out'}",
    )
    assert status == 0, stderr
    with (tmp_path / "out" / "predictions.csv").open() as file:
        rows = list(csv.DictReader(file))
    expected = tracking.load_model(result.run_id, cfg.tracking).predict(pixels[:3], verbose=0)
    assert [row["file"] for row in rows] == [str(f) for f in files]
    assert [row["class"] for row in rows] == [str(k) for k in expected.argmax(axis=1)]
    np.testing.assert_allclose(
        [float(row["probability"]) for row in rows], expected.max(axis=1), atol=1e-5
    )
    second = np.sort(expected, axis=1)[:, -2]
    np.testing.assert_allclose([float(r["top2_probability"]) for r in rows], second, atol=1e-5)


def test_image_files_are_searched_in_folders_and_a_folder_without_images_is_refused(tmp_path):
    (tmp_path / "cats" / "young").mkdir(parents=True)
    for name in ("cats/b.PNG", "cats/young/a.jpg", "notes.txt", "c.webp"):
        (tmp_path / name).write_bytes(b"")
    given = tmp_path / "notes.txt"  # a file given by name is taken as it is
    assert image_files([str(tmp_path / "cats"), str(given)]) == [
        tmp_path / "cats" / "b.PNG",
        tmp_path / "cats" / "young" / "a.jpg",
        given,
    ]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"^images='.*/empty' is invalid: the folder holds no "):
        image_files([str(tmp_path / "empty")])
    with pytest.raises(ConfigError, match=r"^images='.*/gone' is invalid: no such file or folder"):
        image_files([str(tmp_path / "gone")])

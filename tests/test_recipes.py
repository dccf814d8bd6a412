"""The papers' recipes in conf/experiment/: each composes to its paper's settings and trains."""

import subprocess
import sys
from pathlib import Path

import pytest

from cnnlab import tracking
from cnnlab.training import train

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))
FROM_WEIGHTS = {"finetune_folder", "vgg_stagewise"}  # need a source: tests/test_warm_start.py
# The paper's numbers, one per recipe: (model, optimizer, lr, batch, L2, schedule).
PAPERS = {
    "lenet5_digits": ("lenet5", "sgd", 0.02, 32, 0.0, "cosine"),
    "alexnet_imagenet": ("alexnet", "sgd", 0.01, 128, 5e-4, "plateau"),
    "vgg16_imagenet": ("vgg16", "sgd", 0.01, 256, 5e-4, "plateau"),
    "resnet20_cifar10": ("resnet20", "sgd", 0.1, 128, 1e-4, "step"),
    "mobilenet_imagenet": ("mobilenet", "rmsprop", 0.045, 96, 4e-5, "exponential"),
}


def test_the_issue_recipes_exist():
    assert set(PAPERS) <= set(RECIPES)


@pytest.mark.parametrize("recipe", sorted(PAPERS))
def test_recipe_composes_to_its_papers_settings(make_cfg, recipe):
    cfg = make_cfg(f"experiment={recipe}")
    composed = (
        cfg.model.name,
        cfg.optimizer.name,
        cfg.optimizer.lr,
        cfg.trainer.batch_size,
        cfg.model.l2,
        cfg.schedule.name,
    )
    assert composed == PAPERS[recipe]
    if recipe != "mobilenet_imagenet":
        assert cfg.optimizer.momentum == 0.9


def test_resnet20_recipe_divides_the_lr_at_half_and_three_quarters(make_cfg):
    cfg = make_cfg("experiment=resnet20_cifar10")
    assert [m / cfg.trainer.epochs for m in cfg.schedule.milestones] == pytest.approx(
        [0.5, 0.75], abs=0.01
    )


HEAVY = {"alexnet_imagenet", "vgg16_imagenet", "mobilenet_imagenet"}  # 10-60 s each on 2 cores


@pytest.mark.parametrize(
    "recipe",
    [
        pytest.param(r, marks=[pytest.mark.slow] * (r in HEAVY))
        for r in RECIPES
        if r not in FROM_WEIGHTS
    ],
)
def test_recipe_trains_with_debug_fast(make_cfg, tmp_path, recipe):
    cfg = make_cfg(
        f"experiment={recipe}",
        "debug=fast",
        "data=synthetic",  # offline and small: the recipes' own data need a download
        "data.image_size=[32,32]",
        "data.load_size=[36,36]",  # larger than the crop, as the ImageNet recipes' crops need
        "data.train_size=64",
        "data.test_size=16",
        "trainer.batch_size=8",
        "tracking.log_model=false",
    )
    result = train(cfg, output_dir=tmp_path)
    run = tracking.get_run(result.run_id, cfg.tracking)
    assert run.info.status == "FINISHED"
    if recipe in PAPERS:  # the run recorded the paper's settings (the batch is the test's 8)
        model, optimizer, lr, _, l2, schedule = PAPERS[recipe]
        params = run.data.params
        assert (params["model.name"], params["optimizer.name"], params["schedule.name"]) == (
            model,
            optimizer,
            schedule,
        )
        assert float(params["optimizer.lr"]) == lr and float(params["model.l2"]) == l2


@pytest.mark.slow
def test_resnet20_recipe_on_synthetic_data_ends_finished(tmp_path):
    """The issue's command: `make train ARGS="experiment=resnet20_cifar10 data=synthetic trainer.epochs=1"`."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "pipelines" / "train.py"),
            "experiment=resnet20_cifar10",
            "data=synthetic",
            "trainer.epochs=1",
            f"tracking.uri={uri}",
            f"hydra.run.dir={tmp_path}/run",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    import mlflow

    mlflow.set_tracking_uri(uri)
    (run,) = mlflow.search_runs(experiment_names=["cnnlab"], output_format="list")
    assert run.info.status == "FINISHED" and run.data.params["model.l2"] == "0.0001"

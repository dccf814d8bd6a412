"""The model registry: names, options and input geometry."""

import pytest
from omegaconf import OmegaConf
from support.model_builds import CONF_MODEL, per_family

from cnnlab import models
from cnnlab.choices import DEFAULT_INIT, LEAKY_SLOPE
from cnnlab.config.model import MODEL_SCHEMAS, model_schema, registered_builders
from cnnlab.errors import ConfigError, GeometryError
from cnnlab.models import _registry


@pytest.mark.parametrize("name", per_family(models.available()))
def test_every_registered_model_builds_for_digits(name):
    model = models.build(name, (32, 32, 1), 10)
    assert models.inference_model(model).output_shape == (None, 10)


def test_unknown_model_lists_the_available_names():
    with pytest.raises(
        ConfigError, match=r"model.name='nope' is unknown; available: .*lenet5.*simple_convnet"
    ):
        models.build("nope", (28, 28, 1), 10)


def test_unknown_option_names_the_accepted_ones():
    with pytest.raises(
        ConfigError, match=r"model=lenet5 got unknown option\(s\) filterz; accepted: .*conv_impl"
    ):
        models.build("lenet5", (28, 28, 1), 10, filterz=3)


@pytest.mark.parametrize(
    ("input_shape", "first_padding"),
    [((28, 28, 1), "auto"), ((32, 32, 1), "auto"), ((32, 32, 1), "valid")],
)
def test_lenet5_has_61706_parameters(input_shape, first_padding):
    # LeCun et al. 1998: C1 156 + C3 2,416 + F5 48,120 + F6 10,164 + output 850 (10 classes).
    assert (
        models.build("lenet5", input_shape, 10, first_padding=first_padding).count_params()
        == 61_706
    )


def test_simple_convnet_parameters_match_the_notes():
    # 28x28x1, conv 30@5x5 -> 24x24x30, pool -> 12x12x30 = 4,320 -> 100 -> 10
    expected = (5 * 5 * 1 * 30 + 30) + (4_320 * 100 + 100) + (100 * 10 + 10)
    assert models.build("simple_convnet", (28, 28, 1), 10).count_params() == expected


def test_too_small_input_names_the_minimum_size():
    with pytest.raises(
        GeometryError,
        match=r"input_shape=\(8, 8, 1\) is too small for model=lenet5.*at least 12x12",
    ):
        models.build("lenet5", (8, 8, 1), 10, first_padding="same")


def test_minimum_input_side_is_the_smallest_that_builds():
    side = models.minimum_input_side("lenet5", channels=1, first_padding="valid")
    assert side == 16  # 16 -5+1 = 12 -> 6 -> 2 -> 1
    with pytest.raises(GeometryError):
        models.build("lenet5", (side - 1, side - 1, 1), 10, first_padding="valid")


def test_a_model_registers_its_paper_input_with_itself(monkeypatch):
    for table in ("_MODELS", "_PAPER_INPUTS", "_INITS"):
        monkeypatch.setattr(_registry, table, dict(getattr(_registry, table)))

    @models.register(paper_input=((48, 48, 1), 7), init="he_normal")
    def tiny_net(input_shape, num_classes, conv_impl="native"):
        return models.build("lenet5", input_shape, num_classes, conv_impl=conv_impl)

    assert "tiny_net" in models.available()
    assert models.paper_input("tiny_net") == ((48, 48, 1), 7)
    assert models.default_options("tiny_net") == {"conv_impl": "native", "init": "he_normal"}


@pytest.mark.parametrize("name", models.available())
def test_every_model_has_a_paper_input(name):
    (height, width, channels), classes = models.paper_input(name)
    assert height == width and channels in (1, 3) and classes in (10, 1000)


def test_every_registered_model_has_a_schema():
    assert sorted(MODEL_SCHEMAS) == models.available()


@pytest.mark.parametrize("name", models.available())
def test_model_schema_has_the_builders_options_and_defaults(name):
    # One source for each default: the schema, read from the builder's source without Keras,
    # holds what the imported builder's signature and the registry say.
    defaults = {
        key: list(v) if isinstance(v, tuple) else v
        for key, v in models.default_options(name).items()
    }
    assert MODEL_SCHEMAS[name]().options() == defaults


@pytest.mark.parametrize("name", models.available())
def test_model_config_file_holds_its_name_and_only_what_differs(name):
    config = OmegaConf.to_container(OmegaConf.load(CONF_MODEL / f"{name}.yaml"))
    assert config.pop("defaults") == [f"{name}_schema", "_self_"]
    assert config.pop("name") == name
    defaults = MODEL_SCHEMAS[name]().options()
    assert {key: value for key, value in config.items() if defaults.get(key) == value} == {}


def test_schema_reader_finds_registered_builders_their_literal_defaults_and_init(
    tmp_path, monkeypatch
):
    (tmp_path / "nets.py").write_text(
        "@register(paper_input=IMAGENET, init='he_uniform')\n"
        "def deep(input_shape, num_classes, conv_impl='native', blocks=(2, 3), activation='relu'):\n"
        "    pass\n"
        "@register(paper_input=CIFAR10)\n"
        "def small(input_shape, num_classes, width=1.0, stem='auto'):\n"
        "    pass\n"
        "def helper(x, y=1):\n"
        "    pass\n"
    )
    deep = {"conv_impl": "native", "blocks": [2, 3], "activation": "relu"}
    assert registered_builders(tmp_path) == {
        "deep": {**deep, "blocks": (2, 3), "init": "he_uniform", "leaky_slope": LEAKY_SLOPE},
        "small": {"width": 1.0, "stem": "auto", "init": DEFAULT_INIT},
    }
    schema = model_schema("deep", registered_builders(tmp_path)["deep"])
    monkeypatch.setitem(MODEL_SCHEMAS, "deep", schema)
    assert schema().options() == {**deep, "init": "he_uniform", "leaky_slope": LEAKY_SLOPE}

"""Schemas of the `model` group: one per registered model, derived from its builder's signature.

A model's options and their defaults are its builder's keyword arguments (`@register`-decorated
functions in `cnnlab/models/*.py`), plus the registry's own: `init` (the decorator's `init=`)
and `leaky_slope` where the model takes an `activation` (`cnnlab.models.default_options`). The
builders are read from their source with `ast`, without importing them: importing
`cnnlab.models` loads Keras (seconds), and a bad option must be refused when the config is
composed. `conf/model/<name>.yaml` extends `<name>_schema` and holds only what differs.
"""

import ast
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import MISSING

from cnnlab.checks import Checked
from cnnlab.choices import DEFAULT_INIT, LEAKY_SLOPE, MODEL_CHOICES, check_init

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
BUILDER_ARGUMENTS = ("input_shape", "num_classes")  # positional, given by the data


@dataclass
class ModelConfig(Checked):
    """What every model takes beside its builder's options: the run-level keys."""

    GROUP = "model"

    name: str = MISSING
    # the papers' L2 penalty on the kernels, (l2 / 2) * sum(w^2) added to the loss
    # (cnnlab.training.regularization)
    l2: float = 0.0
    # start from trained weights: a run (id, name, runs:/<id>/model), a .keras or .weights.h5
    # file, or keras:<vgg16|vgg19|mobilenet|inception_v3|resnet50> (cnnlab.training.warm_start)
    init_from: str | None = None
    weights_path: str | None = None  # with init_from=keras:<application>: a local copy (offline)
    # none | backbone (the loaded layers) | a layer or stage name: it and every layer before it
    # stay fixed (trainer.unfreeze_at_epoch frees them)
    freeze: str = "none"

    def __post_init__(self) -> None:
        self.require_choice("name", sorted(MODEL_SCHEMAS))
        self.require("l2", self.l2 >= 0, "a number >= 0")
        for key, allowed in MODEL_CHOICES.items():
            if getattr(self, key, None) is not None:  # None: LeNet-5's activation, the flavor's
                self.require_choice(key, allowed)
        if hasattr(self, "init"):
            check_init(self.init)
        if hasattr(self, "leaky_slope"):
            self.require("leaky_slope", 0 <= self.leaky_slope < 1, "a number in [0, 1)")

    def options(self) -> dict[str, Any]:
        """The keyword options of the model's builder (`cnnlab.models.build`)."""
        run_keys = {f.name for f in dataclasses.fields(ModelConfig)}
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in run_keys
        }


def builder_options(function: ast.FunctionDef) -> dict[str, Any]:
    """A builder's keyword options with their literal defaults, and the registry's."""
    arguments = function.args.args
    defaults = [None] * (len(arguments) - len(function.args.defaults)) + function.args.defaults
    options = {
        argument.arg: ast.literal_eval(default)
        for argument, default in zip(arguments, defaults, strict=True)
        if argument.arg not in BUILDER_ARGUMENTS
    }
    decorator = next(d for d in function.decorator_list if is_register(d))
    init = next((k.value for k in decorator.keywords if k.arg == "init"), None)
    options["init"] = DEFAULT_INIT if init is None else ast.literal_eval(init)
    if "activation" in options:
        options["leaky_slope"] = LEAKY_SLOPE
    return options


def is_register(decorator: ast.expr) -> bool:
    return isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "register"


def registered_builders(models_dir: Path = MODELS_DIR) -> dict[str, dict[str, Any]]:
    """{model name: its options and defaults} for every `@register`-decorated builder."""
    builders = {}
    for path in sorted(models_dir.glob("*.py")):
        for node in ast.parse(path.read_text(), filename=str(path)).body:
            if isinstance(node, ast.FunctionDef) and any(map(is_register, node.decorator_list)):
                builders[node.name] = builder_options(node)
    return builders


def option_type(key: str, default: Any) -> Any:
    """The field type of an option, from its default (and its list of choices)."""
    if default is None:
        return str | None if key in MODEL_CHOICES else Any
    if isinstance(default, tuple | list):
        return list[type(default[0])] if default else list[Any]
    return type(default)


def option_field(key: str, default: Any) -> tuple[str, Any, dataclasses.Field]:
    if isinstance(default, tuple | list):
        value = dataclasses.field(default_factory=lambda items=list(default): list(items))
    else:
        value = dataclasses.field(default=default)
    return key, option_type(key, default), value


def model_schema(name: str, options: dict[str, Any]) -> type[ModelConfig]:
    """The dataclass of model `name`: `ModelConfig` with the name and the builder's options."""
    fields = [option_field("name", name)]
    fields += [option_field(key, default) for key, default in options.items()]
    class_name = "".join(part.capitalize() for part in name.split("_")) + "Config"
    return dataclasses.make_dataclass(
        class_name, fields, bases=(ModelConfig,), namespace={"__module__": __name__}
    )


MODEL_SCHEMAS: dict[str, type[ModelConfig]] = {
    name: model_schema(name, options) for name, options in registered_builders().items()
}

"""Register every schema in Hydra's ConfigStore, where the YAML files in conf/ extend them.

A group's YAML starts with `defaults: [<schema>, _self_]` and holds only what differs from
the schema's defaults. Schema names end in `schema`, and `cnnlab.cli` hides them from help
and error messages, since they are not choices on their own.
"""

from hydra.core.config_store import ConfigStore

from cnnlab.checks import require_choice
from cnnlab.config.augment import AugmentConfig
from cnnlab.config.data import DATA_SCHEMAS
from cnnlab.config.ensemble import EnsembleConfig
from cnnlab.config.model import MODEL_SCHEMAS
from cnnlab.config.run import (
    EvaluateConfig,
    NotesConfig,
    PredictConfig,
    ProfileConfig,
    VisualizeConfig,
)
from cnnlab.config.sweep import SweepConfig
from cnnlab.config.tracking import TrackingConfig
from cnnlab.config.train import EnsembleRunConfig, TrainConfig
from cnnlab.config.training import OPTIMIZER_SCHEMAS, SCHEDULE_SCHEMAS, TrainerConfig
from cnnlab.config.viz import VIZ_SCHEMAS

SCHEMA_SUFFIX = "schema"


def register_schemas() -> None:
    store = ConfigStore.instance()
    store.store(name="train_schema", node=TrainConfig)
    store.store(name="ensemble_schema", node=EnsembleRunConfig)
    store.store(name="profile_schema", node=ProfileConfig)
    store.store(name="notes_schema", node=NotesConfig)
    store.store(name="visualize_schema", node=VisualizeConfig)
    store.store(name="evaluate_schema", node=EvaluateConfig)
    store.store(name="predict_schema", node=PredictConfig)
    store.store(group="ensemble", name="schema", node=EnsembleConfig)
    store.store(group="sweep", name="schema", node=SweepConfig)
    store.store(group="trainer", name="schema", node=TrainerConfig)
    store.store(group="tracking", name="schema", node=TrackingConfig)
    store.store(group="augment", name="schema", node=AugmentConfig)
    for group, schemas in (
        ("data", DATA_SCHEMAS),
        ("optimizer", OPTIMIZER_SCHEMAS),
        ("schedule", SCHEDULE_SCHEMAS),
        ("viz", VIZ_SCHEMAS),
        ("model", MODEL_SCHEMAS),
    ):
        for name, schema in schemas.items():
            store.store(group=group, name=f"{name}_schema", node=schema)


# A group with a schema per option: the key that names the option, and the schemas
SCHEMAS_BY_KEY: dict[str, tuple[str, dict[str, type]]] = {
    "data": ("source", DATA_SCHEMAS),
    "optimizer": ("name", OPTIMIZER_SCHEMAS),
    "schedule": ("name", SCHEDULE_SCHEMAS),
    "model": ("name", MODEL_SCHEMAS),
}
# A group with one schema
GROUP_SCHEMAS: dict[str, type] = {
    "augment": AugmentConfig,
    "trainer": TrainerConfig,
    "tracking": TrackingConfig,
    "sweep": SweepConfig,
    "ensemble": EnsembleConfig,
}


def has_schema(group: str) -> bool:
    return group in SCHEMAS_BY_KEY or group in GROUP_SCHEMAS


def schema_for(group: str, values: dict) -> type:
    """The schema of a group's config given as plain values (its `source` or `name` picks it)."""
    if group in SCHEMAS_BY_KEY:
        key, schemas = SCHEMAS_BY_KEY[group]
        require_choice(f"{group}.{key}", values.get(key), list(schemas))
        return schemas[values[key]]
    return GROUP_SCHEMAS[group]


def is_schema(option: str) -> bool:
    return option.endswith(SCHEMA_SUFFIX)

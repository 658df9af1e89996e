"""Structured configs, derived from the classes that own the settings, and their registration.

Hydra validates every composed config against these (a misspelt key or a wrong type fails at
compose time with Hydra's message). Each schema is generated from the engine class that defines
the settings, so a default or a new hyper-parameter is written once, beside the code using it:

    optimizer=<name>  the optimizer class's `__init__` keyword arguments   nn/optimizers.py
    dataset=<name>    the dataset source's fields, then `LoadOptions`       data/
    arch=<name>       the architecture spec's fields, at the top level      nn/architectures.py
    init              `WeightInit`                                          nn/init.py
    trainer           `TrainSettings`, then `RunSettings`                   train.py, build.py
    compare           `CompareOptions`, then `enabled`                      compare_options.py

The architecture keys sit at the top level so that users type `conv.filter_num=16`, not
`arch.conv.filter_num=16`. The YAML files in conf/ only select these schemas (and say why).
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from dataclasses import MISSING as NO_DEFAULT
from dataclasses import dataclass, field, make_dataclass
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from cnnsweep.build import RunSettings
from cnnsweep.compare_options import CompareOptions
from cnnsweep.data.datasets import LoadOptions, dataset_source, registered_datasets
from cnnsweep.launch.hydra_internals import register_ray_launcher_that_joins_clusters
from cnnsweep.nn.architectures import ARCHITECTURES
from cnnsweep.nn.init import WeightInit
from cnnsweep.nn.optimizers import OPTIMIZERS
from cnnsweep.resolvers import register_resolvers
from cnnsweep.train import TrainSettings

# OmegaConf needs typing.Optional/List, not PEP 604 unions or tuples, in structured configs.
# ruff: noqa: UP045, UP006, UP035

Setting = tuple[str, Any, Any]  # (name, type, default)


def _omegaconf_type(kind: Any) -> Any:
    """The structured-config type of an engine annotation: `int | None` → Optional[int],
    `tuple[int, ...]` → List[int], a nested dataclass → its derived schema."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return Optional[_omegaconf_type(inner[0])]
    if origin is tuple:
        return List[_omegaconf_type(args[0])]
    if dataclasses.is_dataclass(kind) and kind.__module__ != __name__:
        return schema_of(kind)  # an engine dataclass: its derived schema
    return kind


def _omegaconf_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return field(default_factory=_omegaconf_type(type(value)))
    if isinstance(value, (tuple, list)):
        return field(default_factory=lambda items=tuple(value): list(items))
    return value


def settings_of(cls: type) -> list[Setting]:
    """(name, type, default) of each setting of `cls`: its dataclass fields, else the keyword
    arguments of its `__init__` (an optimizer's hyper-parameters)."""
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not NO_DEFAULT else f.default_factory()
            out.append((f.name, hints[f.name], default))
        return out
    hints = typing.get_type_hints(cls.__init__)
    return [(p.name, hints.get(p.name, float), p.default)
            for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]


def make_schema(name: str, settings: list[Setting], bases: tuple[type, ...] = ()) -> type:
    """A mutable dataclass (what OmegaConf accepts) with these settings and their defaults,
    made once per name and kept as an attribute of this module under that name: launchers
    that re-compose configs in another process (submitit, Ray) pickle it by reference."""
    if name not in globals():
        schema = make_dataclass(name, [(n, _omegaconf_type(t), _omegaconf_default(d))
                                       for n, t, d in settings], bases=bases)
        schema.__module__, schema.__qualname__ = __name__, name
        globals()[name] = schema
    return globals()[name]


def schema_of(cls: type) -> type:
    """The derived structured config of an engine dataclass (one type per class)."""
    return make_schema(f"{cls.__name__}Config", settings_of(cls))


def __getattr__(name: str) -> type:
    """A derived schema looked up by name before it was made (a fresh process unpickling a
    config): make them all, then look again."""
    if name.startswith("__"):
        raise AttributeError(name)
    _config_schema()
    for option in OPTIMIZERS:
        optimizer_schema(option)
    for option in registered_datasets():
        dataset_schema(option)
    for spec in ARCHITECTURES.values():
        schema_of(spec)
    if name in globals():
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class OptimizerConfig:
    name: str = MISSING
    lr: float = MISSING


@dataclass
class DatasetConfig:
    name: str = MISSING


def optimizer_schema(name: str) -> type:
    """`name` plus the optimizer's hyper-parameters and defaults."""
    return make_schema(f"{OPTIMIZERS[name].__name__}Config",
                       [("name", str, name), *settings_of(OPTIMIZERS[name])], (OptimizerConfig,))


def dataset_schema(name: str) -> type:
    """`name`, the source's own options, then the options every dataset has."""
    return make_schema(f"{dataset_source(name).__name__}Config",
                       [("name", str, name), *settings_of(dataset_source(name)),
                        *settings_of(LoadOptions)], (DatasetConfig,))


InitConfig = schema_of(WeightInit)
TrainerConfig = make_schema("TrainerConfig", settings_of(TrainSettings) + settings_of(RunSettings))
CompareConfig = make_schema("CompareConfig", [
    *settings_of(CompareOptions),
    ("enabled", bool, True),  # compare the runs when a multirun ends (the Hydra callback)
])


def architecture_keys() -> list[Setting]:
    """Every architecture's settings, each key once, all optional: they share the top level and
    each `arch=<name>` sets its own."""
    seen: dict[str, Setting] = {}
    for spec in ARCHITECTURES.values():
        for name, kind, _ in settings_of(spec):
            kind = _omegaconf_type(kind)
            if name in seen and seen[name][1] != Optional[kind]:
                raise TypeError(f"architecture key {name!r} has two types: {seen[name][1]} and "
                                f"{kind} ({spec.__name__})")
            seen[name] = (name, Optional[kind], None)
    return list(seen.values())


def _config_schema() -> type:
    # Built when registered, so that optimizers, datasets and architectures defined by then
    # (including a user's own, imported before `register_configs`) are all part of it.
    return make_schema("Config", [
        ("dataset", DatasetConfig, MISSING),
        ("optimizer", OptimizerConfig, MISSING),
        ("init", InitConfig, MISSING),
        ("trainer", TrainerConfig, MISSING),
        ("network", str, MISSING),  # which architecture: set by arch=<name>
        *architecture_keys(),
        ("seed", int, 0),  # seeds initialisation, batch order and dropout of this run
        ("compare", CompareConfig, CompareConfig()),
    ])


def architecture_node(name: str) -> dict[str, Any]:
    """The top-level keys `arch=<name>` sets: `network` and the spec's defaults."""
    spec = ARCHITECTURES[name]()
    return {"network": name, **OmegaConf.to_container(OmegaConf.structured(
        schema_of(type(spec))))}


def register_configs() -> None:
    """Register the whole config's schema and one schema per option of each group; the YAML
    files of conf/<group>/ extend these (`/schema/<group>@_here_: <option>`)."""
    register_resolvers()
    cs = ConfigStore.instance()
    cs.store(name="cnnsweep_schema", node=_config_schema())
    cs.store(group="schema/init", name="init", node=InitConfig)
    cs.store(group="schema/trainer", name="trainer", node=TrainerConfig)
    for name in OPTIMIZERS:
        cs.store(group="schema/optimizer", name=name, node=optimizer_schema(name))
    for name in registered_datasets():
        cs.store(group="schema/dataset", name=name, node=dataset_schema(name))
    for name in ARCHITECTURES:
        cs.store(group="schema/arch", name=name, node=architecture_node(name))
    register_ray_launcher_that_joins_clusters(cs)



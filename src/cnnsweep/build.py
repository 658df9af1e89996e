"""A composed config → the checked parts of one run, before any data is loaded.

One step turns the config (a plain dict, as `OmegaConf.to_container` gives it) into the engine's
own objects: the dataset source, the architecture and its layer plan, the weight init, the
optimizer and the training settings. Every check is the engine's own and runs once; an error
becomes a `ConfigError` that names the config key it came from (`optimizer.lr=-0.1 must be a
positive number`). Neither Hydra nor OmegaConf is imported here.
"""

from __future__ import annotations

import contextlib
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from cnnsweep.compare_options import CompareOptions, closest_name
from cnnsweep.data.datasets import (
    DatasetSource,
    LoadOptions,
    dataset_source,
    float_dtype,
    registered_datasets,
)
from cnnsweep.nn.architectures import ARCHITECTURES, Architecture, plan_network
from cnnsweep.nn.checks import require_not_negative, require_positive
from cnnsweep.nn.init import WeightInit
from cnnsweep.nn.optimizers import OPTIMIZERS, Optimizer
from cnnsweep.nn.plan import LayerPlan
from cnnsweep.train import TrainSettings


class ConfigError(ValueError):
    """A config value that cannot work; the message names the key, the value and the fix."""


@dataclass(frozen=True)
class RunSettings:
    """The trainer settings that belong to the run rather than to the training loop."""

    weight_decay: float = 0.0  # L2 λ: 0.5·λ·ΣW² added to the loss (weights, not biases)
    dtype: str = "float32"  # float32 | float64: the data's and the network's
    # Threads per run: a convolutional network splits each batch over them (nn/parallel.py),
    # any other gives them to BLAS. Sums run in another order with another count, so a fixed
    # count keeps results identical under any n_jobs and launcher.
    threads: int = 1
    save_params: bool = True  # params.npz (final) and params_init.npz (first layer at start)
    # checkpoint.npz, for exact continuation (checkpoint.py): after every epoch, at the end, and
    # every checkpoint_seconds of training (at a step boundary). Neither changes the numbers,
    # so neither is part of the run's identity (runfolder.CHECKPOINT_KEYS).
    checkpoint: bool = True
    checkpoint_seconds: float = 300.0

    def __post_init__(self) -> None:
        require_not_negative("weight_decay", self.weight_decay)
        float_dtype(self.dtype)
        require_positive("threads", self.threads)
        require_positive("checkpoint_seconds", self.checkpoint_seconds)


@dataclass(frozen=True)
class RunParts:
    """Everything one run needs, checked; only the data and the weights are still to come."""

    source: DatasetSource
    load_options: LoadOptions
    input_shape: tuple[int, ...]
    n_classes: int
    architecture: Architecture
    layers: list[LayerPlan]
    init: WeightInit
    optimizer: Optimizer
    training: TrainSettings
    run: RunSettings
    seed: int


@contextlib.contextmanager
def keyed(prefix: str) -> Iterator[None]:
    """Turn the engine's `name=value …` errors into ConfigErrors named by their config key."""
    try:
        yield
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{prefix}{exc}") from None


def _field_type(cls: type, name: str) -> Any:
    return typing.get_type_hints(cls)[name]


def construct(cls: type, values: Mapping[str, Any], prefix: str = "") -> Any:
    """An instance of the dataclass `cls` from the config mapping `values`: nested dataclasses
    from sub-mappings, tuples from lists; keys that are not fields of `cls` are left out."""
    kwargs = {}
    for f in fields(cls):
        if f.name not in values:
            continue
        value, kind = values[f.name], _field_type(cls, f.name)
        if value is None and type(None) not in typing.get_args(kind):
            continue  # a key of another architecture, unset for this one: the default holds
        if is_dataclass(kind) and isinstance(value, Mapping):
            value = construct(kind, value, f"{prefix}{f.name}.")
        elif typing.get_origin(kind) is tuple and isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    with keyed(prefix):
        return cls(**kwargs)


def _fields(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def _nested(cls: type, prefix: str) -> list[str]:
    """Dotted keys of a dataclass, nested dataclass fields spelled out (`conv.filter_num`)."""
    keys = []
    for f in fields(cls):
        kind = _field_type(cls, f.name)
        keys += _nested(kind, f"{prefix}{f.name}.") if is_dataclass(kind) else \
            [f"{prefix}{f.name}"]
    return keys


def _group_keys() -> dict[str, dict[str, list[str]]]:
    """For each group with options: every option's keys (relative to the group)."""
    return {
        "optimizer": {name: ["name", *cls.hyperparameters()] for name, cls in OPTIMIZERS.items()},
        "dataset": {name: ["name", *_fields(cls), *_fields(LoadOptions)]
                    for name, cls in registered_datasets().items()},
        "arch": {name: _nested(cls, "") for name, cls in ARCHITECTURES.items()},
    }


def options_having(key: str) -> tuple[str, list[str]]:
    """The group a dotted config key belongs to and the options of that group that have it:
    ("arch", ["simple_convnet"]) for `conv.filter_num`, ("optimizer", ["momentum", "nesterov"])
    for `optimizer.momentum` (an architecture's keys sit at the top level)."""
    options = _group_keys()
    arch_keys = {k for keys in options["arch"].values() for k in keys}
    top = key.split(".")[0]
    if key in arch_keys or top in {k.split(".")[0] for k in arch_keys}:
        return "arch", [name for name, keys in options["arch"].items() if key in keys]
    relative = key.split(".", 1)[-1]
    return top, [name for name, keys in options.get(top, {}).items() if relative in keys]


def _common_keys() -> set[str]:
    """The keys every run has, whichever options it selected."""
    return {*(f"init.{k}" for k in _fields(WeightInit)),
            *(f"trainer.{k}" for k in _fields(TrainSettings) + _fields(RunSettings)),
            *(f"compare.{k}" for k in [*_fields(CompareOptions), "enabled"]),
            "network", "seed"}


def every_key() -> set[str]:
    """Every key some choice of options has (for hints where the choice is not known yet)."""
    options = _group_keys()
    return {*_common_keys(), *(k for keys in options["arch"].values() for k in keys),
            *(f"{group}.{k}" for group in ("optimizer", "dataset")
              for keys in options[group].values() for k in keys)}


def unknown_key_message(key: str, valid: set[str], chosen: Mapping[str, Any] | None = None) -> str:
    """Why `key` is not in the config, and the fix: the options that have it (`chosen` names
    the selected ones, when known), else the closest valid key, else where the keys are listed."""
    group, having = options_having(key)
    if having:
        selected = f"{group}={chosen.get(group)}" if chosen and chosen.get(group) \
            else "the selected option"
        return (f"{key} is a setting of {group}={', '.join(having)}, not of {selected}; "
                f"select {group}={having[0]}, or leave {key} out")
    close = closest_name(key, valid)
    hint = f"did you mean {close}?" if close else \
        f"the keys are {', '.join(sorted(k for k in valid if '.' not in k))}, and those " \
        "of dataset, optimizer, init, trainer and compare (python run.py --cfg job)"
    return f"{key} is not a config key: {hint}"


def check_keys(config: Mapping[str, Any]) -> None:
    """Every key of `config` must be a setting of the options it selected: a key added with
    `+` (which Hydra's schema lets through) or set for another option fails here, with the
    closest valid key or the options that have it."""
    options = _group_keys()
    chosen = {"optimizer": config.get("optimizer", {}).get("name"),
              "dataset": config.get("dataset", {}).get("name"), "arch": config.get("network")}
    valid = {*(f"optimizer.{k}" for k in options["optimizer"].get(chosen["optimizer"], [])),
             *(f"dataset.{k}" for k in options["dataset"].get(chosen["dataset"], [])),
             *options["arch"].get(chosen["arch"], []), *_common_keys()}
    other_arch = {k for names in options["arch"].values() for k in names} - valid
    # Another architecture's key, left unset (null), is fine: `conv: null` under arch=mlp.
    unset_elsewhere = other_arch | {k.split(".")[0] for k in other_arch}
    for key, value in _flat(config):
        if key in valid or (key in unset_elsewhere and value is None):
            continue
        raise ConfigError(unknown_key_message(key, valid, chosen))


def _flat(tree: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            out += _flat(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out


def build_run(config: Mapping[str, Any]) -> RunParts:
    """Check `config` and build what its run needs; raises ConfigError naming the key."""
    opt = dict(config["optimizer"])
    with keyed("optimizer."):
        optimizer_class = OPTIMIZERS.get(opt.get("name"))
        if optimizer_class is None:
            raise ValueError(f"name={opt.get('name')!r} is not one of {', '.join(OPTIMIZERS)}")
    with keyed(""):
        architecture_class = ARCHITECTURES.get(config.get("network"))
        if architecture_class is None:
            raise ValueError(f"network={config.get('network')!r} is not one of "
                             f"{', '.join(ARCHITECTURES)}; choose it with arch=<name>")
    with keyed("dataset."):
        source_class = dataset_source(config["dataset"]["name"])
    check_keys(config)
    with keyed("optimizer."):
        optimizer = optimizer_class(**{k: v for k, v in opt.items()
                                       if k in optimizer_class.hyperparameters()})
    trainer = config["trainer"]
    training = construct(TrainSettings, trainer, "trainer.")
    run = construct(RunSettings, trainer, "trainer.")
    init = construct(WeightInit, config["init"], "init.")
    architecture = construct(architecture_class, config)
    dataset = config["dataset"]
    source = construct(source_class, dataset, "dataset.")
    load_options = construct(LoadOptions, dataset, "dataset.")
    with keyed("dataset."):
        input_shape, n_classes = source.describe()
    with keyed(""):  # a GeometryError names the layer and the sizes
        layers = plan_network(architecture, input_shape, n_classes)
    return RunParts(source, load_options, input_shape, n_classes, architecture, layers, init,
                    optimizer, training, run, int(config.get("seed", 0)))

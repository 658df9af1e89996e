"""Structured configs: one dataclass per concern, registered in Hydra's ConfigStore.

Hydra validates every composed config against these at compose time (a misspelt key or a value
of the wrong type fails with Hydra's own message); `validate` then checks what types cannot
(ranges, the network geometry) before any data is loaded. The architecture keys sit at the top
level so that users type `conv.filter_num=16`, not `arch.conv.filter_num=16`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from cnnsweep.nn.init import INITIALISERS
from cnnsweep.nn.networks import (
    ConvSpec,
    DeepConvNetSpec,
    MLPSpec,
    PoolSpec,
    SimpleConvNetSpec,
    plan_network,
)
from cnnsweep.nn.optimizers import OPTIMIZERS
from cnnsweep.train import TrainSettings

# OmegaConf needs typing.Optional/List, not PEP 604 unions, in structured configs.
# ruff: noqa: UP045, UP006, UP035


class ConfigError(ValueError):
    """A config value that cannot work; the message names the key, the value and the fix."""


@dataclass
class DatasetConfig:
    name: str = MISSING  # mnist_mini (embedded), mnist (full) or idx (any IDX files)
    data_dir: Optional[str] = None  # mnist: folder of the four IDX files (default $MNIST_DIR)
    download: bool = True  # mnist: fetch missing files from the public mirrors
    train_images: Optional[str] = None  # idx: paths of the four files
    train_labels: Optional[str] = None
    test_images: Optional[str] = None
    test_labels: Optional[str] = None
    normalize: bool = True  # pixels / 255
    train_size: Optional[int] = None  # keep only the first N training images
    test_size: Optional[int] = None  # keep only the first N test images
    validation_fraction: float = 0.0  # hold out this share of the training images
    split_seed: int = 0  # seed of the hold-out permutation


@dataclass
class ConvConfig:
    filter_num: int = 30
    filter_size: int = 5
    pad: int = 0
    stride: int = 1


@dataclass
class PoolConfig:
    size: int = 2
    stride: int = 2
    pad: int = 0
    mode: str = "max"  # max | avg


@dataclass
class OptimizerConfig:
    name: str = MISSING
    lr: float = MISSING


@dataclass
class SGDConfig(OptimizerConfig):
    name: str = "sgd"
    lr: float = 0.01


@dataclass
class MomentumConfig(OptimizerConfig):
    name: str = "momentum"
    lr: float = 0.01
    momentum: float = 0.9


@dataclass
class NesterovConfig(MomentumConfig):
    name: str = "nesterov"


@dataclass
class AdaGradConfig(OptimizerConfig):
    name: str = "adagrad"
    lr: float = 0.01
    eps: float = 1e-7


@dataclass
class RMSpropConfig(OptimizerConfig):
    name: str = "rmsprop"
    lr: float = 0.01
    decay_rate: float = 0.99
    eps: float = 1e-7


@dataclass
class AdamConfig(OptimizerConfig):
    name: str = "adam"
    lr: float = 0.001
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-7


OPTIMIZER_SCHEMAS = {"sgd": SGDConfig, "momentum": MomentumConfig, "nesterov": NesterovConfig,
                     "adagrad": AdaGradConfig, "rmsprop": RMSpropConfig, "adam": AdamConfig}


@dataclass
class InitConfig:
    name: str = "std"  # std (fixed standard deviation) | xavier | he
    std: float = 0.01  # the standard deviation when name=std (SimpleConvNet's default)


@dataclass
class TrainerConfig:
    epochs: int = 5
    max_iterations: Optional[int] = None  # stop after this many updates (overrides epochs)
    batch_size: int = 100
    sampling: str = "shuffle"  # shuffle (a permutation per epoch) | replacement (the book's)
    eval_sample: Optional[int] = 1000  # images per epoch evaluation; null for all
    weight_decay: float = 0.0  # L2 λ: 0.5·λ·ΣW² added to the loss (weights, not biases)
    dtype: str = "float32"  # float32 | float64
    log_every: int = 1  # write the training loss every this many iterations
    # BLAS threads per run. OpenBLAS sums in a different order with another thread count, so
    # a fixed count keeps results identical under any n_jobs and launcher; 2 gains ~8% alone.
    threads: int = 1
    save_params: bool = True  # params.npz (final) and params_init.npz (first layer at start)


@dataclass
class CompareConfig:
    enabled: bool = True  # compare the runs when a multirun ends (the Hydra callback)
    by: Optional[List[str]] = None  # keys to compare; null: the keys that vary
    metric: str = "test_acc"  # summary metric that ranks the settings
    # Named figure types, drawn in this order (see cnnsweep.plots.FIGURES).
    figures: List[str] = field(
        default_factory=lambda: ["loss", "accuracy", "metric", "filters"])
    smooth: int = 11  # loss smoothing window in iterations (1: raw)
    loss_ylim: Optional[List[float]] = None  # y range of the loss figure, e.g. [0, 1]
    panels: Optional[str] = None  # key whose values split curves into panels (default: last key)
    top: int = 20  # top_curves: how many of the best runs to show


@dataclass
class Config:
    dataset: DatasetConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    init: InitConfig = MISSING
    trainer: TrainerConfig = MISSING
    # Architecture (set by the arch group, at the top level): which network, then its sizes.
    network: str = MISSING  # simple_convnet | mlp | deep_convnet
    conv: Optional[ConvConfig] = None  # simple_convnet
    pool: Optional[PoolConfig] = None  # simple_convnet
    hidden_size: Optional[int] = None  # simple_convnet, deep_convnet
    hidden_sizes: Optional[List[int]] = None  # mlp
    activation: Optional[str] = None  # mlp: relu | sigmoid
    channels: Optional[List[int]] = None  # deep_convnet: six conv widths
    batchnorm: bool = False
    dropout: float = 0.0  # dropout ratio after hidden activations (0: none)
    seed: int = 0  # seeds initialisation, batch order and dropout of this run
    compare: CompareConfig = field(default_factory=CompareConfig)


def run_name(override_dirname: str) -> str:
    """A run folder's name from its overrides: readable, one path component, not too long."""
    name = override_dirname.replace("/", "_").replace("\\", "_").strip(".") or "defaults"
    if len(name.encode()) > 200:  # file names stop at 255 bytes; keep it unique with a digest
        name = f"{name[:180]}~{hashlib.sha1(name.encode()).hexdigest()[:10]}"
    return name


OmegaConf.register_new_resolver("cnnsweep_run_name", run_name, replace=True)


def register_configs() -> None:
    """Register the schemas: the whole config and one per option of each group."""
    cs = ConfigStore.instance()
    cs.store(name="cnnsweep_schema", node=Config)
    cs.store(group="schema/dataset", name="dataset", node=DatasetConfig)
    cs.store(group="schema/init", name="init", node=InitConfig)
    cs.store(group="schema/trainer", name="trainer", node=TrainerConfig)
    for name, schema in OPTIMIZER_SCHEMAS.items():
        cs.store(group="schema/optimizer", name=name, node=schema)


def register_sweeps(sweeps_dir: Path) -> None:
    """Make every `sweeps/<name>.yaml` selectable as `+sweep=<name>` from any directory.

    Hydra reads extra search paths only from the primary config, relative to the working
    directory; registering the files in the ConfigStore by their absolute location avoids that.
    """
    cs = ConfigStore.instance()
    for path in sorted(Path(sweeps_dir).glob("*.yaml")):
        cs.store(group="sweep", name=path.stem, node=OmegaConf.load(path), package="_global_",
                 provider=f"cnnsweep sweeps ({path.parent})")


def arch_spec(cfg: Any) -> SimpleConvNetSpec | MLPSpec | DeepConvNetSpec:
    """The engine's architecture spec of a composed config."""
    if cfg.network == "simple_convnet":
        if cfg.conv is None or cfg.pool is None or cfg.hidden_size is None:
            raise ConfigError("network=simple_convnet needs conv, pool and hidden_size; "
                              "select it with arch=simple_convnet")
        return SimpleConvNetSpec(ConvSpec(**OmegaConf.to_container(cfg.conv)),
                                 PoolSpec(**OmegaConf.to_container(cfg.pool)),
                                 cfg.hidden_size, cfg.batchnorm, cfg.dropout)
    if cfg.network == "mlp":
        if cfg.hidden_sizes is None:
            raise ConfigError("network=mlp needs hidden_sizes; select it with arch=mlp")
        return MLPSpec(tuple(cfg.hidden_sizes), cfg.activation or "relu", cfg.batchnorm,
                       cfg.dropout)
    if cfg.network == "deep_convnet":
        channels = tuple(cfg.channels or DeepConvNetSpec.channels)
        return DeepConvNetSpec(channels, cfg.hidden_size or 50, cfg.dropout)
    raise ConfigError(f"network={cfg.network!r} is not one of simple_convnet, mlp, deep_convnet; "
                      "choose it with arch=<name>")


def train_settings(trainer: Any) -> TrainSettings:
    """The training loop's settings from the `trainer` config group."""
    return TrainSettings(epochs=trainer.epochs, batch_size=trainer.batch_size,
                         max_iterations=trainer.max_iterations, sampling=trainer.sampling,
                         eval_sample=trainer.eval_sample, log_every=trainer.log_every)


def _positive(key: str, value: float | None) -> None:
    if value is None or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{key}={value} must be a positive number")


def validate(cfg: DictConfig, input_shape: tuple[int, ...] | None = (1, 28, 28)) -> None:
    """Checks beyond types, run before any data is loaded; raises ConfigError naming the key.

    The network geometry is checked for `input_shape`; None (input not known before the data
    is read, as for `idx` files) checks the architecture's own values only.
    """
    opt = cfg.optimizer
    if opt.name not in OPTIMIZERS:
        raise ConfigError(f"optimizer.name={opt.name!r} is not one of {', '.join(OPTIMIZERS)}")
    _positive("optimizer.lr", opt.lr)
    for key in ("momentum", "decay_rate", "beta1", "beta2"):
        if key in opt and not 0.0 <= opt[key] < 1.0:
            raise ConfigError(f"optimizer.{key}={opt[key]} must be in [0, 1)")
    tr = cfg.trainer
    try:
        train_settings(tr)  # the training loop's own checks, named by their config key
    except ValueError as exc:
        raise ConfigError(f"trainer.{exc}") from None
    _positive("trainer.threads", tr.threads)
    if tr.weight_decay < 0:
        raise ConfigError(f"trainer.weight_decay={tr.weight_decay} must not be negative")
    if tr.dtype not in ("float32", "float64"):
        raise ConfigError(f"trainer.dtype={tr.dtype!r} is not one of float32, float64")
    if cfg.init.name not in INITIALISERS:
        raise ConfigError(f"init.name={cfg.init.name!r} is not one of {', '.join(INITIALISERS)}")
    if cfg.init.name == "std":
        _positive("init.std", cfg.init.std)
    if not 0.0 <= cfg.dropout < 1.0:
        raise ConfigError(f"dropout={cfg.dropout} must be in [0, 1)")
    if cfg.pool is not None and cfg.pool.mode not in ("max", "avg"):
        raise ConfigError(f"pool.mode={cfg.pool.mode!r} is not one of max, avg")
    if cfg.activation is not None and cfg.activation not in ("relu", "sigmoid"):
        raise ConfigError(f"activation={cfg.activation!r} is not one of relu, sigmoid")
    spec = arch_spec(cfg)
    if input_shape is None:
        return
    try:
        plan_network(spec, input_shape)
    except ValueError as exc:  # GeometryError names the layer and the sizes
        raise ConfigError(str(exc)) from None

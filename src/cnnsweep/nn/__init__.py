"""The NumPy engine: layers, networks, optimizers and initialisers (no Hydra, no pandas)."""

from cnnsweep.nn.networks import (
    ConvSpec,
    DeepConvNetSpec,
    GeometryError,
    MLPSpec,
    Network,
    PoolSpec,
    SimpleConvNetSpec,
    build_network,
)
from cnnsweep.nn.optimizers import OPTIMIZERS, Optimizer, make_optimizer

__all__ = [
    "OPTIMIZERS",
    "ConvSpec",
    "DeepConvNetSpec",
    "GeometryError",
    "MLPSpec",
    "Network",
    "Optimizer",
    "PoolSpec",
    "SimpleConvNetSpec",
    "build_network",
    "make_optimizer",
]

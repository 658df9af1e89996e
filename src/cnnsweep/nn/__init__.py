"""The NumPy engine: layers, networks, optimizers and initialisers (no Hydra, no pandas)."""

from cnnsweep.nn.architectures import (
    ARCHITECTURES,
    Architecture,
    ConvSpec,
    DeepConvNetSpec,
    MLPSpec,
    PoolSpec,
    SimpleConvNetSpec,
    plan_network,
)
from cnnsweep.nn.im2col import GeometryError
from cnnsweep.nn.init import INITIALISERS, WeightInit
from cnnsweep.nn.networks import Network, build_network, network_from_plan
from cnnsweep.nn.optimizers import OPTIMIZERS, Optimizer, make_optimizer

__all__ = [
    "ARCHITECTURES",
    "INITIALISERS",
    "OPTIMIZERS",
    "Architecture",
    "ConvSpec",
    "DeepConvNetSpec",
    "GeometryError",
    "MLPSpec",
    "Network",
    "Optimizer",
    "PoolSpec",
    "SimpleConvNetSpec",
    "WeightInit",
    "build_network",
    "make_optimizer",
    "network_from_plan",
    "plan_network",
]

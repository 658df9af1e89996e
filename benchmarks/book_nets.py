"""The book's three networks as every benchmark here builds them: SimpleConvNet (std 0.01
init), DeepConvNet and the 5-layer MLP (He init), float32, for 1×28×28 inputs.

`engine` is the `cnnsweep.nn` module to build with: this checkout's, or another one's
(ab_step.py, train_step.py --before), so this file imports no engine itself.
"""

from __future__ import annotations

from types import ModuleType

NETS = ("simple_convnet", "deep_convnet", "mlp")


def build_book_network(engine: ModuleType, name: str, rng):
    spec, init = {"simple_convnet": (engine.SimpleConvNetSpec(), "std"),
                  "deep_convnet": (engine.DeepConvNetSpec(), "he"),
                  "mlp": (engine.MLPSpec(), "he")}[name]
    return engine.build_network(spec, init=init, rng=rng)

"""The book's three networks as every benchmark here builds them: SimpleConvNet (std 0.01
init), DeepConvNet and the 5-layer MLP (He init), float32, for 1×28×28 inputs.

`engine` is the `cnnsweep.nn` module to build with: this checkout's, or another one's
(ab_step.py, train_step.py --before), so this file imports no engine itself.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

NETS = ("simple_convnet", "deep_convnet", "mlp")


def build_book_network(engine: ModuleType, name: str, rng):
    spec, init = {"simple_convnet": (engine.SimpleConvNetSpec(), "std"),
                  "deep_convnet": (engine.DeepConvNetSpec(), "he"),
                  "mlp": (engine.MLPSpec(), "he")}[name]
    return engine.build_network(spec, init=init, rng=rng)


def keep_freed_memory_as_a_run(engine: ModuleType) -> bool:
    """What a run does before training (`nn/allocator.keep_freed_memory`, process-wide), with
    `engine`'s own allocator module; False for an engine without one (glibc's defaults stay)."""
    path = Path(engine.__file__).parent / "allocator.py"
    if not path.exists():
        return False
    spec = importlib.util.spec_from_file_location("cnnsweep_allocator", path)
    allocator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(allocator)
    return allocator.keep_freed_memory()

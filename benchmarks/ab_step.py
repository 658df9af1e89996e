"""Two engines' training steps interleaved in one process: this checkout's and another's.

    python benchmarks/ab_step.py OTHER_CHECKOUT/src [--net deep_convnet simple_convnet]
        [--threads 1 2] [--steps 40]

On a shared machine whose speed drifts by tens of percent within a minute, engines timed in
turns by separate processes (train_step.py --before) can disagree from one run to the next about
a 5-10% change. Here both engines live in one process and take turns step by step (in the order
A B B A …), so every stretch of drift hits both alike; the verdict is the median of the
step-by-step time ratios with its interquartile range. Same networks and settings as
train_step.py (float32, batch 100, Adam 0.001, the run's thread handling). No PyTorch.

The other engine is imported first under the name `cnnsweep`, its modules are then taken out of
`sys.modules`, and this checkout's are imported: each engine's functions keep the module globals
they were defined with. Both must be importable as `cnnsweep.nn` with `build_network`,
`make_optimizer` and the architecture specs.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np
from threadpoolctl import ThreadpoolController

from book_nets import NETS, build_book_network, keep_freed_memory_as_a_run

HERE = Path(__file__).resolve().parents[1] / "src"


def import_modules(src: Path, names: list[str]) -> list[ModuleType | None]:
    """The modules `names` of the cnnsweep in `src` (None for one it lacks), then forgotten by
    `sys.modules` so that another cnnsweep can be imported beside them."""
    def forget() -> None:
        for name in [m for m in sys.modules if m == "cnnsweep" or m.startswith("cnnsweep.")]:
            del sys.modules[name]

    forget()
    sys.path.insert(0, str(src))
    try:
        # Looked up by file: an editable install's finder would supply this checkout's module
        # where `src` lacks one.
        modules = [importlib.import_module(name) if _has_module(src, name) else None
                   for name in names]
    finally:
        sys.path.remove(str(src))
    forget()
    return modules


def _has_module(src: Path, name: str) -> bool:
    path = src.joinpath(*name.split("."))
    return (path / "__init__.py").is_file() or path.with_suffix(".py").is_file()


def import_engine(src: Path) -> ModuleType:
    """`cnnsweep.nn` from `src`, beside any other engine imported before."""
    return import_modules(src, ["cnnsweep.nn"])[0]


def training_step(engine: ModuleType, net_name: str, threads: int,
                  blas: ThreadpoolController):
    rng = np.random.default_rng(0)
    net = build_book_network(engine, net_name, rng)
    # Threads as a run uses them: split over where the network can (one BLAS thread each),
    # BLAS threads otherwise (and for an engine without the split).
    split = getattr(net, "set_threads", lambda n: 1)(threads)
    blas_threads = 1 if split > 1 else threads
    opt = engine.make_optimizer("adam", lr=0.001)
    x = rng.random((100, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, 100)

    def step() -> None:
        with blas.limit(limits=blas_threads):
            _, grads = net.loss_and_gradient(x, t)
            opt.update(net.params, grads)

    return step


def interleaved(steps: dict[str, object], rounds: int) -> dict[str, list[float]]:
    """Seconds of each side's steps, taken in turns A B B A … after three warm-up steps each."""
    names = list(steps)
    for step in steps.values():
        for _ in range(3):
            step()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            start = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("other", type=Path, help="the other checkout's src/ folder")
    parser.add_argument("--net", nargs="+", choices=NETS, default=["deep_convnet",
                                                                    "simple_convnet"])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=None,
                        help="steps per side (default: deep_convnet 40, others 200)")
    args = parser.parse_args()
    engines = {"other": import_engine(args.other.resolve()), "ours": import_engine(HERE)}
    # As a run (experiment.py) does, for both engines: the setting is the process's.
    keep_freed_memory_as_a_run(engines["ours"])
    blas = ThreadpoolController()
    print(f"ours = {HERE}, other = {args.other}; float32, batch 100, steps interleaved in one "
          f"process")
    print(f"{'net':<15} {'threads':>7} {'ours ms':>8} {'other ms':>9} "
          f"{'other/ours (median of pairs, IQR)':>34}")
    for net in args.net:
        rounds = args.steps or (40 if net == "deep_convnet" else 200)
        for threads in args.threads:
            steps = {side: training_step(engine, net, threads, blas)
                     for side, engine in engines.items()}
            times = interleaved(steps, rounds)
            ratios = [a / b for a, b in zip(times["other"], times["ours"], strict=True)]
            q1, median, q3 = statistics.quantiles(ratios, n=4)
            print(f"{net:<15} {threads:>7} {statistics.median(times['ours']) * 1e3:8.1f} "
                  f"{statistics.median(times['other']) * 1e3:9.1f} "
                  f"{median:>22.3f} ({q1:.3f}-{q3:.3f})", flush=True)


if __name__ == "__main__":
    main()

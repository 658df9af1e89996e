"""Run folders that follow the contract, written through the same writer training uses but
without training: fast fixtures for the analysis side (results, plots, report, callback)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from cnnsweep import runfolder


def base_config(**top: object) -> dict:
    config = {
        "dataset": {"name": "mnist_mini"}, "optimizer": {"name": "adam", "lr": 0.001},
        "init": {"name": "std", "std": 0.01}, "trainer": {"epochs": 3, "batch_size": 100},
        "network": "simple_convnet", "conv": {"filter_num": 30, "filter_size": 5, "pad": 0,
                                              "stride": 1},
        "hidden_size": 100, "seed": 0, "compare": {"enabled": True, "by": None,
                                                   "metric": "test_acc"},
    }
    config.update(top)
    return config


def make_run(sweep: Path, overrides: list[str], config: dict, *, status: str | None = "ok",
             test_acc: float = 0.9, iterations: int = 30, epochs: int = 3,
             loss_scale: float = 1.0, filters: bool = False,
             final_loss: float | None = None, validation: bool = False) -> Path:
    """A run folder named like Hydra names it, with curves whose level follows `test_acc`."""
    run = sweep / runfolder.run_name(overrides)
    (run / ".hydra").mkdir(parents=True)
    (run / runfolder.CONFIG).write_text(yaml.safe_dump(config))
    (run / runfolder.OVERRIDES).write_text(yaml.safe_dump(overrides))
    if status is None:  # unfinished: the evaluation before training and a first step
        with runfolder.RunWriter(run) as writer:
            writer.write_epoch(0, 0, 0.1, 0.1, float("nan"), 0.0, 100, 100)
            writer.write_step(1, 1, 2.3)
        return run
    if status == "failed":  # failed before training: the summary says why
        runfolder.write_summary(run, runfolder.Summary(
            runfolder.Status.FAILED, run.name, error="ValueError: something broke",
            wall_seconds=0.1, config=config, overrides=overrides))
        return run
    per_epoch = max(iterations // epochs, 1)
    its = np.arange(1, iterations + 1)
    loss = loss_scale * 2.3 * np.exp(-its / 10) + 0.1
    with runfolder.RunWriter(run) as writer:
        for e in range(epochs + 1):
            acc = 0.1 + (test_acc - 0.1) * e / epochs
            for i in its[(its - 1) // per_epoch + 1 == e]:
                writer.write_step(int(i), e, float(loss[i - 1]))
            writer.write_epoch(e, e * per_epoch, acc + 0.01, acc,
                               acc - 0.02 if validation else float("nan"), e * 0.5, 100, 100)
    runfolder.write_summary(run, runfolder.Summary(
        runfolder.Status(status), run.name, test_acc=test_acc, train_acc=test_acc + 0.01,
        wall_seconds=1.5, images_per_second=3000.0, iterations=iterations, epochs=epochs,
        config_hash=runfolder.config_hash(config), seed=config.get("seed", 0), config=config,
        overrides=overrides, versions={"commit": "1f3d179", "cpu": "AMD EPYC"},
        final_train_loss=final_loss))
    if filters:
        rng = np.random.default_rng(0)
        first = runfolder.FIRST_LAYER
        runfolder.save_arrays(run / runfolder.PARAMS,
                              {first: rng.standard_normal((30, 1, 5, 5)).astype(np.float32)})
        runfolder.save_arrays(run / runfolder.PARAMS_INIT,
                              {first: rng.standard_normal((30, 1, 5, 5)) * 0.01})
    return run

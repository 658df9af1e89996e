"""Writes run folders that follow the contract directly, without training: fast fixtures for
the analysis side (results, plots, report), which must only ever read these files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml


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
             loss_scale: float = 1.0, filters: bool = False) -> Path:
    """A run folder named like Hydra names it, with curves whose level follows `test_acc`."""
    run = sweep / ",".join(sorted(overrides))
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if status is None:  # unfinished: Hydra's files only, and a partial history
        (run / "history.csv").write_text("iteration,epoch,train_loss\n1,1,2.3\n")
        return run
    if status == "failed":  # failed before training: the summary says why
        summary = {"status": "failed", "error": "ValueError: something broke",
                   "wall_seconds": 0.1}
        (run / "summary.json").write_text(json.dumps(summary))
        return run
    its = np.arange(1, iterations + 1)
    loss = loss_scale * 2.3 * np.exp(-its / 10) + 0.1
    lines = ["iteration,epoch,train_loss"]
    lines += [f"{i},{(i - 1) // 10 + 1},{float(v)!r}" for i, v in zip(its, loss, strict=True)]
    (run / "history.csv").write_text("\n".join(lines) + "\n")
    rows = ["epoch,iteration,train_acc,test_acc,val_acc,seconds"]
    for e in range(epochs + 1):
        acc = 0.1 + (test_acc - 0.1) * e / epochs
        rows.append(f"{e},{e * 10},{acc + 0.01},{acc},,{e * 0.5}")
    (run / "epochs.csv").write_text("\n".join(rows) + "\n")
    summary = {"status": status, "test_acc": test_acc, "train_acc": test_acc + 0.01,
               "wall_seconds": 1.5, "images_per_second": 3000.0, "iterations": iterations,
               "epochs": epochs, "config_hash": "x", "seed": config.get("seed", 0)}
    (run / "summary.json").write_text(json.dumps(summary))
    if filters:
        rng = np.random.default_rng(0)
        np.savez(run / "params.npz", W1=rng.standard_normal((30, 1, 5, 5)).astype(np.float32))
        np.savez(run / "params_init.npz", W1=rng.standard_normal((30, 1, 5, 5)) * 0.01)
    return run

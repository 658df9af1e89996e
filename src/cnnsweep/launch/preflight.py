"""The beginning of a sweep, before any job is sent: the runs it will launch, and the checks
that fail in one line instead of after every run trained (a writable folder, a reachable Ray
cluster, SLURM on this machine, the `compare.*` settings)."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnsweep import runfolder
from cnnsweep.claims import check_claims, swept_values
from cnnsweep.exitcodes import ExitCode
from cnnsweep.launch.hydra_internals import basic_sweep_jobs

if TYPE_CHECKING:
    from omegaconf import DictConfig


def expected_runs(sweeper: dict, task_overrides: list[str]) -> list[str] | int | None:
    """The run folder names a multirun will create (Hydra's basic sweeper: the product of the
    sweep file's params and the command line's, the command line winning a key), or only their
    number (an optimizing sweeper's `n_trials`), or None when that cannot be told (the
    halving sweeper's runs depend on its promotions, and a sampler may repeat a trial)."""
    if str(sweeper.get("_target_", "")).endswith("HalvingSweeper"):
        return None
    if sweeper.get("n_trials"):
        return int(sweeper["n_trials"])
    if not str(sweeper.get("_target_", "")).endswith("BasicSweeper"):
        return None
    params = [f"{key}={value}" for key, value in (sweeper.get("params") or {}).items()]
    jobs = basic_sweep_jobs([*params, *task_overrides])
    return None if jobs is None else [runfolder.run_name(job) for job in jobs]


def check_output_folder(folder: Path, key: str) -> None:
    """Create `folder` and write into it, or exit with one line that names it."""
    probe = folder / f".cnnsweep-write-test.{os.getpid()}"  # two launches at once: two probes
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        _exit(f"cannot write the output folder {folder}: {exc.strerror or exc}; choose a "
              f"writable one with {key}=<folder>")


def check_launcher(launcher: dict) -> None:
    """Fail in one line, before any job, where the chosen launcher cannot work here."""
    target = str(launcher.get("_target_", ""))
    if "SlurmLauncher" in target and shutil.which("sbatch") is None:
        _exit("SLURM is not available here (no sbatch on PATH): launch from a SLURM login node, "
              "or try the sweep locally with hydra/launcher=submitit_local")
    address = ((launcher.get("ray") or {}).get("init") or {}).get("address")
    if "RayLauncher" in target and address not in (None, "", "local"):
        # Ray >= 2.59 starts clusters with token authentication; a driver joining by address
        # must say so, and finds the token where `ray start` left it.
        if (Path.home() / ".ray" / "auth_token").is_file():
            os.environ.setdefault("RAY_AUTH_MODE", "token")
        host, port = _ray_head(str(address))
        try:
            socket.create_connection((host, port), timeout=5).close()
        except OSError as exc:
            _exit(f"cannot reach the Ray cluster at {host}:{port} ({exc.strerror or exc}); "
                  "start it (ray start --head) or fix hydra.launcher.ray.init.address")


def _ray_head(address: str) -> tuple[str, int]:
    if address == "auto":  # what `ray start` leaves for local drivers
        try:
            address = Path("/tmp/ray/ray_current_cluster").read_text().strip()
        except OSError:
            _exit("hydra.launcher.ray.init.address=auto, but no Ray cluster runs on this "
                  "machine (ray start --head starts one)")
    address = address.removeprefix("ray://")
    host, _, port = address.rpartition(":")
    return host or address, int(port) if port.isdigit() else 6379


def check_compare(config: DictConfig) -> None:
    """The sweep's `compare.*` settings, before any job: a typo there would otherwise surface
    only after every run trained."""
    from omegaconf import OmegaConf

    from cnnsweep.results import flatten

    task = {k: v for k, v in OmegaConf.to_container(config, resolve=False).items()
            if k != "hydra"}
    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    swept = swept_values(dict(params), list(config.hydra.overrides.task))
    try:
        check_before_runs(task.get("compare") or {}, flatten(task), swept)
    except ValueError as exc:
        _exit(f"{exc}. Nothing was trained.")


def check_before_runs(compare: dict[str, Any], config_keys: Iterable[str],
                      swept: dict[str, list[str] | None] | None = None) -> None:
    """A sweep's `compare.*` settings, checked before any run trains (the same checks the
    comparison makes at the end, where a typo used to cost the whole sweep's report):
    `config_keys` are the dotted keys of a run's config, `swept` each swept key's values (the
    claims' settings are checked against them). Raises ValueError naming the bad value, the
    closest valid one and the valid ones a user would type."""
    from cnnsweep.compare_options import CompareOptions, closest
    from cnnsweep.results import GROUPS, SWEEP_KEY

    options = CompareOptions.from_mapping(compare)
    keys = {*(k for k in config_keys if not k.startswith(("compare.", "hydra."))), *GROUPS,
            SWEEP_KEY}
    if options.metric not in runfolder.SUMMARY_METRICS:
        raise ValueError(f"compare.metric={options.metric}: no run records it"
                         f"{closest(options.metric, runfolder.SUMMARY_METRICS)}; the metrics are "
                         f"{', '.join(runfolder.SUMMARY_METRICS)}")
    check_claims(options.claims, keys, swept)
    panels = (options.panels,) if options.panels else ()
    for name, given in (("compare.by", options.by or ()), ("compare.panels", panels)):
        for key in given:
            if key not in keys:
                raise ValueError(f"{name}: {key} is not a config key{closest(key, keys)}; "
                                 f"compare by a group ({', '.join(GROUPS)}), {SWEEP_KEY}, or a "
                                 "key of `--cfg job` such as optimizer.lr or conv.filter_num")
    if options.figures is not None or options.formats != CompareOptions().formats or \
            options.size != CompareOptions().size:
        from cnnsweep.figures.style import FORMATS, PAGES
        from cnnsweep.plots import FIGURES

        if options.size not in PAGES:
            raise ValueError(f"compare.size={options.size}: not a paper width"
                             f"{closest(options.size, PAGES)}; the widths are "
                             f"{', '.join(PAGES)}")

        for kind, names, valid in (("figure type", options.figures or (), FIGURES),
                                   ("figure format", options.formats, FORMATS)):
            for name in names:
                if name not in valid:
                    raise ValueError(f"compare: unknown {kind} {name}{closest(name, valid)}; "
                                     f"the {kind}s are {', '.join(valid)}")


def _exit(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
    sys.exit(ExitCode.BAD_SETUP)

"""Everything cnnsweep takes from the inside of Hydra and its plugins, in one place, each with
why; `tests/test_hydra_internals.py` fails loudly, naming the piece, when a release changes one.

Hydra's public API has no way to do these three things:
- count the jobs of a basic sweep before it launches them (the progress line's total and the
  end of a sweep's "launched but never arrived" check);
- tell which command-line override Hydra was applying when OmegaConf raised (a key set under a
  node that is null escapes composition as a bare AssertionError);
- register a variant of a plugin's launcher node (hydra-ray-launcher's structured config, to
  join existing Ray clusters).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import OmegaConf

if TYPE_CHECKING:
    from hydra.core.config_store import ConfigStore

# hydra._internal.config_loader_impl.ConfigLoaderImpl._apply_overrides_to_config: the function
# whose local `override` is the override being applied (Hydra 1.3).
APPLYING_OVERRIDES = "_apply_overrides_to_config"


def basic_sweep_jobs(overrides: list[str]) -> list[list[str]] | None:
    """The jobs Hydra's basic sweeper makes of these overrides (sweep file params first, the
    command line after, a later key winning): each job's override list, in launch order; None
    where that cannot be told without the config (a glob)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
        return [list(job) for job in BasicSweeper.split_arguments(parsed, None)[0]]
    except Exception:  # a glob or another sweep that needs the config: unknown
        return None


def override_being_applied(exc: BaseException) -> str | None:
    """The command-line override Hydra was applying when `exc` escaped its composition, if it
    was (read from the traceback's frame of APPLYING_OVERRIDES)."""
    frame = exc.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_name == APPLYING_OVERRIDES:
            return getattr(frame.tb_frame.f_locals.get("override"), "input_line", None)
        frame = frame.tb_next
    return None


def register_ray_launcher_that_joins_clusters(cs: ConfigStore) -> None:
    """`hydra/launcher=ray` as the plugin registers it, with three defaults changed, so that
    `hydra.launcher.ray.init.address=<head>` joins an existing cluster as it is:
    hydra-ray-launcher 1.2.2 passes object_store_memory=78643200 to ray.init unless the key is
    there, and Ray refuses any value when joining a cluster (null is Ray's own default); and
    the workers' lines are not sent to the driver, where Ray prints them late, after the end
    table (each run's run.log and the progress line have them); and a run's task asks for as
    many CPUs as it has threads."""
    try:  # registers the plugin's node now, so that ours below replaces it
        from hydra_plugins.hydra_ray_launcher._config import RayLauncherConf
    except ImportError:  # the optional extra is not installed
        return
    node = OmegaConf.structured(RayLauncherConf)
    node.ray.init.object_store_memory = None
    node.ray.init.log_to_driver = False
    # A run claims the CPUs of its threads, so Ray does not place more runs than cores.
    node.ray.remote = {"num_cpus": "${trainer.threads}"}
    cs.store(group="hydra/launcher", name="ray", node=node, provider="cnnsweep")

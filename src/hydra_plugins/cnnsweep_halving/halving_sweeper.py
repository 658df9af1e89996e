"""`hydra/sweeper=halving` (conf/hydra/sweeper/halving.yaml): the Sweeper class Hydra
instantiates, a thin adapter to `cnnsweep.launch.search`, imported only when a sweep starts
(Hydra imports this module whenever it scans its plugins)."""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


class HalvingSweeper(Sweeper):
    """Successive halving (brackets: 1) and Hyperband (brackets > 1) over a grid or a sampled
    space, each rung one batch through the configured launcher."""

    def __init__(self, **settings: Any) -> None:
        from cnnsweep.launch.search import SearchSettings

        params = settings.pop("params", None) or {}
        if isinstance(params, DictConfig):
            params = OmegaConf.to_container(params, resolve=True)
        unknown = sorted(set(settings) - set(SearchSettings.__dataclass_fields__))
        if unknown:
            raise ValueError(f"hydra.sweeper: unknown setting(s) {', '.join(unknown)}; the "
                             f"settings are {', '.join(SearchSettings.__dataclass_fields__)}")
        self.settings = SearchSettings(params={str(k): str(v) for k, v in params.items()},
                                       **settings)
        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.launcher = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        from cnnsweep.launch import search

        return search.sweep(self, arguments)

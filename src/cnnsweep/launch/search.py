"""Successive halving and Hyperband through any Hydra launcher: the sweeper behind
`hydra/sweeper=halving` (the thin plugin class is `hydra_plugins.cnnsweep_halving`).

The space is Hydra's override grammar under `hydra.sweeper.params` and on the command line:
`choice(...)`/`a,b,c` and `range(...)` are discrete, `interval(...)` and `tag(log,
interval(...))` continuous; `seed=0,1,2` beside the space repeats every configuration. Without
`n_trials` a discrete space is enumerated (the grid); with it configurations are sampled by
Optuna (>= 4) through ask/tell with a seeded random, QMC or TPE sampler.

Each rung is one batch handed to the launcher (joblib, basic, Ray, submitit): the same overrides
with the budget key (`trainer.epochs` or `trainer.max_iterations`) set to the rung's budget. A
promoted configuration's next run lands in the same sweep folder and continues the shorter
run's final checkpoint (`checkpoint.find_start`, extension), bit for bit. Promotions read each
run's epochs.csv at the rung's budget (`halving.promote`: the rule). The sweep folder keeps the
record of every rung (`search.json`), which the report reads.

Rerunning the command into the same folder replays the same decisions from the run folders:
finished runs are skipped by the task, an interrupted one continues from its checkpoint, and a
rung with runs that have no result stops the search with the command that finishes it.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import math
import random
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override
from omegaconf import DictConfig, OmegaConf

from cnnsweep import halving, runfolder
from cnnsweep.atomic import atomic_write_text
from cnnsweep.exitcodes import ExitCode
from cnnsweep.runfolder import ENDED_WITH_RESULT, Status

log = logging.getLogger(__name__)
SAMPLERS = ("random", "qmc", "tpe")


class SearchIncompleteError(RuntimeError):
    """A rung whose runs did not all end with a result: nothing is promoted on partial data."""


@dataclass(frozen=True)
class SearchSettings:
    params: dict[str, str] = field(default_factory=dict)
    budget: str = "trainer.epochs"
    min_budget: int = 1
    max_budget: int = 9
    eta: int = 3
    brackets: int = 1
    metric: str = "val_acc"
    n_trials: int | None = None  # sampled configurations of the first bracket; None: the grid
    sampler: str = "random"
    seed: int = 0
    batch_size: int | None = None  # single-rung brackets: configurations asked per batch
    keep_overlaps: bool = True  # keep a configuration within the seeds' noise of the cut

    def check(self) -> None:
        halving.check_metric(self.metric)
        if self.budget not in halving.BUDGET_KEYS:
            raise ValueError(f"budget={self.budget}: the budget is one of "
                             f"{', '.join(halving.BUDGET_KEYS)}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler={self.sampler}: one of {', '.join(SAMPLERS)}")
        if self.n_trials is not None and self.n_trials < 1:
            raise ValueError(f"n_trials={self.n_trials}: at least 1 (null: the whole grid)")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size}: at least 1 (null: all at once)")
        halving.brackets(self.min_budget, self.max_budget, self.eta, self.brackets, 1)


@dataclass
class Dimension:
    key: str  # with its prefix (+, ++), as the override writes it
    values: list[str] | None = None  # discrete
    low: float | None = None  # continuous
    high: float | None = None
    log: bool = False
    integer: bool = False


@dataclass
class Space:
    dimensions: list[Dimension]
    fixed: list[str]  # overrides every job carries
    seeds: list[str]  # "seed=0", ... ([]: the config's seed)
    budget: int | None = None  # the budget key given on the command line (one-rung searches)

    @property
    def is_grid(self) -> bool:
        return all(d.values is not None for d in self.dimensions)

    def grid(self) -> list[list[str]]:
        return [[f"{d.key}={v}" for d, v in zip(self.dimensions, values, strict=True)]
                for values in itertools.product(*(d.values or [] for d in self.dimensions))]


def parse_space(params: dict[str, str], arguments: list[str], budget_key: str) -> Space:
    """The space from the sweeper's params and the command line (a later key wins)."""
    lines = [f"{k}={v}" for k, v in (params or {}).items()] + list(arguments)
    parsed: dict[str, Override] = {}
    for override in OverridesParser.create().parse_overrides(lines):
        parsed[override.get_key_element()] = override
    dimensions, fixed, seeds = [], [], []
    budget = None
    for key, override in parsed.items():
        bare = runfolder.override_key(key)
        if bare == budget_key:
            value = override.value()
            if override.is_sweep_override() or not isinstance(value, int):
                raise ValueError(f"{key} is the search's budget: the sweeper sets it per rung "
                                 "(hydra.sweeper.min_budget/max_budget); remove it from the "
                                 "command line and the params")
            budget = value  # a one-rung search may take it from there (`sweep`)
        elif not override.is_sweep_override():
            fixed.append(f"{key}={override.get_value_element_as_str()}")
        elif bare == "seed":
            if not override.is_discrete_sweep():
                raise ValueError(f"{key}: seeds are listed (seed=0,1,2), not an interval")
            seeds = [f"{key}={v}" for v in override.sweep_string_iterator()]
        elif override.is_discrete_sweep():
            dimensions.append(Dimension(key, list(override.sweep_string_iterator())))
        else:
            interval = override.value()
            assert isinstance(interval, IntervalSweep)
            integer = isinstance(interval.start, int) and isinstance(interval.end, int)
            dimensions.append(Dimension(key, None, float(interval.start), float(interval.end),
                                        "log" in interval.tags, integer))
    return Space(dimensions, fixed, seeds, budget)


def _label(overrides: list[str]) -> str:
    return ", ".join(overrides) or "defaults"


@dataclass
class Configuration:
    overrides: list[str]
    trials: list[Any] = field(default_factory=list)  # Optuna trials that proposed it

    @property
    def label(self) -> str:
        return _label(self.overrides)


class Sampler:
    """Optuna's ask/tell over the space (imported only for sampled spaces)."""

    def __init__(self, space: Space, name: str, seed: int) -> None:
        try:
            import optuna
        except ImportError:
            raise ImportError("sampling a search space needs Optuna >= 4: pip install -e "
                              "'.[search]'") from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        with warnings.catch_warnings():  # QMC is marked experimental; its seeding is stable
            warnings.simplefilter("ignore")
            sampler = {"random": lambda: optuna.samplers.RandomSampler(seed=seed),
                       "qmc": lambda: optuna.samplers.QMCSampler(seed=seed, scramble=True),
                       "tpe": lambda: optuna.samplers.TPESampler(seed=seed)}[name]()
        self.optuna, self.space = optuna, space
        self.study = optuna.create_study(direction="maximize", sampler=sampler)
        d = optuna.distributions
        self.distributions = {
            dim.key: d.CategoricalDistribution(dim.values) if dim.values is not None else
            d.IntDistribution(int(dim.low), int(dim.high), log=dim.log) if dim.integer else
            d.FloatDistribution(dim.low, dim.high, log=dim.log)
            for dim in space.dimensions}

    def ask(self) -> tuple[list[str], Any]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial = self.study.ask(self.distributions)
        return [f"{k}={_format(trial.params[k])}" for k in self.distributions], trial

    def tell(self, configuration: Configuration, values: list[tuple[int, float]],
             finished: bool) -> None:
        """Report each rung's value (step = budget), then the trial's end: its value at the
        full budget, pruned when it stopped earlier (TPE uses its last value), failed
        without one."""
        state = self.optuna.trial.TrialState
        for trial in configuration.trials:
            for budget, value in values:
                if not math.isnan(value):
                    trial.report(value, step=budget)
            last = values[-1][1] if values else math.nan
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if math.isnan(last):
                    self.study.tell(trial, state=state.FAIL)
                elif finished:
                    self.study.tell(trial, last)
                else:
                    self.study.tell(trial, state=state.PRUNED)


def _format(value: object) -> str:
    return repr(value) if isinstance(value, float) else str(value)


class Search:
    """One search: its brackets, each bracket's rungs, each rung one launcher batch."""

    def __init__(self, settings: SearchSettings, space: Space, launch: Any,
                 sweep_dir: Path) -> None:
        self.settings, self.space, self.launch, self.sweep_dir = settings, space, launch, \
            sweep_dir
        self.job_index = 0
        if settings.n_trials is None and not space.is_grid:
            raise ValueError("the space has interval(...) dimensions: set "
                             "hydra.sweeper.n_trials (configurations sampled) or list values "
                             "instead")
        self.sampler = None if settings.n_trials is None else \
            Sampler(space, settings.sampler, settings.seed)
        grid = space.grid() if settings.n_trials is None else None
        s = settings
        self.plan = halving.brackets(s.min_budget, s.max_budget, s.eta, s.brackets,
                                     s.n_trials, None if grid is None else len(grid))
        if grid is not None and s.brackets > 1:  # each bracket its own share of the grid
            random.Random(s.seed).shuffle(grid)
        self.grid = grid
        self.record: dict[str, Any] = {
            "sweeper": "halving", "rule": halving.__doc__.split("The promotion rule")[1]
            .split("\n\n", 1)[1].strip() if halving.__doc__ else "",
            "settings": {"budget": s.budget, "min_budget": s.min_budget,
                         "max_budget": s.max_budget, "eta": s.eta, "brackets": s.brackets,
                         "metric": s.metric, "n_trials": s.n_trials, "sampler": s.sampler,
                         "seed": s.seed, "batch_size": s.batch_size,
                         "keep_overlaps": s.keep_overlaps,
                         "space": {d.key: d.values if d.values is not None else
                                   {"low": d.low, "high": d.high, "log": d.log}
                                   for d in space.dimensions},
                         "fixed": space.fixed, "seeds": space.seeds,
                         "grid_size": None if grid is None else len(grid)},
            "brackets": [], "seconds": 0.0}

    def job(self, configuration: Configuration, seed: str | None, budget: int) -> list[str]:
        return [*self.space.fixed, *configuration.overrides, *([seed] if seed else []),
                f"{self.settings.budget}={budget}"]

    def run(self) -> dict[str, Any]:
        started = time.perf_counter()
        offset = 0
        for bracket in self.plan:
            entry = {"index": bracket.index, "budgets": list(bracket.budgets), "rungs": []}
            self.record["brackets"].append(entry)
            if self.grid is not None:
                alive = [Configuration(o) for o in self.grid[offset:offset + bracket.size]]
                offset += bracket.size
                self._bracket(entry, bracket, alive)
            elif len(bracket.budgets) == 1 and self.settings.batch_size:
                left = bracket.size
                while left > 0:  # a plain search: told after each batch (TPE learns)
                    alive = self._ask(min(left, self.settings.batch_size))
                    left -= self.settings.batch_size
                    self._bracket(entry, bracket, alive)
            else:
                self._bracket(entry, bracket, self._ask(bracket.size))
        self.record["seconds"] = round(time.perf_counter() - started, 3)
        self.save()
        return self.record

    def _ask(self, n: int) -> list[Configuration]:
        assert self.sampler is not None
        found: dict[str, Configuration] = {}
        for _ in range(n):
            overrides, trial = self.sampler.ask()
            found.setdefault(_label(overrides), Configuration(overrides)).trials.append(trial)
        return list(found.values())

    def _bracket(self, entry: dict, bracket: halving.Bracket,
                 alive: list[Configuration]) -> None:
        history: dict[str, list[tuple[int, float]]] = {c.label: [] for c in alive}
        everyone = list(alive)
        for i, budget in enumerate(bracket.budgets):
            last = i == len(bracket.budgets) - 1
            values, runs = self._rung(alive, budget)
            standings = halving.promote(values, self.settings.eta,
                                        self.settings.keep_overlaps) if not last else sorted(
                (halving.Standing(c, tuple(v), False, "finalist: reached the full budget")
                 for c, v in values.items()),  # best first, as every rung; no value last
                key=lambda st: (not st.complete, -st.mean if st.complete else 0.0, st.config))
            entry["rungs"].append({
                "budget": budget, "runs": runs,
                "standings": [{"config": s.config, "values": list(s.values), "mean": s.mean,
                               "kept": s.kept, "reason": s.reason} for s in standings]})
            self.save()
            for s in standings:
                history[s.config].append((budget, s.mean))
            kept = {s.config for s in standings if s.kept}
            if not last:
                log.info("rung %d (%s=%d): %d of %d configurations promoted, ranked by their "
                         "mean %s over %d seed(s)", i + 1, self.settings.budget, budget,
                         len(kept), len(alive), self.settings.metric,
                         max(1, len(self.space.seeds)))
            alive = [c for c in alive if c.label in kept]
            if not alive:
                break
        if self.sampler is not None:
            final = bracket.budgets[-1]
            for c in everyone:
                reached = bool(history[c.label]) and history[c.label][-1][0] == final
                self.sampler.tell(c, history[c.label], reached)

    def _rung(self, alive: list[Configuration], budget: int) \
            -> tuple[dict[str, list[float]], dict[str, list[str]]]:
        """Launch one rung; each configuration's seeds' values and run folders."""
        seeds = self.space.seeds or [None]
        batch = [self.job(c, seed, budget) for c in alive for seed in seeds]
        self.launch(batch, self.job_index)
        self.job_index += len(batch)
        values: dict[str, list[float]] = {}
        runs: dict[str, list[str]] = {}
        missing = []
        for c in alive:
            names = [runfolder.run_name(self.job(c, seed, budget)) for seed in seeds]
            runs[c.label] = names
            values[c.label] = []
            for name in names:
                run_dir = self.sweep_dir / name
                status = runfolder.status_of(runfolder.read_summary(run_dir))
                if status == Status.OK:
                    values[c.label].append(halving.metric_at(
                        run_dir, self.settings.metric, self.settings.budget, budget))
                elif status in (*ENDED_WITH_RESULT, Status.FAILED):
                    values[c.label].append(math.nan)
                else:
                    missing.append(f"{name} ({status.value})")
        if missing:
            raise SearchIncompleteError(
                f"the rung at {self.settings.budget}={budget} has {len(missing)} run(s) without "
                f"a result: {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}; "
                "nothing is promoted on part of a rung. Run the same command again: finished "
                "runs are skipped and interrupted ones continue from their checkpoint")
        return values, runs

    def save(self) -> None:
        atomic_write_text(self.sweep_dir / halving.RECORD,
                          json.dumps(self.record, indent=1, default=str) + "\n")


def check_before_training(settings: SearchSettings, space: Space, config: DictConfig) -> None:
    """What would make the search meaningless, before anything trains (`config`: one job's)."""
    if settings.metric == "val_acc" and not OmegaConf.select(
            config, "dataset.validation_fraction", default=0):
        raise ValueError("metric=val_acc needs a validation set: set "
                         "dataset.validation_fraction (e.g. 0.1); the test set never chooses")
    if not OmegaConf.select(config, "trainer.checkpoint", default=True):
        log.warning("trainer.checkpoint=false: promoted configurations retrain from scratch "
                    "instead of continuing from their checkpoint")
    if settings.budget == "trainer.epochs" and \
            OmegaConf.select(config, "trainer.max_iterations") is not None:
        log.warning("trainer.max_iterations is set: it caps every rung's trainer.epochs; "
                    "use budget=trainer.max_iterations to search over iterations")


def fail_before_training(message: str) -> None:
    print(f"hydra/sweeper=halving: {message}. Nothing was trained.", file=sys.stderr,
          flush=True)
    sys.exit(ExitCode.BAD_SETUP)


def sweep(sweeper: Any, arguments: list[str]) -> dict[str, Any]:
    """The sweeper's `sweep`: parse and check everything, then run the brackets."""
    settings = sweeper.settings
    config = sweeper.config
    try:
        settings.check()
        space = parse_space(settings.params, arguments, settings.budget)
        if space.budget is not None:  # `trainer.epochs=20` given to a search
            if settings.min_budget != settings.max_budget:
                raise ValueError(f"{settings.budget}={space.budget} is the search's budget: "
                                 "the sweeper sets it per rung (hydra.sweeper.min_budget/"
                                 "max_budget); remove it from the command line")
            # a one-rung search trains every trial to it: it is the budget
            settings = dataclasses.replace(settings, min_budget=space.budget,
                                           max_budget=space.budget)
        asked = [o.split("=", 1)[1] for o in space.fixed if o.startswith("compare.metric=")]
        if asked and asked[-1] != settings.metric:
            raise ValueError(f"compare.metric={asked[-1]}: a search's report ranks by what the "
                             f"search chose by (hydra.sweeper.metric={settings.metric}); drop "
                             "compare.metric, or set hydra.sweeper.metric")
        probe = Search(settings, space, None, Path(config.hydra.sweep.dir))
    except (ValueError, ImportError) as exc:
        fail_before_training(str(exc))
    first = probe.plan[0]
    # One job's config, composed as the launcher will (a sampled space: without its values).
    example = Configuration(probe.grid[0] if probe.grid else [])
    job = probe.job(example, (space.seeds or [None])[0], first.budgets[0])
    try:
        job_config = sweeper.hydra_context.config_loader.load_sweep_config(
            master_config=config, sweep_overrides=job)
        check_before_training(settings, space, job_config)
    except ValueError as exc:
        fail_before_training(str(exc))
    sweep_dir = Path(config.hydra.sweep.dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(config, sweep_dir / "multirun.yaml")

    def launch(batch: list[list[str]], index: int) -> None:
        sweeper.validate_batch_is_legal(batch)
        for result in sweeper.launcher.launch(batch, initial_job_idx=index):
            _ = result.return_value  # a job's exception surfaces here, as the basic sweeper's

    search = Search(settings, space, launch, sweep_dir)
    return search.run()

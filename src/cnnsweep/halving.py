"""Successive halving and Hyperband, as plain functions: which budgets a bracket's rungs train
to, how many configurations each bracket starts with, and which configurations a rung promotes.

Pure Python and NumPy: the sweeper (`launch/search.py`) launches the rungs through Hydra, the
report (`search_report.py`) reads the record this module's `SearchRecord` describes.

The promotion rule, the one place it is written:

- A rung of n configurations keeps k = max(1, floor(n / eta)) of them, ranked by their metric at
  the rung's budget (higher is better), each configuration's value being the **mean over its
  seeds**.
- A configuration tied with the k-th (the cut) is kept too: a tie is never broken by the order
  configurations happen to be listed in.
- With several seeds a configuration below the cut is also kept when its interval, mean ± one
  standard error of its seeds (sample std / sqrt(seeds)), overlaps the cut configuration's:
  its seeds disagree more than its gap to the cut, so dropping it would be dropping it on
  noise. With one seed the interval is a point and this is exactly the tie rule. (One standard
  error, not the seeds' whole range or a 95% interval: with three noisy seeds those overlap
  nearly always, and the search would stop nothing.)
- A configuration with a seed that has no value at the rung (it diverged or failed) is never
  promoted: it ranks after every configuration with values.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cnnsweep import runfolder

RECORD = "search.json"  # the sweeper's record in the sweep folder (search_report.py reads it)
# Metrics a search may choose by: validation only, so that the test set never chooses.
SEARCH_METRICS = ("val_acc",)
BUDGET_KEYS = runfolder.BUDGET_KEYS  # trainer.epochs, trainer.max_iterations


def check_metric(metric: str) -> None:
    """A search ranks by a validation metric of epochs.csv; anything else is refused."""
    if "test" in metric:
        raise ValueError(f"metric={metric}: a search must not choose by the test set (the "
                         "finalists' test accuracy is reported once, at the end); use "
                         "metric=val_acc with dataset.validation_fraction > 0")
    if metric not in SEARCH_METRICS:
        raise ValueError(f"metric={metric}: a search ranks by one of "
                         f"{', '.join(SEARCH_METRICS)} (epochs.csv's validation accuracy at "
                         "each rung's budget)")


def rung_budgets(min_budget: int, max_budget: int, eta: int) -> list[int]:
    """The budgets of the most aggressive bracket's rungs: max_budget / eta^k for k = s_max..0,
    rounded, s_max = floor(log_eta(max / min)) (1, 3, 9 for 1..9 and eta 3)."""
    if eta < 2:
        raise ValueError(f"eta={eta}: the reduction factor must be at least 2 (3 keeps a third)")
    if not 1 <= min_budget <= max_budget:
        raise ValueError(f"min_budget={min_budget}, max_budget={max_budget}: need "
                         "1 <= min_budget <= max_budget")
    s_max = math.floor(math.log(max_budget / min_budget, eta) + 1e-9)
    budgets = [max(min_budget, round(max_budget / eta ** k)) for k in range(s_max, -1, -1)]
    return sorted(set(budgets))


@dataclass(frozen=True)
class Bracket:
    index: int  # 0: the most aggressive (starts at min_budget)
    budgets: tuple[int, ...]  # its rungs' budgets, the last one max_budget
    size: int  # configurations it starts with


def hyperband_weights(rungs: int, eta: int, count: int) -> list[float]:
    """Hyperband's share of configurations per bracket (eta^s / (s + 1), s = its number of
    promotions), most aggressive bracket first."""
    s_max = rungs - 1
    return [eta ** s / (s + 1) for s in range(s_max, s_max - count, -1)]


def brackets(min_budget: int, max_budget: int, eta: int, count: int,
             first_size: int | None = None, total: int | None = None) -> list[Bracket]:
    """The brackets of a Hyperband run with `count` brackets (1: successive halving).

    Either `first_size` configurations start the most aggressive bracket and the others get
    Hyperband's proportions of it (sampled spaces: each bracket draws its own), or `total`
    configurations (a grid) are split between the brackets in those proportions."""
    budgets = rung_budgets(min_budget, max_budget, eta)
    if not 1 <= count <= len(budgets):
        raise ValueError(f"brackets={count}: between 1 (successive halving) and {len(budgets)} "
                         f"(one per rung of {', '.join(map(str, budgets))})")
    weights = hyperband_weights(len(budgets), eta, count)
    if total is not None:
        sizes = _split(total, weights)
    else:
        assert first_size is not None
        sizes = [max(1, math.ceil(first_size * w / weights[0])) for w in weights]
    return [Bracket(i, tuple(budgets[i:]), size) for i, size in enumerate(sizes)]


def _split(total: int, weights: Sequence[float]) -> list[int]:
    """`total` split in proportion to `weights` (largest remainders), at least one each."""
    if total < len(weights):
        raise ValueError(f"{total} configurations cannot fill {len(weights)} brackets; use "
                         "fewer brackets")
    share = [total * w / sum(weights) for w in weights]
    sizes = [max(1, math.floor(s)) for s in share]
    order = sorted(range(len(weights)), key=lambda i: share[i] - math.floor(share[i]),
                   reverse=True)
    i = 0
    while sum(sizes) < total:
        sizes[order[i % len(order)]] += 1
        i += 1
    while sum(sizes) > total:
        j = max(range(len(sizes)), key=lambda k: sizes[k])
        sizes[j] -= 1
    return sizes


@dataclass(frozen=True)
class Standing:
    """One configuration at a rung: its seeds' values, their mean and range, and the decision."""

    config: str
    values: tuple[float, ...]
    kept: bool
    reason: str

    @property
    def complete(self) -> bool:
        return bool(self.values) and not any(math.isnan(v) for v in self.values)

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values) if self.complete else math.nan

    @property
    def error(self) -> float:
        """The standard error of the mean over the seeds (0 with one seed)."""
        n = len(self.values)
        if not self.complete or n < 2:
            return 0.0 if self.complete else math.nan
        mean = self.mean
        return math.sqrt(sum((v - mean) ** 2 for v in self.values) / (n - 1) / n)

    @property
    def low(self) -> float:
        return self.mean - self.error

    @property
    def high(self) -> float:
        return self.mean + self.error


def keep_count(n: int, eta: int) -> int:
    return max(1, n // eta)


def promote(values: Mapping[str, Sequence[float]], eta: int,
            keep_overlaps: bool = True) -> list[Standing]:
    """Each configuration's standing at a rung, best first (the rule: module docstring).
    `values` maps a configuration to its seeds' metric values (NaN: no value). Without
    `keep_overlaps`, plain successive halving: the top k and ties only."""
    standings = [Standing(c, tuple(float(v) for v in vs), False, "") for c, vs in values.items()]
    ranked = sorted((s for s in standings if s.complete), key=lambda s: (-s.mean, s.config))
    missing = sorted((s for s in standings if not s.complete), key=lambda s: s.config)
    k = min(keep_count(len(standings), eta), len(ranked))
    out = []
    cut = ranked[k - 1] if k else None
    for i, s in enumerate(ranked):
        if i < k:
            reason, kept = f"top {k} of {len(standings)}", True
        elif s.mean == cut.mean:
            reason, kept = "tied with the cut", True
        elif keep_overlaps and len(s.values) > 1 and s.high >= cut.low:
            reason, kept = (f"overlaps the cut within the seeds' noise ({s.mean:.4f} ± "
                            f"{s.error:.4f} vs {cut.mean:.4f} ± {cut.error:.4f})"), True
        else:
            reason, kept = f"below the cut ({cut.mean:.4f})", False
        out.append(Standing(s.config, s.values, kept, reason))
    out += [Standing(s.config, s.values, False, "no value at this rung (diverged or failed)")
            for s in missing]
    return out


@dataclass(frozen=True)
class Replay:
    """A promotion rule replayed on the values a search recorded."""

    kept: tuple[tuple[int, ...], ...]  # per bracket, the configurations each rung kept
    cost: float  # budget units trained: configurations x seeds x budget added, per rung
    chosen: str  # the best mean over seeds at a bracket's last rung


def replay(brackets_record: Sequence[Mapping], eta: int, seeds: int,
           keep_overlaps: bool) -> Replay | None:
    """The search `promote(..., keep_overlaps)` makes on the rung values of a search record
    (`search.json`'s brackets). Plain successive halving replayed from a noise-rule search
    promotes a subset of what that search promoted, so every value it needs was trained;
    None where a value it needs is not in the record."""
    kept, cost, finals = [], 0.0, {}
    for bracket in brackets_record:
        values = [{st["config"]: st["values"] for st in rung["standings"]}
                  for rung in bracket["rungs"]]
        if len(values) != len(bracket["budgets"]):
            return None  # the search did not finish this bracket
        alive, previous, counts = list(values[0]), 0, []
        for budget, rung in zip(bracket["budgets"], values, strict=True):
            if not set(alive) <= set(rung):
                return None
            cost += len(alive) * seeds * (budget - previous)
            previous = budget
            if budget == bracket["budgets"][-1]:
                finals.update({c: rung[c] for c in alive})
                break
            alive = [s.config for s in promote({c: rung[c] for c in alive}, eta,
                                               keep_overlaps) if s.kept]
            counts.append(len(alive))
        kept.append(tuple(counts))
    ranked = promote(finals, eta, keep_overlaps=False)
    if not ranked or not ranked[0].complete:
        return None
    return Replay(tuple(kept), cost, ranked[0].config)


def metric_at(run_dir: Path, metric: str, budget_key: str, budget: int) -> float:
    """The run's `metric` in epochs.csv at the evaluation of the rung's budget (the last one
    at or before it: epoch for trainer.epochs, iteration for trainer.max_iterations); NaN
    where the run has no such row or no value."""
    column = "epoch" if budget_key == "trainer.epochs" else "iteration"
    found = math.nan
    try:
        with open(Path(run_dir) / runfolder.EPOCHS, newline="") as f:
            for row in csv.DictReader(f):
                try:
                    if int(float(row[column])) <= budget:
                        found = float(row[metric]) if row.get(metric) not in (None, "") \
                            else math.nan
                except (KeyError, ValueError):
                    return math.nan
    except OSError:
        return math.nan
    return found

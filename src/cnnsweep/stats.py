"""Seed statistics: one row per setting with its mean, a 95% confidence interval, its rank and a
Welch's t-test against the best, Holm-adjusted over every comparison with the best; the verdict a
report opens with (which settings could be the best, and how many seeds would settle it); main
effects.

A setting's runs are its repeats and differ by seed. When a compared view leaves out keys that
vary, those keys are blocks, not noise: a setting's mean is the mean of its means per value of the
left-out keys (each weighted alike, as main effects weigh them), and its interval and tests use
the spread between seeds within each value only (the within-cell variance, pooled).

The distributions (t, noncentral t) come from `scipy.stats`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from cnnsweep.entrypoint import sweep_command
from cnnsweep.results import REPEAT_KEY, Results, is_higher_better, value_order

CONFIDENCE = 0.95
ALPHA = 0.05  # family-wise: the chance of calling any setting worse than the best by mistake
ENOUGH_SEEDS = 3  # below this many runs per setting, the verdict says it cannot tell
POWER = 0.8  # the chance an added-seeds sweep should have of separating best and runner-up
MAX_SEEDS = 20  # seeds per setting the verdict asks for at most
FAR_SEEDS = 100_000  # beyond the cap, the verdict still says how many it would take, up to this
PROCEDURE = ("Which settings could be the best: each setting is compared with the best by "
             "Welch's t-test, and the p-values are adjusted by Holm's step-down method over "
             "the {m} comparison{s}, so that the chance of calling any setting worse than the "
             "best by mistake is at most 5% (the \"beyond noise\" column uses the adjusted "
             "p-values; settings.csv keeps both).")


@dataclass(frozen=True)
class Estimate:
    """A setting's mean over its cells (values of the left-out keys), the standard error of
    that mean from the seed noise within the cells, and that noise's degrees of freedom."""

    mean: float
    se: float  # NaN when no cell has two runs: no noise estimate
    dof: int  # Σ (runs in a cell − 1)
    std: float  # the seed noise: pooled within-cell standard deviation
    n: int  # runs
    cells: int  # combinations of the left-out keys averaged over (1: none left out)

    def interval(self) -> tuple[float, float]:
        if self.dof < 1:
            return np.nan, np.nan
        if self.se == 0:
            return self.mean, self.mean
        low, high = stats.t.interval(CONFIDENCE, self.dof, loc=self.mean, scale=self.se)
        return float(low), float(high)


def estimate(values: np.ndarray, cells: np.ndarray | None = None) -> Estimate:
    """`values` (one per run) grouped into `cells` (labels; None: one cell)."""
    values = np.asarray(values, dtype=float)
    labels = np.zeros(len(values), dtype=int) if cells is None else \
        pd.factorize(pd.Series(cells, dtype=object))[0]
    frame = pd.DataFrame({"cell": labels, "x": values}).dropna()
    if frame.empty:
        return Estimate(np.nan, np.nan, 0, np.nan, 0, 0)
    per = frame.groupby("cell")["x"]
    means, counts = per.mean(), per.size()
    squares = float(((frame["x"] - frame["cell"].map(means)) ** 2).sum())
    dof, m = int((counts - 1).sum()), len(counts)
    std = float(np.sqrt(squares / dof)) if dof else np.nan
    se = std * float(np.sqrt((1 / counts).sum())) / m if dof else np.nan
    return Estimate(float(means.mean()), se, dof, std, len(frame), m)


def welch_p(a: Estimate, b: Estimate) -> float:
    """Two-sided p-value of Welch's t-test of two settings' means (Welch–Satterthwaite degrees
    of freedom); for settings of one cell each, exactly `scipy.stats.ttest_ind(a, b,
    equal_var=False)`. NaN where either side has no noise estimate."""
    if a.dof < 1 or b.dof < 1:
        return np.nan
    diff, se = a.mean - b.mean, float(np.hypot(a.se, b.se))
    if se == 0:
        return 1.0 if diff == 0 else 0.0
    dof = se**4 / (a.se**4 / a.dof + b.se**4 / b.dof)
    return float(2 * stats.t.sf(abs(diff) / se, dof))


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN ones are not part of it): the
    k-th smallest is multiplied by (m − k + 1), running maxima kept, capped at 1."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m = len(order)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return adjusted


def power(diff: float, std_a: float, std_b: float, seeds: int, cells: int = 1,
          alpha: float = ALPHA) -> float:
    """The chance that Welch's test at two-sided `alpha` separates two settings whose true means
    differ by `diff`, with seed noise `std_a`, `std_b` and `seeds` runs in each of `cells`
    cells per setting: the noncentral t distribution at the Welch–Satterthwaite degrees of
    freedom."""
    var_a, var_b = std_a**2, std_b**2
    if var_a + var_b == 0:
        return 1.0 if diff != 0 else alpha
    dof = cells * (seeds - 1) * (var_a + var_b) ** 2 / (var_a**2 + var_b**2)
    noncentrality = abs(diff) / np.sqrt((var_a + var_b) / (seeds * cells))
    critical = stats.t.ppf(1 - alpha / 2, dof)
    chance = float(stats.nct.sf(critical, dof, noncentrality)
                   + stats.nct.cdf(-critical, dof, noncentrality))
    if np.isnan(chance):  # scipy's nct gives up far in the tail, where the normal is exact
        chance = float(stats.norm.sf(critical - noncentrality)
                       + stats.norm.cdf(-critical - noncentrality))
    return chance


def seeds_needed(diff: float, std_a: float, std_b: float, cells: int = 1,
                 limit: int = MAX_SEEDS) -> int | None:
    """The fewest seeds per setting (per cell) at which Welch's test separates the two settings
    with POWER at two-sided ALPHA; None when even `limit` seeds are not enough. (Power grows
    with the seeds: bisection.)"""
    if limit < 2 or power(diff, std_a, std_b, limit, cells) < POWER:
        return None
    fails, enough = 1, limit  # one seed per cell has no noise estimate: never enough
    while enough - fails > 1:
        middle = (fails + enough) // 2
        if power(diff, std_a, std_b, middle, cells) >= POWER:
            enough = middle
        else:
            fails = middle
    return enough


def settings_table(results: Results, metric: str) -> pd.DataFrame:
    """One row per setting of the finished runs, best first: the compared keys, setting, rank,
    n, mean, std, ci_low, ci_high, wall_seconds, p_vs_best (Welch's, raw), distinguishable
    (Holm-adjusted p < 0.05), then p_vs_best_holm, could_be_best, cells (combinations of the
    left-out keys averaged over), se and dof (of the seed noise)."""
    ok = results.ok.dropna(subset=[metric])
    keys = results.varying or ["setting"]
    blocks = [k for k in results.pooled if k in ok]
    columns = [*dict.fromkeys([*keys, "setting"]), "rank", "n", "mean", "std", "ci_low",
               "ci_high", "wall_seconds", "p_vs_best", "distinguishable", "p_vs_best_holm",
               "could_be_best", "cells", "se", "dof"]
    if ok.empty:
        return pd.DataFrame(columns=columns)
    rows, found = [], []
    for values, group in ok.groupby(keys, sort=False, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        cells = group[blocks].astype(str).agg("|".join, axis=1).to_numpy() if blocks else None
        e = estimate(group[metric].to_numpy(dtype=float), cells)
        low, high = e.interval()
        rows.append({**dict(zip(keys, values, strict=True)), "setting": group["setting"].iloc[0],
                     "n": e.n, "mean": e.mean, "std": e.std, "ci_low": low, "ci_high": high,
                     "wall_seconds": group["wall_seconds"].mean(), "cells": e.cells,
                     "se": e.se, "dof": e.dof})
        found.append(e)
    table = pd.DataFrame(rows)
    means = table["mean"].to_numpy()
    order = np.argsort(-means if is_higher_better(metric) else means, kind="stable")
    table, found = table.iloc[order].reset_index(drop=True), [found[i] for i in order]
    table["rank"] = range(1, len(table) + 1)
    table["p_vs_best"] = [np.nan] + [welch_p(found[0], e) for e in found[1:]]
    table["p_vs_best_holm"] = [np.nan, *holm(table["p_vs_best"].to_numpy()[1:])]
    beyond = table["p_vs_best_holm"].map(lambda p: pd.NA if np.isnan(p) else bool(p < ALPHA))
    table["distinguishable"] = beyond.astype("boolean")
    table["could_be_best"] = (~table["distinguishable"]).astype("boolean")
    table.loc[0, "could_be_best"] = True
    return table[columns]


@dataclass(frozen=True)
class Verdict:
    text: str  # one paragraph, plain text
    command: str | None  # the command that adds seeds to this sweep folder, when it would help
    seeds: int | None = None  # the seeds per setting the command asks for
    settings: tuple[str, ...] = ()  # the settings it adds them to


# (seeds per setting, settings) → the command that adds them, or None where none can be given
AddSeeds = Callable[[int, Sequence[str]], "str | None"]


def sweep_folder(results: Results) -> Path | None:
    """The one sweep folder every run is in, or None (runs from several folders)."""
    folders = {Path(p).parent for p in results.runs["path"]}
    return folders.pop() if len(folders) == 1 else None


def add_seeds_command(results: Results, seeds: int, settings: Sequence[str] = ()) -> str | None:
    """The same sweep with more seeds, into the same folder (finished runs are skipped), started
    as the sweep was (`cnnsweep run`, `python -m cnnsweep`, `python run.py`, with its config
    folder and launcher): seeds up to `seeds` per setting, for the compared values of
    `settings` (all when empty). None for runs from several folders."""
    folder = sweep_folder(results)
    if folder is None:
        return None
    chosen = results.runs[results.runs["setting"].isin(settings)] if settings else results.runs
    values: dict[str, list[str]] = {}
    for overrides in chosen["_overrides"]:
        for key, value in overrides.items():
            if key != REPEAT_KEY and value not in values.setdefault(key, []):
                values[key].append(value)
    seeds_run = pd.to_numeric(results.runs.get(REPEAT_KEY, pd.Series([0])), errors="coerce")
    start = int(seeds_run.max()) + 1 if seeds_run.notna().any() else 1
    ok = results.ok[results.ok["setting"].isin(chosen["setting"])]
    have = int(ok.groupby("setting").size().min()) if not ok.empty else 0
    cells = max(int(ok.groupby(["setting", *results.pooled], dropna=False).size().groupby(
        "setting").size().max()), 1) if not ok.empty else 1
    new = range(start, start + max(seeds - have // cells, 1))
    sweep_file = next((s for s in results.runs.get("_sweep_file", []) if s), None)
    overrides = [*([f"+sweep={sweep_file}"] if sweep_file else []),
                 *(f"{key}={','.join(vals)}" for key, vals in values.items()),
                 f"seed={','.join(map(str, new))}"]
    return sweep_command(folder, overrides)


def _fmt(row: pd.Series) -> str:
    spread = f" ± {row['ci_high'] - row['mean']:.4f}" if row["n"] > 1 and \
        not np.isnan(row["ci_high"]) else ""
    runs = "1 run" if row["n"] == 1 else f"{row['n']} runs"
    return f"{row['mean']:.4f}{spread} ({runs})"


def _names(settings: Sequence[str], at_most: int = 6) -> str:
    shown = "; ".join(settings[:at_most])
    return shown + (f"; and {len(settings) - at_most} more" if len(settings) > at_most else "")


def verdict(table: pd.DataFrame, metric: str, spread: str = "seeds",
            add_seeds: AddSeeds | None = None, averaged_over: str = "") -> Verdict:
    """The best setting, the runner-up, which settings could be the best (Holm over Welch's
    tests against the best), and, when best and runner-up cannot be told apart, how many seeds
    per setting would settle it. `averaged_over` names the left-out keys a setting's mean
    averages over ("" when none)."""
    if table.empty:
        return Verdict(f"No run finished, so no setting can be ranked by {metric}.", None)
    best = table.iloc[0]
    if not (table["n"] > 1).any():
        ci = "one run each"
    elif averaged_over:
        ci = f"mean over the values of {averaged_over}, ± 95% CI from the seed noise within each"
    else:
        ci = f"mean ± 95% CI over {spread}"
    if len(table) == 1:
        text = f"One setting, {best['setting']}: {metric} {_fmt(best)}, {ci}."
        return _with_command(text, ENOUGH_SEEDS, [], add_seeds) if best["n"] < ENOUGH_SEEDS \
            else Verdict(text, None)
    second = table.iloc[1]
    text = (f"Best: {best['setting']}, {metric} {_fmt(best)}; runner-up: {second['setting']}, "
            f"{_fmt(second)} ({ci}). ")
    gap = abs(best["mean"] - second["mean"])
    n = int(min(best["n"], second["n"]))
    cells = int(max(best["cells"], second["cells"]))
    per_cell = n // max(cells, 1)
    if best["dof"] < 1 or second["dof"] < 1:
        where = f"setting and value of {averaged_over}" if averaged_over else "setting"
        text += (f"With one run per {where} there is no estimate of the seed noise: the "
                 f"difference of {gap:.4f} cannot be judged.")
        return _with_command(text, ENOUGH_SEEDS, [], add_seeds)
    candidates = table.loc[table["could_be_best"].fillna(True).astype(bool), "setting"].tolist()
    p, raw = second["p_vs_best_holm"], second["p_vs_best"]
    beyond = bool(p < ALPHA)
    text += (f"The difference of {gap:.4f} is {'beyond' if beyond else 'within'} the noise "
             f"between {spread} (Welch's t-test, Holm-adjusted p = {p:.3g}, raw p = {raw:.3g}). ")
    too_few = per_cell < ENOUGH_SEEDS
    if len(candidates) == 1 and too_few:
        text += (f"{best['setting']} is ahead beyond the noise, but {per_cell} {spread} per "
                 "setting are too few to tell.")
        return _with_command(text, ENOUGH_SEEDS, [], add_seeds)
    if len(candidates) == 1:
        return Verdict(text + f"{best['setting']} is the best beyond noise (family-wise 95%).",
                       None)
    text += (f"{len(candidates)} settings cannot be told apart from the best at 95% "
             f"confidence (family-wise) and could be the best: {_names(candidates)}.")
    needed = seeds_needed(gap, best["std"], second["std"], cells)
    if needed is None:
        far = seeds_needed(gap, best["std"], second["std"], cells, limit=FAR_SEEDS)
        takes = f"{far:,} seeds" if far else f"more than {FAR_SEEDS:,} seeds"
        text += (f" The difference is too small to resolve cheaply: at this noise it takes "
                 f"{takes} per setting to separate best and runner-up with {POWER:.0%} power "
                 "(Welch's t-test, two-sided 5%, noncentral t)" +
                 (f", more than the {MAX_SEEDS} this asks for." if add_seeds else "."))
        return _with_command(text, MAX_SEEDS, candidates, add_seeds)
    text += (f" To separate best and runner-up with {POWER:.0%} power (Welch's t-test, "
             f"two-sided 5%, noncentral t), a difference this size at this noise needs "
             f"{needed} seeds per setting; they have {per_cell}.")
    if too_few:
        text += f" (The noise measured on {per_cell} {spread} is rough: this figure will move.)"
    if needed <= per_cell:
        text += (f" What keeps them apart is the correction for the {len(table) - 1} "
                 "comparisons with the best; more seeds settle it.")
    return _with_command(text, max(needed, per_cell + 1, ENOUGH_SEEDS), candidates, add_seeds)


def _with_command(text: str, seeds: int, settings: Sequence[str],
                  add_seeds: AddSeeds | None) -> Verdict:
    command = add_seeds(seeds, settings) if add_seeds else None
    what = "the settings that could be the best" if settings else "every setting"
    if command:
        text += f" This adds seeds up to {seeds} per setting to {what}:"
    return Verdict(text, command, seeds, tuple(settings))


def main_effects(results: Results, metric: str) -> pd.DataFrame:
    """For each compared key and each of its values, the main effect: the mean of the cell
    means with that value (every other key, compared or left out, weighted alike), n its runs,
    and a 95% CI from the seed noise within the cells (Welch–Satterthwaite degrees of
    freedom); NaN where a cell has a single run, as there is then no noise to estimate."""
    ok = results.ok.dropna(subset=[metric])
    cells = ok.groupby([*results.varying, *[k for k in results.pooled if k in ok]],
                       dropna=False)[metric].agg(["mean", "var", "count"]).reset_index()
    rows = []
    for key in results.varying:
        for value in value_order(cells[key]):
            part = cells[cells[key] == value]
            m = len(part)
            mean = float(part["mean"].mean())
            low = high = np.nan
            if (part["count"] > 1).all():
                share = part["var"] / part["count"] / m**2  # each cell mean's variance share
                se = float(np.sqrt(share.sum()))
                with warnings.catch_warnings():  # no noise at all: a zero-width interval
                    warnings.simplefilter("ignore", RuntimeWarning)
                    df = share.sum() ** 2 / (share**2 / (part["count"] - 1)).sum() if se else 1
                half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, df)) * se
                low, high = mean - half, mean + half
            rows.append({"key": key, "value": value, "n": int(part["count"].sum()),
                         "settings": m, "mean": mean, "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows, columns=["key", "value", "n", "settings", "mean", "ci_low",
                                       "ci_high"])

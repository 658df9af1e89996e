"""Seed statistics: one row per setting with its mean, a 95% confidence interval, its rank and a
Welch's t-test against the best; the verdict a report opens with; main effects.

The distributions come from `scipy.stats`. A setting's runs are its repeats: they differ by
seed (or, when keys are pooled, by those keys too, which the report then says).
"""

from __future__ import annotations

import shlex
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from cnnsweep.results import REPEAT_KEY, SWEEP_KEY, Results, is_higher_better, value_order

CONFIDENCE = 0.95
ALPHA = 0.05  # a difference is beyond seed noise when Welch's p-value is below this
ENOUGH_SEEDS = 3  # below this many runs per setting, the verdict says it cannot tell


def mean_ci(values: np.ndarray) -> tuple[float, float, float, float]:
    """Mean, sample std and the Student-t 95% interval of the mean (NaN below two values)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    n = len(values)
    if n == 0:
        return (np.nan,) * 4
    mean = float(values.mean())
    if n < 2:
        return mean, np.nan, np.nan, np.nan
    std = float(values.std(ddof=1))
    if std == 0:
        return mean, 0.0, mean, mean
    low, high = stats.t.interval(CONFIDENCE, n - 1, loc=mean, scale=std / np.sqrt(n))
    return mean, std, float(low), float(high)


def welch_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Welch's t-test p-value (NaN where either side has fewer than two values)."""
    if len(a) < 2 or len(b) < 2:
        return np.nan
    if np.std(a) == 0 and np.std(b) == 0:
        return 1.0 if np.mean(a) == np.mean(b) else 0.0
    with warnings.catch_warnings():  # nearly equal values: scipy warns, the p-value holds
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def settings_table(results: Results, metric: str) -> pd.DataFrame:
    """One row per setting of the finished runs, best first: the compared keys, n, mean, std,
    ci_low, ci_high, rank, p_vs_best and distinguishable (p < 0.05)."""
    ok = results.ok.dropna(subset=[metric])
    keys = results.varying or ["setting"]
    if ok.empty:
        return pd.DataFrame(columns=[*keys, "setting", "n", "mean", "std", "ci_low", "ci_high",
                                     "rank", "p_vs_best", "distinguishable"])
    rows, samples = [], []
    for values, group in ok.groupby(keys, sort=False, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        sample = group[metric].to_numpy(dtype=float)
        mean, std, low, high = mean_ci(sample)
        rows.append({**dict(zip(keys, values, strict=True)), "setting": group["setting"].iloc[0],
                     "n": len(sample), "mean": mean, "std": std, "ci_low": low, "ci_high": high,
                     "wall_seconds": group["wall_seconds"].mean()})
        samples.append(sample)
    table = pd.DataFrame(rows)
    order = np.argsort(-table["mean"].to_numpy() if is_higher_better(metric)
                       else table["mean"].to_numpy(), kind="stable")
    table, samples = table.iloc[order].reset_index(drop=True), [samples[i] for i in order]
    table.insert(len(keys) + 1, "rank", range(1, len(table) + 1))
    best = samples[0]
    table["p_vs_best"] = [np.nan] + [welch_p(best, s) for s in samples[1:]]
    table["distinguishable"] = table["p_vs_best"].map(
        lambda p: pd.NA if np.isnan(p) else bool(p < ALPHA)).astype("boolean")
    return table


@dataclass(frozen=True)
class Verdict:
    text: str  # one paragraph, plain text
    command: str | None  # the command that adds seeds to this sweep folder, when it would help


def add_seeds_command(results: Results, sweep_dir: str | None) -> str | None:
    """`python run.py -m … seed=<new seeds> hydra.sweep.dir=<dir>`: the same sweep, more seeds,
    into the same folder (finished runs are skipped). None for runs from several folders."""
    if sweep_dir is None or results.runs[SWEEP_KEY].nunique() > 1:
        return None
    values: dict[str, list[str]] = {}
    for overrides in results.runs["_overrides"]:
        for key, value in overrides.items():
            if key != REPEAT_KEY and value not in values.setdefault(key, []):
                values[key].append(value)
    seeds = pd.to_numeric(results.runs.get(REPEAT_KEY, pd.Series([0])), errors="coerce")
    start = int(seeds.max()) + 1 if seeds.notna().any() else 1
    have = int(results.ok.groupby("setting").size().min()) if not results.ok.empty else 0
    new = range(start, start + max(ENOUGH_SEEDS - have, 1))
    sweep_file = next((s for s in results.runs.get("_sweep_file", []) if s), None)
    words = ["python", "run.py", "-m", *([f"+sweep={sweep_file}"] if sweep_file else []),
             *(f"{key}={','.join(vals)}" for key, vals in values.items()),
             f"seed={','.join(map(str, new))}", f"hydra.sweep.dir={sweep_dir}"]
    return " ".join(shlex.quote(w) for w in words)


def _fmt(row: pd.Series) -> str:
    spread = f" ± {row['ci_high'] - row['mean']:.4f}" if row["n"] > 1 and \
        not np.isnan(row["ci_high"]) else ""
    runs = "1 run" if row["n"] == 1 else f"{row['n']} runs"
    return f"{row['mean']:.4f}{spread} ({runs})"


def verdict(table: pd.DataFrame, metric: str, spread: str = "seeds",
            command: str | None = None) -> Verdict:
    """The best setting, the runner-up, and whether their difference is beyond seed noise."""
    if table.empty:
        return Verdict(f"No run finished, so no setting can be ranked by {metric}.", None)
    best = table.iloc[0]
    ci = f"mean ± 95% CI over {spread}" if (table["n"] > 1).any() else "one run each"
    if len(table) == 1:
        text = f"One setting, {best['setting']}: {metric} {_fmt(best)}, {ci}."
        return Verdict(text, command if best["n"] < ENOUGH_SEEDS else None)
    second = table.iloc[1]
    text = (f"Best: {best['setting']}, {metric} {_fmt(best)}; runner-up: {second['setting']}, "
            f"{_fmt(second)} ({ci}). ")
    gap = abs(best["mean"] - second["mean"])
    n = int(min(best["n"], second["n"]))
    if n < 2:
        text += (f"With one run per setting there is no estimate of the seed noise: the "
                 f"difference of {gap:.4f} cannot be judged.")
    else:
        p = second["p_vs_best"]
        beyond = p < ALPHA
        text += (f"The difference of {gap:.4f} is {'beyond' if beyond else 'within'} the noise "
                 f"between {spread} (Welch's t-test, p = {p:.3g})")
        if n < ENOUGH_SEEDS:
            text += f", but {n} {spread} per setting are too few to tell."
        else:
            text += "." if beyond else f": with {n} {spread} each they cannot be told apart."
    if n < ENOUGH_SEEDS and command:
        return Verdict(text + " More seeds settle it:", command)
    return Verdict(text, None)


def main_effects(results: Results, metric: str) -> pd.DataFrame:
    """For each compared key and each of its values, the main effect: the mean of the setting
    means with that value (every other key weighted alike), n its runs, and a 95% CI from the
    seed noise within the settings (Welch–Satterthwaite degrees of freedom); NaN where a
    setting has a single run, as there is then no noise to estimate."""
    ok = results.ok.dropna(subset=[metric])
    cells = ok.groupby(results.varying, dropna=False)[metric].agg(["mean", "var", "count"]) \
        .reset_index()
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
                df = share.sum() ** 2 / (share**2 / (part["count"] - 1)).sum() if se else 1
                half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, df)) * se
                low, high = mean - half, mean + half
            rows.append({"key": key, "value": value, "n": int(part["count"].sum()),
                         "settings": m, "mean": mean, "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows, columns=["key", "value", "n", "settings", "mean", "ci_low",
                                       "ci_high"])

"""Claims: what a sweep expects of its results, declared beside what it sweeps (`compare.claims`
of a sweep file), checked before training (names) and in the report (numbers). The grammar is
docs/claims.md.

A claim has one kind, named by the field that carries it: `order` (settings from the highest
value to the lowest), `highest` / `lowest` (one setting above / below every other), `value`
(± `tolerance`), `difference` (two settings, bounded by `at_least` / `at_most`), `count` (how
many values of `per` one setting is ahead of another at) or, with none of these, a bound on
the runs' value (`at_least` / `at_most`). A claim about one mean holds unless the 95%
confidence interval of that mean (stats.estimate, the report's interval) lies wholly outside
what is claimed; with one run, that run's value must lie inside. Orderings compare means.

`Claim` itself is a compare option (compare_options.py: the schema of `compare.claims` is
derived from it). The end of every sweep imports this module: pandas and the statistics are
imported where claims are checked, not here.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnsweep.compare_options import KINDS, Claim, closest

if TYPE_CHECKING:
    import pandas as pd

    from cnnsweep.results import Results
    from cnnsweep.stats import Estimate

AGGREGATES = ("mean", "best")
CHECKED_FILE = "claims.json"  # beside report.md: every claim's verdict, for CI and `reproduce`


def expected(claim: Claim) -> str:
    """What a claim claims, in a few words (the report's column)."""
    kind, m = claim.kind, claim.metric
    if kind == "order":
        return f"{m}: " + " > ".join(claim.settings())
    if kind in ("highest", "lowest"):
        return f"{m}: {getattr(claim, kind)} {kind}"
    if kind == "value":
        return f"{m} {_num(claim.value)} ± {_num(claim.tolerance)}"
    if kind == "count":
        a, b = claim.settings()
        return f"{m}: {a} ahead of {b} at {_bounds(claim)} values of {claim.per}"
    if kind == "difference":
        a, b = claim.settings()
        return f"{m}({a}) - {m}({b}) {_bounds(claim)}"
    return f"{m} {_bounds(claim)}"


def _bounds(claim: Claim) -> str:
    parts = ([f"≥ {_num(claim.at_least)}"] if claim.at_least is not None else []) + \
        ([f"≤ {_num(claim.at_most)}"] if claim.at_most is not None else [])
    return " and ".join(parts)


def _short(setting: str) -> str:
    """"optimizer=sgd" → "sgd" (the key is the column's)."""
    return setting.partition("=")[2] or setting


def _num(x: float | None) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"


# ---- validation, before any run trains -------------------------------------------------------

def split_setting(text: str, by: str | None) -> tuple[str | None, str]:
    """"optimizer=sgd" → ("optimizer", "sgd"); "sgd" with `by` → (by, "sgd")."""
    key, eq, value = str(text).partition("=")
    return (key.strip(), value.strip()) if eq else (by, str(text).strip())


def swept_values(params: Mapping[str, Any],
                 overrides: Iterable[str]) -> dict[str, list[str] | None]:
    """Each swept key's values as the sweep file's params and the command line give them (the
    command line wins a key); None where Hydra's sweep syntax (range, choice, interval) says
    more than a comma list."""
    swept: dict[str, list[str] | None] = {}
    given = [(str(k), str(v)) for k, v in params.items()] + \
        [tuple(o.split("=", 1)) for o in overrides if "=" in o]
    for key, text in given:
        key = key.lstrip("+~")
        if "(" in text or "[" in text:
            swept[key] = None
        elif "," in text:
            swept[key] = [v.strip() for v in text.split(",")]
        else:
            swept[key] = [text.strip()]
    return swept


def same_value(a: object, b: object) -> bool:
    """Values equal as a user reads them: 0.2 = "0.20", True = "true", "sgd" = "SGD"."""
    try:
        return math.isclose(float(str(a)), float(str(b)), rel_tol=1e-9)
    except ValueError:
        return str(a).strip().lower() == str(b).strip().lower()


def check_claims(claims: Sequence[Claim], config_keys: Iterable[str],
                 swept: Mapping[str, list[str] | None] | None = None,
                 metrics: Sequence[str] | None = None) -> None:
    """Every claim's grammar, metric, keys and (for swept keys) values; raises ValueError that
    names the claim, the bad value and the closest valid one. `config_keys` are the dotted keys
    of a run's config (and groups); `swept` each swept key's values (None: not a plain list)."""
    from cnnsweep.results import SUMMARY_METRICS

    metrics = list(metrics or SUMMARY_METRICS)
    keys = set(config_keys)
    swept = swept or {}
    for i, claim in enumerate(claims):
        where = f"compare.claims[{i}]" + (f" (figure {claim.figure})" if claim.figure else "")

        def fail(message: str, where: str = where) -> None:
            raise ValueError(f"{where}: {message}")

        given = [k for k in KINDS if getattr(claim, k) is not None]
        bounded = claim.at_least is not None or claim.at_most is not None
        if len(given) > 1:
            fail(f"one kind per claim, not {' and '.join(given)}; split it in two claims")
        kind = claim.kind
        if kind == "bound" and not bounded:
            fail(f"says nothing to check: give one of {', '.join(KINDS)}, or at_least/at_most")
        if kind in ("difference", "count") and not bounded:
            fail(f"{kind} needs at_least or at_most")
        if kind in ("order", "highest", "lowest", "value") and bounded:
            fail(f"at_least/at_most do not go with {kind}")
        if kind == "order" and len(claim.settings()) < 2:
            fail("order needs at least two settings, highest first")
        if kind in ("difference", "count") and len(claim.settings()) != 2:
            fail(f"{kind} needs exactly two settings [a, b], got {len(claim.settings())}")
        if kind == "count" and not claim.per:
            fail("count needs per: the key whose values are counted")
        if claim.tolerance < 0 or (claim.tolerance and kind != "value"):
            fail("tolerance goes with value, and is not negative")
        if claim.of not in AGGREGATES:
            fail(f"of: {claim.of} is not one of {', '.join(AGGREGATES)}"
                 f"{closest(claim.of, AGGREGATES)}")
        for name in metric_names(claim.metric):
            if name not in metrics:
                fail(f"metric {name} is not recorded by any run{closest(name, metrics)}; the "
                     f"metrics are {', '.join(metrics)}")
        for field_name, key in (("by", claim.by), ("per", claim.per)):
            if key is not None and key not in keys:
                fail(f"{field_name}: {key} is not a config key{closest(key, keys)}")
        named = [(kind, s) for s in claim.settings()] + \
            [("where", s) for s in claim.where] + [("when", s) for s in claim.when]
        for field_name, text in named:
            key, value = split_setting(text, claim.by)
            if key is None:
                fail(f"{field_name}: {text!r} names no key: write key=value (optimizer=sgd) or "
                     "give by: <key>")
            if key not in keys:
                fail(f"{field_name}: {key} is not a config key{closest(key, keys)}")
            values = swept.get(key) if field_name != "when" else None  # `when` may not apply
            if values and not any(same_value(value, v) for v in values):
                fail(f"{field_name}: {key}={value} is not swept{closest(value, values)}; the "
                     f"sweep's values of {key} are {', '.join(values)}")


def metric_names(metric: str) -> list[str]:
    """"train_acc - test_acc" → both names; a summary metric → itself."""
    return [m.strip() for m in metric.split(" - ")] if " - " in metric else [metric.strip()]


# ---- evaluation on the runs ------------------------------------------------------------------

@dataclass(frozen=True)
class Checked:
    claim: Claim
    holds: bool | None  # None: not checked (its `when` does not apply, or nothing to check)
    measured: str  # the numbers it was decided on
    closest: str = ""  # for a claim that does not hold: the nearest one that does
    value: float | None = None  # the one number it turns on (JSON)

    @property
    def mark(self) -> str:
        return {True: "✓", False: "✗", None: "—"}[self.holds]

    def record(self) -> dict[str, Any]:
        return {**asdict(self.claim), "kind": self.claim.kind, "holds": self.holds,
                "measured": self.measured, "closest": self.closest,
                "measured_value": self.value}


def _matches(runs: pd.DataFrame, text: str, by: str | None) -> pd.Series:
    import pandas as pd

    key, value = split_setting(text, by)
    if key not in runs:
        return pd.Series(False, index=runs.index)
    return runs[key].map(lambda v: same_value(v, value)).astype(bool)


def metric_values(runs: pd.DataFrame, metric: str) -> pd.Series:
    """The metric of each run that ended ok (NaN for the others)."""
    import numpy as np
    import pandas as pd

    names = metric_names(metric)
    values = [pd.to_numeric(runs[m], errors="coerce") if m in runs else
              pd.Series(np.nan, index=runs.index) for m in names]
    value = values[0] - values[1] if len(values) == 2 else values[0]
    return value.where(runs["status"] == "ok")


def _higher_is_ahead(metric: str) -> bool:
    from cnnsweep.results import is_higher_better

    return len(metric_names(metric)) == 2 or is_higher_better(metric)


def _estimate(values: pd.Series, of: str, metric: str) -> Estimate:
    from cnnsweep.stats import Estimate, estimate

    if of == "best":
        kept = values.dropna()
        best = float(kept.max() if _higher_is_ahead(metric) else kept.min()) if len(kept) \
            else math.nan
        return Estimate(best, math.nan, 0, math.nan, len(kept), 1)
    return estimate(values.to_numpy(dtype=float))


def _described(e: Estimate, of: str) -> str:
    if e.n == 0:
        return "no run ended ok"
    if of == "best":
        return f"{_num(e.mean)} (best of {e.n} runs)"
    low, high = e.interval()
    if math.isnan(low):
        return f"{_num(e.mean)} ({e.n} run{'s' if e.n > 1 else ''}, no CI)"
    return f"{_num(e.mean)} (95% CI {_num(low)} to {_num(high)}, {e.n} runs)"


def _range(e: Estimate) -> tuple[float, float]:
    """What the runs do not contradict: the 95% CI of the mean, or the one value."""
    low, high = e.interval()
    return (e.mean, e.mean) if math.isnan(low) else (low, high)


def _meets(low: float, high: float, at_least: float | None, at_most: float | None) -> bool:
    if math.isnan(low) or math.isnan(high):
        return False
    return (at_least is None or high >= at_least) and (at_most is None or low <= at_most)


def _nearest_bound(low: float, high: float, claim: Claim) -> str:
    if claim.at_least is not None and high < claim.at_least:
        return f"holds as ≥ {_num(high)}"
    if claim.at_most is not None and low > claim.at_most:
        return f"holds as ≤ {_num(low)}"
    return ""


def _difference(a: Estimate, b: Estimate) -> tuple[float, float, float]:
    """a − b and its 95% CI (Welch–Satterthwaite), or the point where either lacks noise."""
    from scipy import stats

    diff = a.mean - b.mean
    if a.dof < 1 or b.dof < 1:
        return diff, diff, diff
    se = math.hypot(a.se, b.se)
    if se == 0:
        return diff, diff, diff
    dof = se**4 / (a.se**4 / a.dof + b.se**4 / b.dof)
    half = float(stats.t.ppf(0.975, dof)) * se
    return diff, diff - half, diff + half


def check(claim: Claim, runs: pd.DataFrame) -> Checked:
    """One claim on the runs of a comparison (one row per run, with its config keys)."""
    from cnnsweep.results import value_order

    for text in claim.when:
        key, value = split_setting(text, None)
        if key not in runs or not _matches(runs, text, None).all():
            return Checked(claim, None, f"not checked: applies when {key}={value}")
    for text in claim.where:
        runs = runs[_matches(runs, text, claim.by)]
    values = metric_values(runs, claim.metric)
    if values.isna().all():  # unfinished, interrupted or failed: nothing to judge yet
        return Checked(claim, None, "not checked: no run it names ended ok")
    kind = claim.kind

    def full(text: str) -> str:
        key, value = split_setting(text, claim.by)
        return f"{key}={value}"

    def of(text: str, subset: pd.DataFrame = runs) -> Estimate:
        return _estimate(values.loc[subset.index][_matches(subset, text, claim.by)],
                         claim.of, claim.metric)

    if kind in ("order", "highest", "lowest"):
        named = [full(s) for s in claim.settings()]
        key = split_setting(named[0], None)[0]
        if key not in runs:
            return Checked(claim, False, f"no run has the key {key}")
        shown = named if kind == "order" else [f"{key}={v}" for v in value_order(runs[key])]
        means = {s: of(s).mean for s in shown}
        ranked = sorted(shown, key=lambda s: math.inf if math.isnan(means[s]) else -means[s])
        measured = " > ".join(f"{_short(s)} {_num(means[s])}" for s in ranked)
        if kind == "order":
            given = [means[s] for s in shown]
            holds = all(x > y for x, y in itertools.pairwise(given))
            return Checked(claim, holds, measured,
                           "" if holds else "holds as " + " > ".join(_short(s) for s in ranked))
        target = next((s for s in shown if same_value(split_setting(s, None)[1],
                                                      split_setting(named[0], None)[1])), None)
        learned = [s for s in ranked if not math.isnan(means[s])]
        if target is None or not learned:
            return Checked(claim, False, f"no run ended ok with {named[0]}")
        pick = learned[0] if kind == "highest" else learned[-1]
        holds = pick == target
        return Checked(claim, holds, measured, "" if holds else
                       f"the {kind} is {_short(pick)} ({_num(means[pick])})", means[target])
    if kind == "count":
        a, b = claim.settings()
        cells = value_order(runs[claim.per]) if claim.per in runs else []
        ahead, behind = [], []
        for cell in cells:
            in_cell = runs[runs[claim.per].map(lambda v, c=cell: same_value(v, c))]
            x, y = of(a, in_cell).mean, of(b, in_cell).mean
            higher = _higher_is_ahead(claim.metric)
            wins = not math.isnan(x) and (math.isnan(y) or (x > y if higher else x < y))
            (ahead if wins else behind).append(cell)
        n = len(ahead)
        holds = bool(cells) and _meets(n, n, claim.at_least, claim.at_most)
        others = ", ".join(_num(c) if isinstance(c, float) else str(c) for c in behind)
        measured = f"ahead at {n} of {len(cells)}" + (
            f" (not at {claim.per}={others})" if behind and len(behind) <= 6 else "")
        return Checked(claim, holds, measured, "" if holds or not cells else
                       f"holds as ahead at {'≥' if claim.at_least is not None else '≤'} {n} "
                       f"of {len(cells)}", float(n))
    if kind == "difference":
        a, b = claim.settings()
        ea, eb = of(a), of(b)
        diff, low, high = _difference(ea, eb)
        ci = "" if low == high else f" (95% CI {_num(low)} to {_num(high)})"
        measured = f"{_num(ea.mean)} - {_num(eb.mean)} = {_num(diff)}{ci}"
        holds = _meets(low, high, claim.at_least, claim.at_most)
        return Checked(claim, holds, measured, "" if holds else _nearest_bound(low, high, claim),
                       diff)
    e = _estimate(values, claim.of, claim.metric)
    low, high = _range(e)
    if kind == "value":
        band = (claim.value - claim.tolerance, claim.value + claim.tolerance)
        holds = _meets(low, high, band[0], band[1])
        needed = max(claim.value - high, low - claim.value)
        return Checked(claim, holds, _described(e, claim.of), "" if holds or math.isnan(needed)
                       else f"holds as {_num(claim.value)} ± {needed:.2g}", e.mean)
    holds = _meets(low, high, claim.at_least, claim.at_most)
    return Checked(claim, holds, _described(e, claim.of),
                   "" if holds else _nearest_bound(low, high, claim), e.mean)


def check_all(claims: Sequence[Claim], results: Results) -> list[Checked]:
    return [check(claim, results.runs) for claim in claims]


def failed(checked: Sequence[Checked]) -> list[Checked]:
    return [c for c in checked if c.holds is False]


def claims_table(checked: Sequence[Checked]) -> pd.DataFrame:
    """The report's first table: each claim, what it expects, what was measured, ✓/✗."""
    import pandas as pd

    return pd.DataFrame({
        "figure": [c.claim.figure or "" for c in checked],
        "claim": [c.claim.says or f"{c.claim.kind} of {c.claim.metric}" for c in checked],
        "expected": [expected(c.claim) for c in checked],
        "measured": [c.measured for c in checked],
        "holds": [c.mark for c in checked],
        "closest that holds": [c.closest for c in checked],
    })


RULE = ("A claim about one setting's value holds unless the 95% confidence interval of its mean "
        "over seeds lies wholly outside the claimed range (with one run, that run's value must "
        "lie inside); orderings and counts compare means; ✗ rows say the closest claim that "
        "holds; — marks a claim not checked: its `when` does not apply to these runs, or none "
        "of its runs ended ok.")


def write_checked(folder: Path, checked: Sequence[Checked]) -> None:
    """`claims.json` beside the report (removed when there are no claims), so that a sweep's
    end, `cnnsweep compare` and CI read one verdict."""
    path = folder / CHECKED_FILE
    if not checked:
        path.unlink(missing_ok=True)
        return
    path.write_text(json.dumps([c.record() for c in checked], indent=1, ensure_ascii=False))


def read_checked(folder: Path) -> list[dict[str, Any]]:
    try:
        return json.loads((folder / CHECKED_FILE).read_text())
    except (OSError, ValueError):
        return []


def claims_do_not_hold(report_dir: Path) -> bool:
    """Whether the report in `report_dir` found a claim that does not hold (said on stderr)."""
    import sys

    sentence = failed_sentence(read_checked(report_dir))
    if sentence:
        print(sentence, file=sys.stderr, flush=True)
    return bool(sentence)


def failed_sentence(records: Sequence[Mapping[str, Any]]) -> str:
    """One line for the terminal: which claims do not hold."""
    bad = [r for r in records if r.get("holds") is False]
    if not bad:
        return ""
    names = "; ".join(f"{r.get('says') or r.get('kind')}"
                      f"{' (figure ' + str(r['figure']) + ')' if r.get('figure') else ''}: "
                      f"{r.get('measured')}" for r in bad[:5])
    return f"{len(bad)} of {len(records)} claim(s) do not hold: {names}"

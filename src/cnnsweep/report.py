"""The comparison of a sweep: `runs.csv`, `settings.csv`/`settings.tex`, figures (PNG, SVG,
PDF), and `report.md` and `report.html` rendered from one document.

A sweep's own report (in its folder) is written only by the comparison its sweep file asks for;
any other comparison of it goes to `<sweep>/compare/<options>/` (or `--out`).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.pool import Pool
from pathlib import Path

import pandas as pd

from cnnsweep import plots, search_report
from cnnsweep.claims import RULE, check_all, claims_table, write_checked
from cnnsweep.compare_options import CompareOptions, default_figures
from cnnsweep.document import (
    Code,
    Document,
    Heading,
    Image,
    Items,
    Paragraph,
    Table,
    to_html,
    to_markdown,
)
from cnnsweep.figures.style import FORMATS, page_of
from cnnsweep.learning import not_learned, not_learned_sentence
from cnnsweep.results import SWEEP_KEY, Results, gather
from cnnsweep.runfolder import Status, unreadable_files
from cnnsweep.stats import PROCEDURE, add_seeds_command, settings_table, verdict

COMPARE_FOLDER = "compare"  # other comparisons of a sweep go below it
SHOWN_PROBLEMS = 10  # unreadable files named on the terminal; the report lists them all


class UnknownMetricError(KeyError):
    """A metric that no run recorded; the message lists the ones that exist."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Comparison:
    results: Results  # compared by the resolved keys
    options: CompareOptions  # every option resolved (figures listed)
    own: bool  # the comparison the sweep file asks for


def resolve(paths: Sequence[str | Path], results: Results | None = None,
            ranked_by: str | None = None, **given: object) -> Comparison:
    """The runs and every option, checked before anything is written: unknown keys, figure
    types or metrics raise with the values that exist. `ranked_by`: the metric in place of the
    runs' own (a search's)."""
    results = results if results is not None else gather(paths, bool(given.get("pool_sweeps")))
    saved = CompareOptions.from_mapping(results.compare_settings())
    if ranked_by:
        saved = saved.updated(metric=ranked_by)
    own = saved.updated(figures=saved.figures or default_figures(len(
        results.by(saved.by).varying)))
    options = saved.updated(**given)
    results = results.by(options.by)
    options = options.updated(figures=options.figures or default_figures(len(results.varying)))
    if options.metric not in results.metrics():
        raise UnknownMetricError(f"metric {options.metric!r} was not recorded by any run; the "
                                 f"metrics are {', '.join(results.metrics()) or '(none)'}")
    unknown = [n for n in options.figures if n not in plots.FIGURES]
    if unknown:
        raise ValueError(f"unknown figure type {', '.join(unknown)}; the types are "
                         f"{', '.join(plots.FIGURES)}")
    unknown = [f for f in options.formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown figure format {', '.join(unknown)}; the formats are "
                         f"{', '.join(FORMATS)}")
    plots.panel_key(results, options.panels)  # an unknown panel key fails here
    page_of(options.size)  # so does an unknown paper width
    same = options.updated(by=tuple(results.varying)) == own.updated(
        by=tuple(results.by(saved.by).varying))
    return Comparison(results, options, same and len(paths) == 1)


def output_folder(paths: Sequence[str | Path], comparison: Comparison,
                  out: str | Path | None) -> Path:
    """`out`, else the sweep's own folder for its own comparison, else a folder named after
    the options under `<first folder>/compare/`."""
    if out is not None:
        return Path(out)
    first = Path(paths[0])
    if comparison.own:
        return first
    o = comparison.options
    parts = [f"by-{'+'.join(comparison.results.varying) or 'none'}", o.metric]
    defaults = CompareOptions()
    if o.figures != default_figures(len(comparison.results.varying)):
        parts.append(f"figures-{'+'.join(o.figures)}")
    for name in ("smooth", "panels", "top", "loss_ylim", "size"):
        if getattr(o, name) != getattr(defaults, name):
            parts.append(f"{name}-{getattr(o, name)}")
    if o.pool_sweeps:
        parts.append("pooled")
    parts += [f"with-{Path(p).name}" for p in paths[1:]]
    slug = re.sub(r"[^\w.+=-]+", "-", "_".join(parts)).strip("-")[:150]
    return first / COMPARE_FOLDER / slug


def _status_line(results: Results) -> str:
    counts = results.runs["status"].value_counts()
    order = [s.value for s in Status] + [s for s in counts.index if s not in set(Status)]
    return f"{len(results.runs)} runs: " + ", ".join(f"{counts[s]} {s}" for s in order
                                                      if s in counts)


def _and(words: Sequence[str]) -> str:
    words = list(words)
    return ", ".join(words[:-1]) + f" and {words[-1]}" if len(words) > 1 else "".join(words)


def _values(results: Results) -> str:
    return _and([f"{k} ({results.runs[k].nunique()} values)" for k in results.pooled])


def _folder_names(paths: pd.Series) -> list[str]:
    return sorted({Path(p).parent.name for p in paths})


def _duplicates_sentence(results: Results) -> str:
    dup = results.duplicates
    return (f"{len(dup)} duplicate run(s) dropped: the same config, seed and results in "
            f"{_and(_folder_names(dup['path']))} as in {_and(_folder_names(dup['copy_of']))}; "
            "each run counts once.")


VERSION_FIELDS = ("commit", "cpu", "blas", "numpy", "python", "platform")


def _conflicts_sentence(results: Results) -> str:
    """Runs of one identity whose results disagree: where, and what their versions say."""
    runs = results.conflicts
    folders = runs["path"].map(lambda p: Path(p).parent.name)
    versions = pd.DataFrame(list(runs["_versions"]), index=runs.index)
    differ = []
    for name in VERSION_FIELDS:
        if name not in versions:
            continue
        per_folder = versions[name].fillna("unknown").astype(str).groupby(folders).agg(
            lambda v: ", ".join(sorted(set(v))))
        if per_folder.nunique() > 1:
            differ.append(f"{'CPU' if name == 'cpu' else name} " + " vs ".join(
                f"{value} ({folder})" for folder, value in per_folder.items()))
    kept = ("the sweep is a compared key" if SWEEP_KEY in results.varying else
            "each folder's runs are averaged as a block of their own")
    why = (f"the folders differ in {'; '.join(differ)}" if differ else
           "their recorded versions (commit, CPU, BLAS, NumPy, Python) are the same, so what "
           "differs is not recorded")
    return (f"{runs['config_hash'].nunique()} run(s) have the same config and seed in "
            f"{_and(sorted(set(folders)))} but different results: they are separate runs, not "
            f"repeats ({kept}); {why}.")


def _repeats_sentence(results: Results, table: pd.DataFrame) -> str:
    """What a setting's runs differ by, and what its mean averages over, in plain words."""
    if not results.pooled:
        if results.spread_label() == "seeds":
            return "Repeats: the runs of a setting differ by seed only."
        return ("Repeats: some settings hold several runs of one seed (their results differ); "
                "they count as repeats.")
    keys = _and(results.pooled)
    text = (f"Each setting's mean is the mean of its means per value of {keys} (each value "
            f"weighted alike, as in main effects), not of its runs: {keys} "
            f"{'vary' if len(results.pooled) > 1 else 'varies'} but "
            f"{'are' if len(results.pooled) > 1 else 'is'} not compared. ")
    if (table["dof"] > 0).any():
        text += ("Its interval and tests use only the spread between seeds within each value, "
                 f"not the differences between the values of {keys}.")
    else:
        text += (f"With one run per setting and value of {keys} there is no estimate of the "
                 "seed noise: no interval, no test.")
    if table["cells"].nunique() > 1:
        text += (f" Not every setting has runs for every value of {keys}: their means average "
                 "over different values and do not compare like with like.")
    return text


def _settings_for_people(table: pd.DataFrame, keys: list[str], metric: str,
                         flagged: pd.DataFrame | None = None) -> pd.DataFrame:
    """The settings table as the report shows it: mean ± CI half-width, n, p vs best, and a
    note on the settings that did not learn."""
    half = (table["ci_high"] - table["mean"]).where(table["n"] > 1)
    shown = table[["rank", *keys]].copy() if keys else table[["rank", "setting"]].copy()
    shown[f"{metric} mean"] = table["mean"]
    shown["± 95% CI"] = half
    shown["n"] = table["n"]
    shown["std"] = table["std"]
    shown["p vs best"] = table["p_vs_best"]
    shown["p vs best (Holm)"] = table["p_vs_best_holm"]
    shown["beyond noise"] = table["distinguishable"].map(
        {True: "yes", False: "no"}).astype(object)
    shown["seconds"] = table["wall_seconds"]
    if flagged is not None and not flagged.empty:
        shown["note"] = table["setting"].map(dict(zip(flagged["setting"], flagged["note"],
                                                      strict=True))).fillna("")
    return shown


def runs_table(results: Results, metric: str) -> pd.DataFrame:
    columns = ["run", "status", *results.varying, "seed", metric, "train_acc", "best_test_acc",
               "wall_seconds", "images_per_second", "error"]
    present = list(dict.fromkeys(c for c in columns if c in results.runs))
    return results.runs[present].sort_values(metric, ascending=False, na_position="last") \
        .reset_index(drop=True)


def format_p(p: float) -> str:
    """A p-value to two significant digits ("0.037", "3.7e-18"), never "0.0000"; exactly 0
    (two settings without any spread) as "< 1e-300"."""
    if pd.isna(p):
        return ""
    return "< 1e-300" if p <= 0 else f"{p:#.2g}"  # '#': 0.040, not 0.04


def is_p_column(name: str) -> bool:
    return name == "p" or name.startswith(("p ", "p_", "p-"))


def latex_text(text: str) -> str:
    """Text for a LaTeX table cell written after pandas' escaping: `<` and `>` are not text
    characters in LaTeX's default font encoding (they print as ¡ and ¿)."""
    return text.replace("<", "$<$").replace(">", "$>$")


def write_latex(table: pd.DataFrame, path: Path) -> None:
    """A booktabs table (pandas' Styler, which escapes `_ % & # $ { } ~ ^ \\` in keys and
    values), numbers as in the report, p-values to two significant digits; it compiles inside
    `\\documentclass{article}\\usepackage{booktabs}` and `\\input`."""
    p_columns = [c for c in table.columns if is_p_column(str(c))]
    styler = table.style.hide(axis="index") \
        .format(precision=4, na_rep="", escape="latex") \
        .format(lambda p: latex_text(format_p(p)), subset=p_columns, na_rep="") \
        .format_index(escape="latex", axis="columns")
    # The long cells (mean ± CI, a note) wrap in narrow columns, headers of several words
    # wrap above short values ("final budget", "p vs best (Holm)"), and the table is set small
    # with narrow column gaps, so that three keys fit an article's text width.
    columns = "".join(_column_format(table, c) for c in table.columns)
    tabular = styler.to_latex(hrules=True, column_format=columns)
    path.write_text("{\\small\\setlength{\\tabcolsep}{4pt}\\noindent\n" + tabular + "}\n")


WRAPPED_COLUMN = "p{2.5cm}"  # "0.9805 ± 0.0021" on one line
SMALL_CHAR_CM = 0.17  # a character's width in \\small, about


def _column_format(table: pd.DataFrame, column: object) -> str:
    header = str(column)
    if header == "note" or "±" in header:
        return WRAPPED_COLUMN
    cells = table[column]
    if is_p_column(header):
        cells = cells.map(format_p)
    elif pd.api.types.is_float_dtype(cells):
        cells = cells.map(lambda v: f"{v:.4f}")
    values = int(cells.astype(str).str.len().max()) if len(table) else 0
    longest_word = max(map(len, header.split()))
    if " " not in header or len(header) <= max(values, longest_word) + 2:
        return "l"
    # two header lines at most, each nearly full: a justified line of one short word and a
    # gap would look broken
    chars = max(values, longest_word, math.ceil(len(header) / 2))
    return f"p{{{SMALL_CHAR_CM * chars + 0.15:.1f}cm}}"


# In the report's table, not a paper's: the raw p-value (the Holm-adjusted one decides).
PAPER_DROPS = ("std", "beyond noise", "seconds", "p vs best")


def paper_table(shown: pd.DataFrame, metric: str, keys: Sequence[str] = ()) -> pd.DataFrame:
    """The report's settings table as a paper prints it, within a page's width: the mean and
    its 95% CI half-width in one column, without std, the raw p-value (the Holm-adjusted one
    stays), the beyond-noise column and the seconds."""
    mean, half = f"{metric} mean", "± 95% CI"
    table = shown.drop(columns=[c for c in PAPER_DROPS if c in shown])
    if mean in table and half in table:
        combined = [("" if pd.isna(m) else f"{m:.4f}") + ("" if pd.isna(h) else f" ± {h:.4f}")
                    for m, h in zip(table[mean], table[half], strict=True)]
        position = table.columns.get_loc(mean)
        table = table.drop(columns=[mean, half])
        table.insert(position, f"{metric} (mean ± 95% CI)", combined)
    if "note" in table and not table["note"].astype(bool).any():
        table = table.drop(columns="note")
    for key in keys:  # a weight decay of 1e-08 is not 0.0000
        if key in table and pd.api.types.is_float_dtype(table[key]):
            table[key] = table[key].map(lambda v: "" if pd.isna(v) else f"{v:.4g}")
    # A key's last part names its column where that is unambiguous (filter_num, not
    # conv.filter_num): the headers set a narrow table's width.
    short = {k: k.rsplit(".", 1)[-1] for k in keys if k in table}
    if len(set(short.values())) == len(short) and not set(short.values()) & (
            set(table.columns) - set(short)):
        table = table.rename(columns=short)
    return table


def compare(paths: Sequence[str | Path], *, out: str | Path | None = None,
            results: Results | None = None, helper: Pool | None = None,
            warn: Callable[[str], object] = lambda m: print(m, file=sys.stderr),
            **options: object) -> Path:
    """Compare every run under `paths`; returns the path of `report.html`.

    Options left at None (`by`, `metric`, `figures`, `smooth`, `loss_ylim`, `panels`, `top`,
    `pool_sweeps`) come from the runs' own `compare` config, else from CompareOptions.
    """
    search = search_report.read(paths)  # a halving search: each configuration at its end
    # A search's report ranks as the search chose (validation), whatever the runs'
    # compare.metric says: the test set never chooses.
    if search is None and len(paths) == 1 and (Path(paths[0]) / search_report.RECORD).is_file():
        warn(f"cnnsweep compare: {Path(paths[0]) / search_report.RECORD} is not a readable "
             "search record: the runs are compared as a plain sweep (every budget a setting "
             "of its own); run the search's command again to rewrite it")
    comparison = resolve(paths, results, search.metric if search else None, **options)
    results, o = comparison.results, comparison.options
    if search is not None:
        results = search.final_runs(results)
    out_dir = output_folder(paths, comparison, out)
    out_dir.mkdir(parents=True, exist_ok=True)
    averaged = _and(results.pooled)
    if results.pooled:
        warn(f"cnnsweep compare: averaging over {_values(results)}, which vary but are not "
             "compared: a setting's mean is the mean over their values, each alike, and its "
             "interval comes from the seed noise within each value; compare by them with --by")
    if not results.duplicates.empty:
        warn(f"cnnsweep compare: {_duplicates_sentence(results)}")
    if not results.conflicts.empty:
        warn(f"cnnsweep compare: {_conflicts_sentence(results)}")
    unreadable = [problem for path in results.runs["path"]
                  for problem in unreadable_files(Path(path))]
    for problem in unreadable[:SHOWN_PROBLEMS]:
        warn(f"cnnsweep compare: skipped {problem}")
    if len(unreadable) > SHOWN_PROBLEMS:
        warn(f"cnnsweep compare: … and {len(unreadable) - SHOWN_PROBLEMS} more unreadable files "
             "(listed in the report)")

    ctx = plots.figure_context(results, o)
    figures = plots.FigureJobs(o.figures, results, ctx, out_dir, helper)
    table = settings_table(results, o.metric) if search is None else \
        search.settings_table(results, o.metric)
    results.table().to_csv(out_dir / "runs.csv", index=False)
    table.to_csv(out_dir / "settings.csv", index=False)
    flagged = not_learned(results, o.metric)
    shown = _settings_for_people(table, results.varying + ([search_report.FINAL_BUDGET] if
                                 search else []), o.metric, flagged)
    write_latex(paper_table(shown, o.metric, results.varying), out_dir / "settings.tex")
    drawn = figures.finish()

    doc = Document(f"cnnsweep comparison: {', '.join(str(p) for p in paths)}")
    checked = check_all(o.claims, results)
    write_checked(out_dir, checked)
    if checked:  # the report opens with what the sweep expected and whether it holds
        doc.add(Heading("Claims"), Table(claims_table(checked)), Paragraph(RULE),
                Heading("Verdict"))
    ranked = table if search is None else search.finalists(table)  # the full budget's only
    found = verdict(ranked, o.metric, results.spread_label(blocks=True),
                    None if search else  # a search's runs are not a grid to add seeds to
                    lambda seeds, settings: add_seeds_command(results, seeds, settings),
                    averaged)
    doc.add(Paragraph(found.text))
    if found.command:
        doc.add(Code(found.command))
    if not flagged.empty:
        doc.add(Paragraph(not_learned_sentence(flagged)))
    facts = [_status_line(results) + "."]
    if not results.duplicates.empty:
        facts.append(_duplicates_sentence(results))
    if not results.conflicts.empty:
        facts.append(_conflicts_sentence(results)[0].upper() + _conflicts_sentence(results)[1:])
    facts.append(f"Compared keys: {', '.join(results.varying) or '(none vary)'}; metric: "
                 f"{o.metric}.")
    facts.append(_repeats_sentence(results, table))
    tests = int(table["p_vs_best"].notna().sum())
    if tests:
        facts.append(PROCEDURE.format(m=tests, s="" if tests == 1 else "s"))
    if (results.runs["status"] == Status.INTERRUPTED).any():
        facts.append("The sweep was interrupted: this compares the runs that finished; run "
                     "the sweep again to train the others.")
    facts.append(f"test_acc is measured on all test images at the end of training; the curves "
                 f"and best_test_acc on the per-epoch evaluation sample. Generated "
                 f"{datetime.now().isoformat(timespec='seconds')}.")
    doc.add(Paragraph(" ".join(facts)), Heading(f"Settings by {o.metric}"),
            Table(shown, sortable=True), Heading("Figures"))
    doc.add(*(Image(f.files["png"], f.caption, f.note) for f in drawn))
    if search is not None:
        doc.add(*search.section(results, out_dir, page_of(o.size), o.formats, ctx))
    doc.add(Heading("All runs"), Table(runs_table(results, o.metric), sortable=True))
    failed = results.runs[results.runs["status"] != Status.OK]
    if not failed.empty:
        doc.add(Heading("Runs that did not finish ok"),
                Items([f"{r.run}: {r.status}. {r.error}".rstrip() for r in failed.itertuples()]))
    if unreadable:
        doc.add(Heading("Files skipped"), Items(unreadable))
    (out_dir / "report.md").write_text(to_markdown(doc))
    (out_dir / "report.html").write_text(to_html(doc))
    return out_dir / "report.html"

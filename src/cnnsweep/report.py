"""The comparison of a sweep: `runs.csv`, figures, `report.md` and a self-contained
`report.html` (figures embedded), written from the results DataFrames only."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pandas as pd

from cnnsweep import plots
from cnnsweep.compare_options import CompareOptions
from cnnsweep.results import Results, aggregate, gather
from cnnsweep.runfolder import Status


class UnknownMetricError(KeyError):
    """A metric that no run recorded; the message lists the ones that exist."""

    def __str__(self) -> str:
        return str(self.args[0])


def best_table(results: Results, metric: str) -> pd.DataFrame:
    """One row per setting, best first: metric mean ± std over seeds, count, time, speed."""
    table = aggregate(results.runs, results.varying, metric)
    table.insert(0, "rank", range(1, len(table) + 1))
    return table.rename(columns={"mean": f"{metric} mean", "std": f"{metric} std",
                                 "count": "runs"})


def runs_table(results: Results, metric: str) -> pd.DataFrame:
    columns = ["run", "status", *results.varying, "seed", metric, "train_acc", "wall_seconds",
               "images_per_second", "error"]
    seen = list(dict.fromkeys(c for c in columns if c in results.runs))
    table = results.runs[seen].sort_values(metric, ascending=False, na_position="last")
    return table.reset_index(drop=True)


def _fmt(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    for column in out.columns:
        if pd.api.types.is_float_dtype(out[column]):
            out[column] = out[column].map(lambda v: "" if pd.isna(v) else f"{v:.4g}")
    return out.fillna("")


def _markdown_table(table: pd.DataFrame) -> str:
    table = _fmt(table).astype(str)
    cells = [[c.replace("|", "\\|").replace("\n", " ")[:200] for c in row]
             for row in table.to_numpy().tolist()]
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    return "\n".join([header, rule, *("| " + " | ".join(r) + " |" for r in cells)])


def _status_line(results: Results) -> str:
    counts = results.runs["status"].value_counts()
    parts = [f"{counts[s]} {s}" for s in (*(s.value for s in Status), *counts.index)
             if s in counts]
    return f"{len(results.runs)} runs: " + ", ".join(dict.fromkeys(parts))


def compare(paths: Sequence[str | Path], *, by: Sequence[str] | None = None,
            metric: str | None = None, out: str | Path | None = None,
            figures: Sequence[str] | None = None, smooth: int | None = None,
            loss_ylim: Sequence[float] | None = None, panels: str | None = None,
            top: int | None = None, results: Results | None = None) -> Path:
    """Compare every run under `paths`; returns the path of `report.html`.

    Options left at None come from the runs' own `compare` config (so a sweep file's figure
    choices apply when it is compared again), else from the defaults.
    """
    results = results if results is not None else gather(paths)
    saved = results.compare_settings()
    defaults = CompareOptions()
    by = by or saved.get("by")
    if by:
        results = results.by(by)
    metric = metric or saved.get("metric") or defaults.metric
    if metric not in results.metrics():
        raise UnknownMetricError(f"metric {metric!r} was not recorded by any run; the metrics "
                                 f"are {', '.join(results.metrics()) or '(none: no run ended)'}")
    names = list(figures or saved.get("figures") or defaults.figures)
    unknown = [n for n in names if n not in plots.FIGURES]
    if unknown:
        raise ValueError(f"unknown figure type {', '.join(unknown)}; the types are "
                         f"{', '.join(plots.FIGURES)}")
    ylim = loss_ylim or saved.get("loss_ylim")
    options = plots.FigureOptions(
        metric=metric, smooth=smooth or saved.get("smooth") or defaults.smooth,
        loss_ylim=tuple(ylim) if ylim else None, panels=panels or saved.get("panels"),
        top=top or saved.get("top") or defaults.top)
    out_dir = Path(out) if out else Path(paths[0])
    out_dir.mkdir(parents=True, exist_ok=True)
    results.table().to_csv(out_dir / "runs.csv", index=False)

    figures_drawn = {name: plots.FIGURES[name](results, out_dir, options) for name in names}
    figures_drawn = {k: v for k, v in figures_drawn.items() if v is not None}
    captions = {k: plots.CAPTIONS[k].format(metric=metric) for k in figures_drawn}
    best, runs = best_table(results, metric), runs_table(results, metric)
    failed = results.runs[results.runs["status"] != Status.OK]
    title = f"cnnsweep comparison: {', '.join(str(p) for p in paths)}"
    summary = (f"{_status_line(results)}. Compared keys: "
               f"{', '.join(results.varying) or '(none vary)'}; metric: {metric}. "
               f"Generated {datetime.now().isoformat(timespec='seconds')}.")

    md = [f"# {title}", "", summary, "", f"## Settings by {metric}", "",
          _markdown_table(best), "", "## Figures", ""]
    for name, png in figures_drawn.items():
        md += [f"### {captions[name]}", "", f"![{name}]({png.name})", ""]
    md += ["## All runs", "", _markdown_table(runs), ""]
    if not failed.empty:
        md += ["## Runs that did not finish ok", ""]
        md += [f"- `{r.run}`: {r.status}. {r.error}".rstrip() for r in failed.itertuples()]
        md.append("")
    (out_dir / "report.md").write_text("\n".join(md))

    body = [f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(summary)}</p>",
            f"<h2>Settings by {html.escape(metric)}</h2>", _fmt(best).to_html(index=False),
            "<h2>Figures</h2>"]
    for name, png in figures_drawn.items():
        data = base64.b64encode(png.read_bytes()).decode()
        body += [f"<h3>{html.escape(captions[name])}</h3>",
                 f'<img alt="{name}" src="data:image/png;base64,{data}">']
    body += ["<h2>All runs</h2>", _fmt(runs).to_html(index=False)]
    if not failed.empty:
        body.append("<h2>Runs that did not finish ok</h2><ul>")
        body += [f"<li><code>{html.escape(r.run)}</code>: {html.escape(r.status)}. "
                 f"{html.escape(str(r.error))}</li>" for r in failed.itertuples()]
        body.append("</ul>")
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
             "padding:3px 6px}img{max-width:100%}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{style}</style></head><body>{''.join(body)}</body></html>")
    (out_dir / "report.html").write_text(page)
    return out_dir / "report.html"

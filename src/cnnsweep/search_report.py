"""The report of a halving / Hyperband search (a sweep folder holding the sweeper's record,
`search.json`): each configuration counted once at its final budget, the verdict over the
configurations that reached the full budget only, the rung figure, the finalists' test accuracy
(reported once, here), and the compute the search used against the full grid's.

Analysis side: reads the record and the run folders, never Hydra or the engine."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from cnnsweep import runfolder
from cnnsweep.document import Block, Heading, Image, Paragraph, Table
from cnnsweep.figures import FigureContext
from cnnsweep.figures.curves import LEGEND_HEIGHT
from cnnsweep.figures.style import (
    CHAR_WIDTH,
    NEUTRAL,
    OKABE_ITO,
    Page,
    drawing,
    figure_legend,
    grid,
    save,
    short_value,
)
from cnnsweep.halving import RECORD, replay
from cnnsweep.results import Results, setting_labels
from cnnsweep.stats import estimate, settings_table

FINAL_BUDGET = "final budget"
# The settings table's columns a configuration stopped before the full budget leaves empty.
UNRANKED = ("rank", "p_vs_best", "p_vs_best_holm", "distinguishable", "could_be_best")


@dataclass
class Configuration:
    label: str
    bracket: int
    path: list[tuple[int, float]]  # (budget, mean over seeds) at each rung it trained
    runs: list[str]  # its run folders at its final budget (one per seed)
    stopped: bool  # ended before the bracket's full budget

    @property
    def final_budget(self) -> int:
        return self.path[-1][0]


# Finalists beyond the palette's colours: darker than the stopped configurations' grey.
OTHER_FINALIST = "0.45"


class Search:
    def __init__(self, record: dict, sweep_dir: Path) -> None:
        self.record, self.sweep_dir = record, sweep_dir
        settings = record["settings"]
        self.budget_key: str = settings["budget"]
        self.max_budget: int = settings["max_budget"]
        self.metric: str = settings["metric"]
        self.configurations: dict[tuple[int, str], Configuration] = {}
        for bracket in record["brackets"]:
            for rung in bracket["rungs"]:
                for s in rung["standings"]:
                    key = (bracket["index"], s["config"])
                    c = self.configurations.setdefault(
                        key, Configuration(s["config"], bracket["index"], [], [], False))
                    c.path.append((rung["budget"], s["mean"]))
                    c.runs = rung["runs"][s["config"]]
                    c.stopped = not s["kept"] and rung["budget"] != bracket["budgets"][-1]

    @property
    def has_rungs(self) -> bool:
        """Whether any configuration was promoted: a one-rung search (min_budget = max_budget,
        a plain random or TPE search) has no rungs to draw."""
        return any(len(c.path) > 1 for c in self.configurations.values())

    @property
    def brackets(self) -> list[int]:
        return sorted({c.bracket for c in self.configurations.values()})

    def final_runs(self, results: Results) -> Results:
        """The runs at each configuration's final budget (a promoted configuration's shorter
        runs are the first part of its longer one), compared without the budget key."""
        final = {name for c in self.configurations.values() for name in c.runs}
        budget = {name: c.final_budget for c in self.configurations.values() for name in c.runs}
        runs = results.runs[results.runs["run"].isin(final)].copy()
        runs[FINAL_BUDGET] = runs["run"].map(budget)
        keys = [k for k in results.varying if k != self.budget_key]
        candidates = [k for k in results.candidates if k != self.budget_key]
        return Results(runs, keys, keys, candidates, None, results.duplicates,
                       results.conflicts).by(None)

    def settings_table(self, results: Results, metric: str) -> pd.DataFrame:
        """The settings at the full budget ranked and tested among themselves, then those
        stopped earlier (their value at the rung they stopped, no rank), with each one's
        final budget."""
        full = results.runs[FINAL_BUDGET] == self.max_budget
        parts = []
        for mask in (full, ~full):
            part = Results(results.runs[mask], results.varying, results.default_keys,
                           results.candidates)
            table = settings_table(part, metric)
            budgets = results.runs[mask].groupby("setting")[FINAL_BUDGET].max()
            table[FINAL_BUDGET] = table["setting"].map(budgets)
            if mask is not full:
                # Stopped ones are not ranked or tested: their columns are left out here and
                # come back empty from the concatenation (all-NA columns there would be
                # deprecated in pandas 2; pd.NA in a float column would show it unrounded).
                table = table.sort_values([FINAL_BUDGET, "mean"], ascending=False) \
                    .drop(columns=list(UNRANKED))
            parts.append(table)
        table = pd.concat([p for p in parts if not p.empty] or parts[:1], ignore_index=True)
        for column in UNRANKED:
            if column not in table:  # nothing reached the full budget
                table[column] = float("nan")
        table["rank"] = table["rank"].astype("Int64")  # 1, 2 and blanks, not 1.0000
        return table

    def finalists(self, table: pd.DataFrame) -> pd.DataFrame:
        return table[table[FINAL_BUDGET] == self.max_budget].reset_index(drop=True)

    def compute(self) -> dict[str, float]:
        """What every run of the folder trained, each counting only what it added to the run it
        continued (`added`), against the full grid at the maximum budget."""
        trained, seconds, train_seconds = added(self.sweep_dir, self.budget_key)
        seeds = max(1, len(self.record["settings"]["seeds"]))
        configurations = len(self.configurations)
        full = configurations * seeds * self.max_budget
        return {"trained": trained, "full": full, "seconds": seconds,
                "train_seconds": train_seconds, "configurations": configurations,
                "seeds": seeds, "elapsed": float(self.record.get("seconds") or 0.0)}

    def compute_sentence(self) -> str:
        c = self.compute()
        unit = "epochs" if self.budget_key == "trainer.epochs" else "iterations"
        ratio = c["trained"] / c["full"] if c["full"] else float("nan")
        estimate_full = c["train_seconds"] / c["trained"] * c["full"] if c["trained"] else 0.0
        return (f"Compute: {c['trained']:.0f} {unit} trained in all ({c['configurations']} "
                f"configurations, {c['seeds']} seed{'s' if c['seeds'] != 1 else ''} each; a "
                f"promoted run counts only the {unit} it added to the run it continued), "
                f"against {c['full']:.0f} for every "
                f"configuration at {self.budget_key}={self.max_budget}: {ratio:.0%} of the full "
                f"grid. Training took {c['train_seconds']:.0f} s summed over runs, "
                f"{c['seconds']:.0f} s with each run's start-up and final evaluation (the full "
                f"grid, at the same training seconds per {unit[:-1]}: about "
                f"{estimate_full:.0f} s of training); the search's last launch ran "
                f"{c['elapsed']:.0f} s.")

    def noise_rule_sentence(self) -> str | None:
        """What the noise rule cost against plain successive halving, replayed on the same
        rung values (it needs nothing the search did not train); None where the rule did not
        apply (one seed, no rungs, plain halving itself)."""
        s = self.record["settings"]
        seeds = max(1, len(s["seeds"]))
        if not s.get("keep_overlaps", True) or seeds < 2 or not self.has_rungs:
            return None
        this = replay(self.record["brackets"], s["eta"], seeds, keep_overlaps=True)
        plain = replay(self.record["brackets"], s["eta"], seeds, keep_overlaps=False)
        if this is None or plain is None:
            return None
        if this.kept == plain.kept:
            return ("The noise rule kept no configuration beyond what plain successive halving "
                    "keeps: no configuration below a cut was within the seeds' noise of it.")
        unit = "epochs" if self.budget_key == "trainer.epochs" else "iterations"
        full = len(self.configurations) * seeds * self.max_budget
        choice = "the same configuration" if plain.chosen == this.chosen else \
            f"{plain.chosen} (this search chose {this.chosen})"
        return (f"The noise rule kept {_counts(this.kept)} configurations at the rungs, where "
                f"plain successive halving (keep_overlaps=false, replayed on the same values) "
                f"keeps {_counts(plain.kept)}: plain halving would have trained "
                f"{plain.cost:.0f} {unit} ({plain.cost / full:.0%} of the full grid, against "
                f"this rule's {this.cost / full:.0%}) and chosen {choice}. The difference is "
                "what keeping configurations within the seeds' noise of the cut cost here.")

    def rule_sentence(self) -> str:
        s = self.record["settings"]
        if s["min_budget"] == s["max_budget"]:
            return (f"A plain search ({s['sampler']} sampler, seed {s['seed']}): every "
                    f"configuration trained to {self.budget_key}={self.max_budget}, none "
                    f"stopped early; chosen by {self.metric} (validation; the test set never "
                    "chose).")
        kind = "Successive halving" if s["brackets"] == 1 else f"Hyperband ({s['brackets']} " \
            "brackets)"
        return (f"{kind} by {self.metric} (validation; the test set never chose): at each "
                f"rung the best 1/{s['eta']} of the configurations, ranked by their mean over "
                "the seeds, continue from their checkpoints to the next budget; a tie with the "
                + ("cut, or a mean ± one standard error over the seeds that overlaps the cut "
                   "configuration's, keeps a configuration rather than dropping it on noise. "
                   if s.get("keep_overlaps", True) else "cut keeps a configuration too. ") +
                f"The settings table gives each configuration's {FINAL_BUDGET}; the verdict "
                f"compares only those that reached {self.budget_key}={self.max_budget}. The "
                "figures above show each configuration at its final budget (a stopped one's "
                "curves end where it stopped; its heat-map cell is its value there).")

    def finalists_table(self, results: Results) -> pd.DataFrame:
        """The finalists' test accuracy, reported once: mean ± 95% CI over their seeds."""
        runs = results.ok[results.ok[FINAL_BUDGET] == self.max_budget]
        rows = []
        for setting, group in runs.groupby("setting", sort=False):
            val = estimate(group[self.metric].to_numpy(dtype=float))
            test = estimate(group["test_acc"].to_numpy(dtype=float))
            low, high = test.interval()
            rows.append({"setting": setting, f"{self.metric} mean": val.mean,
                         "test_acc mean": test.mean,
                         "test_acc 95% CI": "" if test.n < 2 else f"[{low:.4f}, {high:.4f}]",
                         "n": test.n})
        table = pd.DataFrame(rows)
        return table.sort_values(f"{self.metric} mean", ascending=False) if rows else table

    def rung_data(self) -> pd.DataFrame:
        """One row per configuration and rung: bracket, configuration, budget, mean value,
        whether it went on, and its fate (finalist or stopped at its last rung)."""
        rows = []
        for c in self.configurations.values():
            fate = "stopped" if c.stopped else "finalist"
            for i, (budget, value) in enumerate(c.path):
                rows.append({"bracket": c.bracket, "config": c.label, "budget": budget,
                             "value": value, "last": i == len(c.path) - 1, "fate": fate})
        return pd.DataFrame(rows)

    def draw_rungs(self, out_dir: Path, page: Page, formats: Sequence[str]) -> dict[str, Path]:
        data = self.rung_data()
        with drawing(page):
            # best final value first: the palette's eight colours go to the best eight
            ends = data[(data["fate"] == "finalist") & data["last"]]
            finalists = list(ends.sort_values(["value", "config"], ascending=[False, True])
                             ["config"].drop_duplicates())
            # The legend names the best finalists, one palette colour each; more would repeat
            # colours and make the legend taller than the plot.
            named, others = finalists[:len(OKABE_ITO)], finalists[len(OKABE_ITO):]
            names = [*named, *([f"{len(others)} other finalist{'s' if len(others) > 1 else ''}"]
                                if others else []),
                     "stopped (x: its last rung)"]
            entry = (max(map(len, names)) * CHAR_WIDTH + 4) * page.small / 72
            rows = math.ceil(len(names) / max(1, int(page.width * 0.95 // entry)))
            fig, axes = grid(len(self.brackets), page, aspect=0.6,
                             extra_height=rows * page.small * 1.5 / 72 + 0.2)
            colours = {c: OKABE_ITO[i] for i, c in enumerate(named)}
            for ax, bracket in zip(axes, self.brackets, strict=True):
                part = data[data["bracket"] == bracket]
                for config, path in part.groupby("config", sort=True):
                    path = path.sort_values("budget")
                    finalist = path["fate"].iloc[0] == "finalist"
                    colour = colours.get(config, OTHER_FINALIST if finalist else "0.6")
                    ax.plot(path["budget"], path["value"], color=colour,
                            lw=1.6 if finalist else 0.8, alpha=1.0 if finalist else 0.7,
                            zorder=3 if finalist else 2, marker="o", ms=3)
                    end = path.iloc[-1]
                    if not finalist:
                        ax.plot([end["budget"]], [end["value"]], marker="x", color="0.35",
                                ms=5, ls="none", zorder=2)
                self._rung_axes(ax, sorted(part["budget"].unique()))
                if len(self.brackets) > 1:
                    ax.set_title(f"bracket {bracket + 1}")
            handles = [axes[0].plot([], [], color=colours[c], lw=1.6)[0] for c in named]
            if others:
                handles.append(axes[0].plot([], [], color=OTHER_FINALIST, lw=1.6)[0])
            handles.append(axes[0].plot([], [], color="0.6", marker="x", lw=0.8,
                                        mec="0.35")[0])
            figure_legend(fig, handles, names, page)
            return save(fig, out_dir, "rungs", formats, page)

    def looks(self, results: Results, ctx: FigureContext) -> dict[str, tuple[str, object]]:
        """Each configuration's setting in the report's palette (its colour and marker in the
        other figures) and its value of the panel key."""
        runs = results.runs.drop_duplicates("run").set_index("run", drop=False)
        found = {}
        for c in self.configurations.values():
            name = next((n for n in c.runs if n in runs.index), None)
            if name is not None:
                row = runs.loc[[name]]
                found[c.label] = (setting_labels(row, list(ctx.palette.keys)).iloc[0],
                                  row[ctx.panel].iloc[0] if ctx.panel else None)
        return found

    def draw_rungs_as_the_report(self, ctx: FigureContext, looks: dict[str, tuple[str, object]],
                                 out_dir: Path, formats: Sequence[str]) -> dict[str, Path]:
        """The rung figure of one bracket in the other figures' colours, markers and panels:
        a configuration looks as its curves do; finalists bold, stopped ones faint, ending in
        x at their last rung."""
        data = self.rung_data()
        page = ctx.page
        panels = [v for v in ctx.panel_order if any(p == v for _, p in looks.values())] \
            if ctx.panel else [None]
        drawn = set()
        with drawing(page):
            fig, axes = grid(len(panels), page, aspect=0.75, extra_height=LEGEND_HEIGHT)
            for ax, value in zip(axes, panels, strict=True):
                for config, path in data.groupby("config", sort=True):
                    label, panel = looks.get(config, (None, None))
                    if label is None or (ctx.panel and panel != value):
                        continue
                    drawn.add(label)
                    path = path.sort_values("budget")
                    finalist = path["fate"].iloc[0] == "finalist"
                    colour = ctx.palette.colours.get(label, NEUTRAL)
                    ax.plot(path["budget"], path["value"], color=colour,
                            marker=ctx.palette.markers.get(label) or "o", ms=3,
                            lw=1.6 if finalist else 0.8, alpha=1.0 if finalist else 0.4,
                            zorder=3 if finalist else 2, gid=label)
                    if not finalist:
                        end = path.iloc[-1]
                        ax.plot([end["budget"]], [end["value"]], marker="x", color=colour,
                                ms=5, ls="none", zorder=2, alpha=0.8)
                self._rung_axes(ax, sorted(data["budget"].unique()))
                if ctx.panel:
                    ax.set_title(f"{ctx.panel}={short_value(value)}")
            extra = [(Line2D([], [], color=NEUTRAL, lw=1.6), "finalist"),
                     (Line2D([], [], color=NEUTRAL, lw=0.8, alpha=0.4, marker="x", ms=5),
                      "stopped at x")]
            ctx.palette.legend(fig, [lab for lab in ctx.palette.labels if lab in drawn], page,
                               extra)
            return save(fig, out_dir, "rungs", formats, page)

    def _rung_axes(self, ax: Axes, budgets: list[int]) -> None:
        ax.set_xscale("log")
        ax.set_xticks(budgets, [str(b) for b in budgets])
        ax.minorticks_off()
        ax.set_xlabel(self.budget_key)
        spec = ax.get_subplotspec()
        if spec is None or spec.is_first_col():  # panels side by side share the y axis
            ax.set_ylabel(self.metric)  # the note: mean over seeds
        ax.grid(alpha=0.3)

    def section(self, results: Results, out_dir: Path, page: Page, formats: Sequence[str],
                ctx: FigureContext | None = None) -> list[Block]:
        # One bracket: the figure speaks the other figures' colours (same setting, same
        # colour); Hyperband's brackets get a panel each, coloured by finalist.
        looks = self.looks(results, ctx) if ctx is not None and len(self.brackets) == 1 \
            else {}
        if looks:
            note = ("Each line is one configuration's mean over its seeds at each rung it "
                    "trained to, in its colour and marker from the other figures; bold lines "
                    "reached the full budget, faint ones stopped at the rung marked x.")
        else:
            note = ("Each line is one configuration's mean over its seeds at each rung it "
                    "trained to; coloured (and dark grey) lines reached the full budget, light "
                    "grey ones stopped at the rung marked x.")
        blocks: list[Block] = [
            Heading("Search"), Paragraph(self.rule_sentence()),
            Paragraph(self.compute_sentence())]
        noise = self.noise_rule_sentence()
        if noise:
            blocks.append(Paragraph(noise))
        if self.has_rungs:
            files = self.draw_rungs_as_the_report(ctx, looks, out_dir, formats) if looks \
                else self.draw_rungs(out_dir, page, formats)
            blocks.append(Image(files["png"], f"{self.metric} at each rung", note))
        finalists = self.finalists_table(results)
        if not finalists.empty:
            blocks += [Paragraph("The finalists' test accuracy (on all test images at the end, "
                                 "reported once; it chose nothing):"), Table(finalists)]
        return blocks


def _counts(kept: tuple[tuple[int, ...], ...]) -> str:
    """Kept counts per rung: "15 then 9", or per bracket for Hyperband."""
    parts = [" then ".join(map(str, rungs)) for rungs in kept]
    if len(parts) == 1:
        return parts[0]
    return "; ".join(f"{p} (bracket {i + 1})" for i, p in enumerate(parts) if p)


def read(paths: Sequence[str | Path]) -> Search | None:
    """The search of a single sweep folder that holds the sweeper's record; None otherwise."""
    if len(paths) != 1:
        return None
    path = Path(paths[0]) / RECORD
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("sweeper") != "halving":
        return None
    return Search(record, Path(paths[0]))


def added(sweep_dir: Path, budget_key: str = "trainer.epochs") -> tuple[float, float, float]:
    """(epochs or iterations trained, wall seconds, training seconds) summed over the runs of
    a sweep folder that ended with a result. A run that extended another (a promotion) counts
    only what it added: its budget and training seconds less the continued run's (a summary's
    `train_seconds` runs on from the checkpoint's); one that continued its own checkpoint after
    a stop counts all it trained, its stopped attempt's part included."""
    per_epoch = budget_key == "trainer.epochs"
    summaries = {d.name: runfolder.read_summary(d) or runfolder.Summary() for d in
                 runfolder.started_runs(sweep_dir)}
    trained = seconds = train_seconds = 0.0
    for name, s in summaries.items():
        if s.status not in runfolder.ENDED_WITH_RESULT:
            continue
        last = s.continued_from[-1] if s.continued_from else {}
        extended = bool(last) and last.get("run") != name  # another run's checkpoint
        earlier = summaries.get(last.get("run"), runfolder.Summary()) if extended \
            else runfolder.Summary()
        start = last.get("epoch" if per_epoch else "iteration") or 0 if extended else 0
        done = s.epochs if per_epoch else s.iterations
        trained += (done or 0) - start
        seconds += s.wall_seconds or 0.0
        train_seconds += (s.train_seconds or 0.0) - (earlier.train_seconds or 0.0)
    return trained, seconds, train_seconds

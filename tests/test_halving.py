"""Successive halving's schedule and promotion rule (cnnsweep.halving) on constructed values:
rungs, Hyperband's brackets, ties, seeds, eta, configurations without a value, and reading a
rung's value from epochs.csv."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from cnnsweep import halving
from cnnsweep.halving import Bracket, brackets, metric_at, promote, rung_budgets

NAN = math.nan


def kept(standings) -> list[str]:
    return [s.config for s in standings if s.kept]


@pytest.mark.parametrize(("low", "high", "eta", "budgets"), [
    (1, 9, 3, [1, 3, 9]), (1, 27, 3, [1, 3, 9, 27]), (1, 10, 3, [1, 3, 10]),
    (2, 8, 2, [2, 4, 8]), (5, 5, 3, [5]), (1, 2, 3, [2]), (100, 900, 3, [100, 300, 900]),
])
def test_rungs_divide_the_maximum_budget_by_eta(low, high, eta, budgets):
    assert rung_budgets(low, high, eta) == budgets


@pytest.mark.parametrize(("args", "message"), [
    ((1, 9, 1), "eta=1"), ((3, 1, 3), "min_budget=3, max_budget=1"), ((0, 9, 3), "min_budget=0"),
])
def test_a_bad_schedule_is_named(args, message):
    with pytest.raises(ValueError, match=message):
        rung_budgets(*args)


def test_one_bracket_is_successive_halving_over_the_whole_grid():
    assert brackets(1, 9, 3, 1, total=27) == [Bracket(0, (1, 3, 9), 27)]


def test_hyperband_splits_a_grid_in_its_proportions_and_starts_later_brackets_later():
    found = brackets(1, 9, 3, 3, total=27)
    assert [b.budgets for b in found] == [(1, 3, 9), (3, 9), (9,)]
    # eta^s / (s + 1): 9/3, 3/2, 1/1 → 27 × (3, 1.5, 1) / 5.5, rounded by largest remainders
    assert [b.size for b in found] == [15, 7, 5]
    assert sum(b.size for b in found) == 27


def test_hyperband_on_a_sampled_space_sizes_later_brackets_from_the_first():
    assert [b.size for b in brackets(1, 9, 3, 3, first_size=27)] == [27, 14, 9]
    # Li et al.'s R = 27, eta = 3 brackets start 27, 12, 6, 4 configurations: the same ratios
    assert [b.size for b in brackets(1, 27, 3, 4, first_size=27)] == [27, 12, 6, 4]


def test_more_brackets_than_rungs_or_than_configurations_is_refused():
    with pytest.raises(ValueError, match=r"brackets=4: between 1 .* and 3"):
        brackets(1, 9, 3, 4, total=27)
    with pytest.raises(ValueError, match="2 configurations cannot fill 3 brackets"):
        brackets(1, 9, 3, 3, total=2)


def test_a_rung_keeps_the_best_third_by_value():
    values = {f"c{i}": [0.1 * i] for i in range(9)}
    standings = promote(values, eta=3)
    assert kept(standings) == ["c8", "c7", "c6"]
    assert [s.config for s in standings] == [f"c{i}" for i in range(8, -1, -1)]  # best first
    assert standings[3].reason == "below the cut (0.6000)"


@pytest.mark.parametrize(("n", "eta", "k"), [(9, 3, 3), (8, 3, 2), (2, 3, 1), (8, 2, 4),
                                             (27, 3, 9), (1, 3, 1)])
def test_eta_sets_how_many_are_kept_at_least_one(n, eta, k):
    values = {f"c{i:02d}": [i / 100] for i in range(n)}
    assert len(kept(promote(values, eta))) == k


def test_a_tie_at_the_cut_keeps_every_tied_configuration_whatever_their_order():
    values = {"a": [0.9], "b": [0.8], "c": [0.8], "d": [0.7], "e": [0.6], "f": [0.5]}
    for _ in range(5):
        items = list(values.items())
        random.Random(_).shuffle(items)
        standings = promote(dict(items), eta=3)  # k = 2: a, and b or c; both are kept
        assert sorted(kept(standings)) == ["a", "b", "c"]
        assert {s.config: s.reason for s in standings}["c"] == "tied with the cut"


def test_seeds_rank_by_their_mean():
    values = {"steady": [0.80, 0.80, 0.80], "lucky": [0.95, 0.60, 0.61],
              "low": [0.5, 0.5, 0.5]}
    standings = promote(values, eta=3)
    assert [s.config for s in standings] == ["steady", "lucky", "low"]  # 0.80 > 0.72 > 0.5
    assert standings[0].mean == pytest.approx(0.80)


def test_a_configuration_whose_seeds_overlap_the_cut_is_kept_rather_than_dropped_on_noise():
    values = {"best": [0.89, 0.90, 0.91],  # the cut: 0.90 ± 0.0058 (one standard error)
              "noisy": [0.78, 0.88, 0.98],  # 0.88 ± 0.0577: reaches into the cut's interval
              "clear": [0.83, 0.84, 0.85],  # 0.84 ± 0.0058: below it, beyond the noise
              "spread": [0.80, 0.85, 0.90]}  # 0.85 ± 0.0289: its range reaches 0.90, but a
    standings = {s.config: s for s in promote(values, eta=4)}  # range is not its mean's error
    assert [c for c, s in standings.items() if s.kept] == ["best", "noisy"]
    assert standings["noisy"].reason == ("overlaps the cut within the seeds' noise (0.8800 ± "
                                         "0.0577 vs 0.9000 ± 0.0058)")
    assert standings["clear"].reason == "below the cut (0.9000)"
    assert standings["noisy"].error == pytest.approx(0.1 / 3 ** 0.5)


def test_without_keep_overlaps_a_noisy_configuration_below_the_cut_is_dropped():
    values = {"best": [0.89, 0.90, 0.91], "noisy": [0.78, 0.88, 0.98], "tied": [0.9, 0.9, 0.9]}
    assert kept(promote(values, eta=3, keep_overlaps=False)) == ["best", "tied"]


def test_with_one_seed_overlap_is_only_a_tie():
    standings = promote({"a": [0.9], "b": [0.89], "c": [0.5]}, eta=3)
    assert kept(standings) == ["a"]


def test_a_configuration_without_a_value_is_never_promoted_and_ranks_last():
    values = {"diverged": [NAN], "half": [0.99, NAN], "ok": [0.5], "worse": [0.4]}
    standings = promote(values, eta=2)  # k = 2, but only two have every value
    assert kept(standings) == ["ok", "worse"]
    assert [s.config for s in standings][-2:] == ["diverged", "half"]
    assert standings[-1].reason == "no value at this rung (diverged or failed)"
    assert math.isnan(standings[-1].mean)


def test_no_configuration_with_a_value_promotes_none():
    assert kept(promote({"a": [NAN], "b": [NAN]}, eta=3)) == []


def write_epochs(run_dir, rows):
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = ["epoch,iteration,train_acc,test_acc,val_acc,seconds,train_sample,test_sample"]
    lines += [f"{e},{it},0.5,0.99,{v},1.0,100,100" for e, it, v in rows]
    (run_dir / "epochs.csv").write_text("\n".join(lines) + "\n")


def test_the_value_at_a_rung_is_read_from_epochs_csv_at_its_budget(tmp_path):
    write_epochs(tmp_path / "r", [(0, 0, 0.1), (1, 10, 0.5), (2, 20, 0.6), (3, 30, 0.7)])
    assert metric_at(tmp_path / "r", "val_acc", "trainer.epochs", 2) == 0.6
    assert metric_at(tmp_path / "r", "val_acc", "trainer.epochs", 9) == 0.7
    assert metric_at(tmp_path / "r", "val_acc", "trainer.max_iterations", 25) == 0.6
    assert math.isnan(metric_at(tmp_path / "missing", "val_acc", "trainer.epochs", 1))
    write_epochs(tmp_path / "noval", [(0, 0, ""), (1, 10, "")])
    assert math.isnan(metric_at(tmp_path / "noval", "val_acc", "trainer.epochs", 1))


@pytest.mark.parametrize(("metric", "message"), [
    ("test_acc", "must not choose by the test set"),
    ("best_test_acc", "must not choose by the test set"),
    ("train_acc", "ranks by one of val_acc"),
])
def test_a_search_by_a_test_or_unknown_metric_is_refused(metric, message):
    with pytest.raises(ValueError, match=message):
        halving.check_metric(metric)
    halving.check_metric("val_acc")


def test_compute_counts_what_each_run_added_to_the_run_it_continued(tmp_path):
    from cnnsweep.search_report import added

    def run(name, epochs, train_seconds, chain=()):
        (tmp_path / name / ".hydra").mkdir(parents=True)
        (tmp_path / name / ".hydra" / "config.yaml").write_text("{}\n")
        (tmp_path / name / "summary.json").write_text(json.dumps({
            "status": "ok", "run": name, "epochs": epochs, "iterations": 10 * epochs,
            "wall_seconds": 1.0, "train_seconds": train_seconds,
            "continued_from": [{"run": r, "epoch": e, "iteration": 10 * e} for r, e in chain]}))

    run("a1", 1, 2.0)
    run("a3", 3, 5.0, [("a1", 1)])  # a promotion: added 2 epochs and 3 s
    run("b2", 2, 4.0, [("b2", 1)])  # its own checkpoint after a kill: all of it counts
    assert added(tmp_path) == (1 + 2 + 2, 3.0, 2.0 + 3.0 + 4.0)
    assert added(tmp_path, "trainer.max_iterations")[0] == 10 + 20 + 20


def constructed_search(tmp_path, configurations: int, budgets: list[int], kept: int):
    """A search record of one bracket: `configurations` at the first rung, the best `kept` of
    them carried through every later rung."""
    from cnnsweep.search_report import Search

    names = [f"optimizer.lr={i}" for i in range(configurations)]
    rungs = []
    for r, budget in enumerate(budgets):
        alive = names if r == 0 else names[:kept]
        rungs.append({"budget": budget, "runs": {n: [f"{n},e={budget}"] for n in alive},
                      "standings": [{"config": n, "mean": 0.9 - 0.01 * i + 0.01 * r,
                                     "kept": i < kept or len(budgets) == 1}
                                    for i, n in enumerate(alive)]})
    record = {"settings": {"budget": "trainer.epochs", "max_budget": budgets[-1],
                           "metric": "val_acc"},
              "brackets": [{"index": 0, "budgets": budgets, "rungs": rungs}]}
    return Search(record, tmp_path)


def test_the_rung_figure_names_at_most_the_palettes_finalists(tmp_path, monkeypatch):
    from cnnsweep import search_report
    from cnnsweep.figures.style import OKABE_ITO, PAGES

    search = constructed_search(tmp_path, configurations=27, budgets=[1, 3], kept=12)
    assert search.has_rungs
    names = []
    real = search_report.figure_legend

    def legend(fig, handles, labels, page):
        names.extend(labels)
        assert len(handles) == len(labels)
        real(fig, handles, labels, page)

    monkeypatch.setattr(search_report, "figure_legend", legend)
    search.draw_rungs(tmp_path, PAGES["page"], ["png"])
    shown = len(OKABE_ITO)
    assert names == [*(f"optimizer.lr={i}" for i in range(shown)),
                     f"{12 - shown} other finalists", "stopped (x: its last rung)"]
    assert (tmp_path / "rungs.png").is_file()


def test_a_one_rung_search_has_no_rung_figure(tmp_path):
    search = constructed_search(tmp_path, configurations=5, budgets=[50], kept=5)
    assert not search.has_rungs


def search_folder(tmp_path) -> Path:
    """A search's sweep folder written by hand: optimizer.lr 0.001 stopped at epoch 1, 0.003
    and 0.01 finalists at epoch 3 whose seeds differ (so a p-value exists), 3 seeds each."""
    import dataclasses

    from cnnsweep import runfolder
    from tests.runfolders import base_config, make_run

    sweep = tmp_path / "search"
    values = {0.001: (1, [0.62, 0.64, 0.66]), 0.003: (3, [0.91, 0.93, 0.92]),
              0.01: (3, [0.90, 0.88, 0.935])}
    rungs = {1: {"runs": {}, "standings": []}, 3: {"runs": {}, "standings": []}}
    for lr, (final, accs) in values.items():
        config = f"optimizer.lr={lr}"
        for budget in (1, 3):
            if budget > final:
                continue
            names = []
            for seed, acc in enumerate(accs):
                overrides = [config, f"seed={seed}", f"trainer.epochs={budget}"]
                run = make_run(sweep, overrides, base_config(
                    optimizer={"name": "adam", "lr": lr}, seed=seed,
                    trainer={"epochs": budget, "batch_size": 100}),
                    test_acc=acc - 0.01, epochs=budget, iterations=10 * budget)
                summary = runfolder.read_summary(run)
                runfolder.write_summary(run, dataclasses.replace(summary, val_acc=acc))
                names.append(run.name)
            rungs[budget]["runs"][config] = names
            rungs[budget]["standings"].append({
                "config": config, "values": accs, "mean": sum(accs) / 3,
                "kept": budget == 3 or final == 3, "reason": ""})
    settings = {"budget": "trainer.epochs", "min_budget": 1, "max_budget": 3, "eta": 3,
                "brackets": 1, "metric": "val_acc", "sampler": "grid", "seed": 0,
                "keep_overlaps": True, "seeds": [0, 1, 2], "grid_size": 3}
    (sweep / halving.RECORD).write_text(json.dumps({
        "sweeper": "halving", "rule": "", "seconds": 1.0, "settings": settings,
        "brackets": [{"index": 0, "budgets": [1, 3],
                      "rungs": [{"budget": b, **rungs[b]} for b in (1, 3)]}]}))
    return sweep


def test_a_searchs_settings_table_rounds_its_p_values_beside_stopped_rows(tmp_path):
    """The stopped configurations have no p-value; their empty cells once turned the p columns
    into objects, and the report printed the finalists' p-values unrounded (0.2585321337…)."""
    import pandas as pd

    from cnnsweep.report import compare, format_p

    sweep = search_folder(tmp_path)
    # the runs' compare.metric is test_acc (base_config): a search's report still ranks as the
    # search chose, by validation
    out = compare([sweep], figures=[]).parent
    assert "## Settings by val_acc" in (out / "report.md").read_text()
    table = pd.read_csv(out / "settings.csv")
    assert table["final budget"].tolist() == [3, 3, 1]
    p = table["p_vs_best"].iloc[1]
    assert 0 < p < 1 and pd.isna(table["p_vs_best"].iloc[2])
    assert repr(p) != f"{p:.4g}" != format_p(p)  # a value that rounding changes
    cells = [[c.strip() for c in line.strip("|").split("|")]
             for line in (out / "report.md").read_text().splitlines() if line.startswith("|")]
    header = cells[0]
    row = next(r for r in cells if r[:3] == ["2", "0.01", "3"])
    assert row[header.index("p vs best")] == f"{p:.4g}"  # the report's four digits
    tex = (out / "settings.tex").read_text()
    assert format_p(p) in tex and repr(p) not in tex  # the paper's two
    assert "\n1 & 0.003 & 3 &" in tex and "\n & 0.001 & 1 &" in tex  # ranks, not 1.0000
    from tests.test_report_latex import compile_tex

    compile_tex(out)  # and it fits the page


def noisy_record() -> dict:
    """A search of 9 configurations with 2 seeds, 1 -> 3 epochs: c0-c2 lead at epoch 1, c3 is
    below the cut (c2) but within one standard error of it, the rest are well below; at epoch
    3 c3 ends best."""
    first = {"c0": [0.90, 0.90], "c1": [0.89, 0.89], "c2": [0.87, 0.89], "c3": [0.85, 0.88],
             **{f"c{i}": [0.5, 0.5 + i / 100] for i in range(4, 9)}}
    final = {"c0": [0.93, 0.93], "c1": [0.92, 0.92], "c2": [0.91, 0.91], "c3": [0.95, 0.95]}
    rungs = []
    for budget, values in ((1, first), (3, final)):
        standings = promote(values, 3) if budget == 1 else promote(values, 3, False)
        rungs.append({"budget": budget, "runs": {c: [f"{c},e={budget},s={s}"
                                                     for s in (0, 1)] for c in values},
                      "standings": [{"config": s.config, "values": list(s.values),
                                     "mean": s.mean, "kept": s.kept, "reason": s.reason}
                                    for s in standings]})
    return {"sweeper": "halving", "settings": {
        "budget": "trainer.epochs", "min_budget": 1, "max_budget": 3, "eta": 3, "brackets": 1,
        "metric": "val_acc", "sampler": "random", "seed": 0, "keep_overlaps": True,
        "seeds": [0, 1], "grid_size": 9},
        "brackets": [{"index": 0, "budgets": [1, 3], "rungs": rungs}]}


def test_replaying_the_rule_on_its_record_gives_its_rungs_and_plain_halving_a_subset():
    record = noisy_record()
    assert [s["kept"] for s in record["brackets"][0]["rungs"][0]["standings"]][:4] == \
        [True] * 4  # c3 overlapped the cut
    this = halving.replay(record["brackets"], 3, 2, keep_overlaps=True)
    plain = halving.replay(record["brackets"], 3, 2, keep_overlaps=False)
    # 9 configurations x 2 seeds x 1 epoch, then the kept ones x 2 seeds x 2 more epochs
    assert this == halving.Replay(((4,),), 9 * 2 + 4 * 2 * 2, "c3")
    assert plain == halving.Replay(((3,),), 9 * 2 + 3 * 2 * 2, "c0")
    # a rule that needs a value the search never trained cannot be replayed
    record["brackets"][0]["rungs"][1]["standings"] = [
        s for s in record["brackets"][0]["rungs"][1]["standings"] if s["config"] != "c0"]
    assert halving.replay(record["brackets"], 3, 2, keep_overlaps=False) is None


def test_the_report_says_what_the_noise_rule_cost_against_plain_halving(tmp_path):
    from cnnsweep.search_report import Search

    record = noisy_record()
    sentence = Search(record, tmp_path).noise_rule_sentence()
    assert sentence.startswith("The noise rule kept 4 configurations at the rungs, where plain "
                               "successive halving (keep_overlaps=false, replayed on the same "
                               "values) keeps 3: plain halving would have trained 30 epochs "
                               "(56% of the full grid, against this rule's 63%) and chosen c0 "
                               "(this search chose c3).")
    record["settings"]["keep_overlaps"] = False
    assert Search(record, tmp_path).noise_rule_sentence() is None
    record["settings"].update(keep_overlaps=True, seeds=[0])
    assert Search(record, tmp_path).noise_rule_sentence() is None


def test_the_rung_figure_colours_each_configuration_as_the_other_figures(tmp_path,
                                                                        monkeypatch):
    from matplotlib.colors import to_hex

    from cnnsweep import plots, search_report
    from cnnsweep.report import compare

    drawn, contexts = {}, []
    save, context = search_report.save, plots.figure_context

    def keep(fig, out_dir, name, *args, **kwargs):
        drawn[name] = {line.get_gid(): to_hex(line.get_color()) for ax in fig.axes
                       for line in ax.lines if line.get_gid()}
        return save(fig, out_dir, name, *args, **kwargs)

    def kept_context(*args, **kwargs):
        contexts.append(context(*args, **kwargs))
        return contexts[-1]

    monkeypatch.setattr(search_report, "save", keep)
    monkeypatch.setattr(plots, "figure_context", kept_context)
    compare([search_folder(tmp_path)], figures=["loss"])
    palette = contexts[0].palette
    assert drawn["rungs"] == {label: to_hex(palette.colours[label]) for label in
                              ("optimizer.lr=0.001", "optimizer.lr=0.003", "optimizer.lr=0.01")}


def test_a_corrupt_search_record_is_named_and_the_runs_still_compared(tmp_path):
    from cnnsweep.report import compare

    sweep = search_folder(tmp_path)
    record = sweep / halving.RECORD
    record.write_text(record.read_text()[:100])  # cut off mid-write
    said = []
    report = compare([sweep], figures=[], warn=said.append)
    assert report.is_file()
    assert any(f"{record} is not a readable search record" in s for s in said)

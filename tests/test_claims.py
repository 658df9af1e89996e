"""Claims in sweep files: their grammar, the checks before training, their verdicts on
constructed runs, the report's first table and the exit code."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from cnnsweep.claims import check, check_claims, swept_values
from cnnsweep.cli import main as cli
from cnnsweep.compare_options import CompareOptions
from cnnsweep.exitcodes import ExitCode
from tests.conftest import REPO
from tests.runfolders import base_config, make_run

KEYS = {"optimizer", "init", "init.std", "batchnorm", "dropout", "trainer.weight_decay",
        "dataset.name", "trainer.epochs", "seed"}
SWEPT = {"optimizer": ["sgd", "momentum", "adam"], "init.std": ["1.0", "0.1"]}


def claim(**fields):
    return CompareOptions.from_mapping({"claims": [fields]}).claims[0]


def test_a_sweep_files_claims_become_claims_of_one_kind_each():
    options = CompareOptions.from_mapping({"claims": [
        {"figure": "6-9", "says": "SGD slowest", "metric": "final_train_loss", "by": "optimizer",
         "highest": "sgd"},
        {"order": ["he", "xavier", "std"], "by": "init"},
        {"metric": "train_acc - test_acc", "difference": ["dropout=0.0", "dropout=0.2"],
         "at_least": 0.08},
        {"where": ["init=std"], "at_most": 0.2},
    ]})
    kinds = [c.kind for c in options.claims]
    assert kinds == ["highest", "order", "difference", "bound"]
    assert options.claims[1].order == ("he", "xavier", "std")  # lists become tuples
    assert options.claims[0].figure == "6-9"


def test_an_unknown_field_names_the_closest():
    with pytest.raises(ValueError, match="unknown field orde \\(did you mean order\\?\\)"):
        claim(orde=["a", "b"])


@pytest.mark.parametrize(("fields", "message"), [
    ({"metric": "test_ac", "at_least": 0.5},
     "metric test_ac is not recorded by any run (did you mean test_acc?)"),
    ({"metric": "train_acc - tst_acc", "at_least": 0.5},
     "metric tst_acc is not recorded by any run (did you mean test_acc?)"),
    ({"order": ["optimzer=sgd", "optimizer=adam"]},
     "order: optimzer is not a config key (did you mean optimizer?)"),
    ({"by": "optimizer", "highest": "sdg"},
     "highest: optimizer=sdg is not swept (did you mean sgd?); the sweep's values of optimizer "
     "are sgd, momentum, adam"),
    ({"count": ["batchnorm=true", "batchnorm=false"], "per": "init.sdt", "at_least": 12},
     "per: init.sdt is not a config key (did you mean init.std?)"),
    ({"where": ["init.std=0.5"], "at_most": 0.2},
     "where: init.std=0.5 is not swept"),
    ({"by": "optimizer", "highest": "sgd", "lowest": "adam"},
     "one kind per claim, not highest and lowest"),
    ({"difference": ["optimizer=sgd", "optimizer=adam"]}, "difference needs at_least or at_most"),
    ({"count": ["optimizer=sgd", "optimizer=adam"], "at_least": 1}, "count needs per"),
    ({"order": ["optimizer=sgd"]}, "order needs at least two settings"),
    ({"by": "optimizer", "order": ["sgd", "adam"], "at_least": 1},
     "at_least/at_most do not go with order"),
    ({"metric": "test_acc"}, "says nothing to check"),
    ({"order": ["sgd", "adam"]}, "'sgd' names no key: write key=value"),
])
def test_a_bad_claim_fails_before_training_with_the_closest_name(fields, message):
    with pytest.raises(ValueError) as error:
        check_claims([claim(figure="6-9", **fields)], KEYS, SWEPT)
    assert message in str(error.value)
    assert str(error.value).startswith("compare.claims[0] (figure 6-9): ")


def test_when_is_a_condition_not_a_swept_value():
    check_claims([claim(when=["trainer.epochs=20"], at_least=0.9)], KEYS,
                 {"trainer.epochs": ["1"]})


def test_swept_values_come_from_the_file_and_the_command_line():
    swept = swept_values({"optimizer": "sgd,adam", "lr": "tag(log, interval(1e-6, 1e-2))"},
                         ["seed=0,1,2", "optimizer=sgd", "+trainer.epochs=2"])
    assert swept == {"optimizer": ["sgd"], "lr": None, "seed": ["0", "1", "2"],
                     "trainer.epochs": ["2"]}


def runs(rows):
    frame = pd.DataFrame(rows)
    frame["status"] = frame.get("status", "ok")
    return frame.assign(status=frame["status"].fillna("ok"))


OPTIMIZERS = runs([
    {"optimizer": "sgd", "seed": 0, "final_train_loss": 0.23, "test_acc": 0.94},
    {"optimizer": "momentum", "seed": 0, "final_train_loss": 0.08, "test_acc": 0.96},
    {"optimizer": "adam", "seed": 0, "final_train_loss": 0.06, "test_acc": 0.97},
    {"optimizer": "rmsprop", "seed": 0, "final_train_loss": 0.26, "test_acc": 0.95},
])


def test_highest_holds_or_names_the_setting_that_is():
    held = check(claim(metric="final_train_loss", by="optimizer", highest="momentum"),
                 OPTIMIZERS.iloc[:3])
    assert held.holds is False
    assert held.closest == "the highest is sgd (0.23)"
    assert held.measured == "sgd 0.23 > momentum 0.08 > adam 0.06"
    # RMSprop, not in the book's four, ends higher than SGD: the book's claim fails here.
    failed = check(claim(metric="final_train_loss", by="optimizer", highest="sgd"), OPTIMIZERS)
    assert (failed.holds, failed.closest) == (False, "the highest is rmsprop (0.26)")
    assert check(claim(metric="final_train_loss", by="optimizer", lowest="adam"),
                 OPTIMIZERS).holds is True


def test_an_order_that_fails_gives_the_measured_order():
    result = check(claim(by="optimizer", order=["adam", "sgd", "momentum"]), OPTIMIZERS)
    assert result.holds is False
    assert result.closest == "holds as adam > momentum > sgd"
    assert check(claim(by="optimizer", order=["adam", "momentum", "sgd"]),
                 OPTIMIZERS).holds is True


SEEDS = runs([{"seed": s, "test_acc": a, "dataset.name": "mnist"}
              for s, a in enumerate([0.9894, 0.9868, 0.9899])])


def test_a_value_over_seeds_uses_the_confidence_interval_of_the_mean():
    values = SEEDS["test_acc"].to_numpy()
    half = 4.302652729749464 * values.std(ddof=1) / np.sqrt(3)  # t(0.975, 2)
    low, high = values.mean() - half, values.mean() + half
    # The mean (0.9887) misses 0.995 ± 0.003, but its interval reaches it: the runs do not
    # contradict the claim.
    assert high > 0.992 and values.mean() < 0.992
    assert check(claim(value=0.995, tolerance=0.003), SEEDS).holds is True
    far = check(claim(value=0.999, tolerance=0.003), SEEDS)
    assert far.holds is False
    assert far.measured == f"0.9887 (95% CI {low:.4g} to {high:.4g}, 3 runs)"
    assert far.closest == f"holds as 0.999 ± {0.999 - high:.2g}"


def test_a_value_of_one_run_must_lie_in_the_band():
    one = SEEDS.iloc[:1]
    assert check(claim(value=0.989, tolerance=0.001), one).holds is True
    result = check(claim(value=0.994, tolerance=0.003), one)
    assert (result.holds, result.measured) == (False, "0.9894 (1 run, no CI)")
    assert result.closest == "holds as 0.994 ± 0.0046"


def test_a_claim_whose_when_does_not_apply_is_not_checked():
    result = check(claim(when=["dataset.name=mnist_mini"], value=0.5), SEEDS)
    assert result.holds is None and result.mark == "—"
    assert result.measured == "not checked: applies when dataset.name=mnist_mini"
    assert check(claim(when=["dataset.name=mnist"], at_least=0.98), SEEDS).holds is True


SCALES = [1.0, 0.5, 0.25, 0.1]
BATCH_NORM = runs(
    [{"batchnorm": True, "init.std": s, "train_acc": a} for s, a in zip(
        SCALES, [0.5, 0.6, 0.7, 0.9], strict=True)]
    + [{"batchnorm": False, "init.std": s, "train_acc": a, "status": st} for s, a, st in zip(
        SCALES, [np.nan, 0.8, 0.4, 0.1], ["diverged", "ok", "ok", "ok"], strict=True)])


def test_a_count_treats_a_diverged_run_as_behind():
    result = check(claim(metric="train_acc", count=["batchnorm=true", "batchnorm=false"],
                         per="init.std", at_least=3), BATCH_NORM)
    assert (result.holds, result.measured) == (True, "ahead at 3 of 4 (not at init.std=0.5)")
    four = check(claim(metric="train_acc", count=["batchnorm=true", "batchnorm=false"],
                       per="init.std", at_least=4), BATCH_NORM)
    assert (four.holds, four.closest) == (False, "holds as ahead at ≥ 3 of 4")


OVERFIT = runs([{"dropout": 0.0, "train_acc": 1.0, "test_acc": 0.74},
                {"dropout": 0.2, "train_acc": 0.63, "test_acc": 0.51}])


def test_a_gap_difference():
    narrows = claim(metric="train_acc - test_acc", difference=["dropout=0.0", "dropout=0.2"],
                    at_least=0.08)
    result = check(narrows, OVERFIT)
    assert result.holds is True and result.value == pytest.approx(0.26 - 0.12)
    more = check(claim(metric="train_acc - test_acc", difference=["dropout=0", "dropout=0.2"],
                       at_least=0.2), OVERFIT)
    assert (more.holds, more.closest) == (False, "holds as ≥ 0.14")


def claimed_sweep(folder, claims):
    config = base_config(compare={"enabled": True, "by": None, "metric": "test_acc",
                                  "claims": claims})
    for opt, acc in (("sgd", 0.6), ("adam", 0.95)):
        make_run(folder, [f"optimizer={opt}"], {**config, "optimizer": {"name": opt}},
                 test_acc=acc)
    return folder


def test_compare_opens_the_report_with_the_claims_and_exits_3_when_one_fails(tmp_path, capsys):
    folder = claimed_sweep(tmp_path / "sweep", [
        {"figure": "6-9", "says": "Adam beats SGD", "by": "optimizer", "order": ["adam", "sgd"]},
        {"figure": "6-9", "says": "SGD reaches 0.9", "where": ["optimizer=sgd"],
         "at_least": 0.9},
    ])
    assert cli(["compare", str(folder)]) == ExitCode.CLAIMS_FAILED == 3
    err = capsys.readouterr().err
    assert "1 of 2 claim(s) do not hold: SGD reaches 0.9 (figure 6-9): 0.6 (1 run, no CI)" in err
    report = (folder / "report.md").read_text()
    assert report.index("## Claims") < report.index("## Verdict") < report.index("## Settings")
    row = next(line for line in report.splitlines() if "SGD reaches 0.9" in line)
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells == ["6-9", "SGD reaches 0.9", "test_acc ≥ 0.9", "0.6 (1 run, no CI)", "✗",
                     "holds as ≥ 0.6"]
    verdicts = json.loads((folder / "claims.json").read_text())
    assert [v["holds"] for v in verdicts] == [True, False]


def test_compare_exits_0_when_the_claims_hold(tmp_path):
    folder = claimed_sweep(tmp_path / "sweep", [{"by": "optimizer", "highest": "adam"}])
    assert cli(["compare", str(folder)]) == ExitCode.OK
    assert "✓" in (folder / "report.md").read_text()


def test_a_sweep_file_with_a_bad_claim_trains_nothing(tmp_path):
    sweeps = tmp_path / "conf" / "sweep"
    sweeps.mkdir(parents=True)
    (sweeps / "mine.yaml").write_text(
        "# @package _global_\nhydra:\n  sweeper:\n    params:\n      optimizer: sgd,adam\n"
        "compare:\n  claims:\n    - by: optimizer\n      highest: adma\n")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(REPO / "run.py"), "--config-dir",
                           str(tmp_path / "conf"), "-m", "+sweep=mine", f"hydra.sweep.dir={out}"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == ExitCode.BAD_SETUP, done.stderr
    assert ("compare.claims[0]: highest: optimizer=adma is not swept (did you mean adam?)"
            in done.stderr)
    assert "Nothing was trained." in done.stderr
    assert not any(p.is_dir() for p in out.iterdir())

"""Every config option composes and validates; every file in sweeps/ runs in a tiny form and
draws the figures it names, so that no sweep file rots."""

from __future__ import annotations

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from cnnsweep.build import ConfigError, build_run
from cnnsweep.exitcodes import ExitCode
from cnnsweep.launch.preflight import check_before_runs
from cnnsweep.results import flatten
from cnnsweep.schema import register_configs
from tests.conftest import REPO
from tests.test_run import run_py, summaries

SWEEPS = sorted(p.stem for p in (REPO / "sweeps").glob("*.yaml"))
GROUPS = {g: sorted(p.stem for p in (REPO / "conf" / g).glob("*.yaml"))
          for g in ("dataset", "arch", "optimizer", "init", "trainer")}
TINY = ["dataset=mnist_mini", "dataset.train_size=200", "dataset.test_size=100",
        "trainer.max_iterations=3", "trainer.eval_sample=100"]


@pytest.fixture(scope="module")
def hydra_compose():
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        yield compose
    GlobalHydra.instance().clear()


@pytest.mark.parametrize(("group", "option"), [(g, o) for g, opts in GROUPS.items() for o in opts])
def test_every_config_option_composes_and_validates(hydra_compose, group, option):
    extra = ["dataset.train_images=a", "dataset.train_labels=b", "dataset.test_images=c",
             "dataset.test_labels=d"] if option == "idx" else []
    cfg = hydra_compose(config_name="config", overrides=[f"{group}={option}", *extra])
    config = OmegaConf.to_container(cfg, resolve=True)
    if option == "idx":  # no files to describe: the other parts are checked
        with pytest.raises(FileNotFoundError, match="train_images file a does not exist"):
            build_run(config)
    else:
        build_run(config)


@pytest.mark.parametrize("sweep", SWEEPS)
def test_every_sweep_file_composes(hydra_compose, sweep):
    cfg = hydra_compose(config_name="config", overrides=[f"+sweep={sweep}"])
    build_run(OmegaConf.to_container(cfg, resolve=True))
    task = {k: v for k, v in OmegaConf.to_container(cfg).items() if k != "hydra"}
    check_before_runs(task["compare"], flatten(task))  # its compare block is valid too


def leaves(tree: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.parametrize("sweep", SWEEPS)
def test_sweep_files_hold_only_what_they_change(hydra_compose, sweep):
    text = yaml.safe_load((REPO / "sweeps" / f"{sweep}.yaml").read_text())
    groups = [f"{key.split('/')[-1]}={value}" for entry in text.get("defaults", [])
              for key, value in entry.items() if key.startswith("override /")
              and not key.startswith("override /hydra")]
    base = hydra_compose(config_name="config", overrides=groups)
    values = leaves({k: v for k, v in text.items() if k not in ("defaults", "hydra")})
    restated = [key for key, value in values.items() if OmegaConf.select(base, key) == value]
    assert not restated, f"sweeps/{sweep}.yaml restates defaults: {restated}"


def expected_figures(sweep: str) -> list[str]:
    """The figures a sweep file asks for, or the defaults for its number of swept keys."""
    from cnnsweep.compare_options import default_figures

    text = yaml.safe_load((REPO / "sweeps" / f"{sweep}.yaml").read_text())
    keys = [k for k, v in text["hydra"]["sweeper"]["params"].items() if "," in str(v)]
    return text.get("compare", {}).get("figures") or list(default_figures(len(keys)))


@pytest.mark.slow
@pytest.mark.parametrize("sweep", SWEEPS)
def test_every_sweep_runs_tiny_and_draws_its_figures(tmp_path, sweep):
    extra = ["hydra.sweeper.n_trials=4"] if sweep == "hyperparameter_search" else []
    proc = run_py("-m", f"+sweep={sweep}", *TINY, *extra, "hydra.sweep.dir=s", cwd=tmp_path,
                  timeout=600)
    # Three iterations learn nothing, so a book claim may not hold here (exit 3, named on the
    # terminal): the sweep still ran, checked its claims and wrote its report.
    assert proc.returncode in (0, ExitCode.CLAIMS_FAILED), proc.stderr[-3000:]
    if proc.returncode == ExitCode.CLAIMS_FAILED:
        assert "do not hold" in proc.stderr + proc.stdout
        assert (tmp_path / "s" / "claims.json").is_file()
    runs = summaries(tmp_path / "s")
    assert runs and all(s["status"] == "ok" for s in runs.values())
    report = (tmp_path / "s" / "report.md").read_text()
    for figure in expected_figures(sweep):
        assert f"![{figure}]({figure}.png)" in report, figure  # drawn, in the report
        assert (tmp_path / "s" / f"{figure}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (tmp_path / "s" / f"{figure}.pdf").read_bytes()[:5] == b"%PDF-"
    html = (tmp_path / "s" / "report.html").read_text()
    searched = (tmp_path / "s" / "search.json").is_file()
    assert searched == ("halving" in (REPO / "sweeps" / f"{sweep}.yaml").read_text())
    # The halving sweeper's rung figure, where configurations were promoted (not in a one-rung
    # search such as hyperparameter_search's).
    sweeper = yaml.safe_load((REPO / "sweeps" / f"{sweep}.yaml").read_text())["hydra"]["sweeper"]
    rungs = searched and sweeper.get("min_budget") != sweeper.get("max_budget")
    assert ("![rungs](rungs.png)" in report) == rungs
    assert html.count("data:image/png;base64,") == len(expected_figures(sweep)) + rungs


@pytest.mark.parametrize(("override", "message"), [
    ("trainer.sampling=random", "trainer.sampling='random' is not one of shuffle, replacement"),
    ("trainer.eval_sample=0", "trainer.eval_sample=0 must be at least 1"),
    ("trainer.batch_size=0", "trainer.batch_size=0 must be at least 1"),
    ("init.std=0", "init.std=0.0 must be a positive number"),
    ("dropout=1.0", "dropout=1.0 must be in [0, 1)"),
    ("optimizer=momentum optimizer.momentum=1.5", "optimizer.momentum=1.5 must be in [0, 1)"),
])
def test_values_outside_their_range_are_named_by_key(hydra_compose, override, message):
    cfg = hydra_compose(config_name="config", overrides=override.split())
    with pytest.raises(ConfigError) as err:
        build_run(OmegaConf.to_container(cfg, resolve=True))
    assert message in str(err.value)

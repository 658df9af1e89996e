"""settings.tex compiles with pdflatex inside a minimal document, for the keys of every
built-in sweep and for keys and values holding LaTeX's special characters; p-values never
print as 0.0000.

Needs Debian's texlive-latex-recommended (pdflatex and booktabs, which .ci/run installs); skips
with the reason where pdflatex is absent.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from cnnsweep.report import compare, format_p
from tests.runfolders import base_config, make_run

REPO = Path(__file__).resolve().parents[1]
SPECIAL = "a_b%c&d#e$f{g}h~i^j\\k"
MINIMAL = ("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
           "\\input{settings.tex}\n\\end{document}\n")


def compile_tex(folder: Path) -> str:
    """pdflatex on a document that inputs `folder`/settings.tex; its text (pdftotext) or ""."""
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not found (Debian: apt-get install texlive-latex-recommended)")
    (folder / "document.tex").write_text(MINIMAL)
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                          "document.tex"], cwd=folder, capture_output=True, text=True,
                         errors="replace",
                         timeout=120)
    errors = [line for line in run.stdout.splitlines() if line.startswith("!")]
    assert run.returncode == 0 and not errors, "\n".join(errors) or run.stdout[-2000:]
    log = (folder / "document.log").read_text(errors="replace")
    assert "Overfull \\hbox" not in log, log[log.index("Overfull"):][:400]  # fits the page
    assert (folder / "document.pdf").stat().st_size > 0
    if shutil.which("pdftotext") is None:
        return ""
    return subprocess.run(["pdftotext", "document.pdf", "-"], cwd=folder, capture_output=True,
                          text=True, check=True).stdout


def _nest(config: dict, key: str, value: object) -> dict:
    """`config` with the dotted `key` set (a group's option sets its `name`)."""
    *groups, name = key.split(".")
    node = config
    for group in groups:
        node[group] = dict(node.get(group) or {})
        node = node[group]
    if not groups and isinstance(node.get(name), dict):
        node[name] = {**node[name], "name": value}
    else:
        node[name] = value
    return config


def _two_values(spec: object) -> list[object]:
    """Two values of a sweeper's parameter: a comma list's first two, else two numbers from
    an interval (the Optuna sweeper's `tag(log, interval(a, b))`)."""
    text = str(spec)
    numbers = re.findall(r"interval\(([^,]+),\s*([^)]+)\)", text)
    if numbers:
        return [float(numbers[0][0]) * 3, float(numbers[0][1]) / 3]
    return [yaml.safe_load(v) for v in text.split(",")[:2]]


def builtin_sweeps() -> list[str]:
    return sorted(p.stem for p in (REPO / "sweeps").glob("*.yaml"))


@pytest.mark.parametrize("sweep", builtin_sweeps())
def test_settings_tex_of_every_builtin_sweep_compiles(sweep, tmp_path):
    spec = yaml.safe_load((REPO / "sweeps" / f"{sweep}.yaml").read_text())
    params = ((spec.get("hydra") or {}).get("sweeper") or {}).get("params") or {}
    swept = {k: _two_values(v) for k, v in params.items()
             if k != "seed" and len(_two_values(v)) > 1}
    folder = tmp_path / sweep
    first = next(iter(swept), None)  # none: the sweep is one setting, repeated over seeds
    for i in range(len(swept[first]) if first else 1):
        for seed in (0, 1, 2):
            values = {k: v[i % len(v)] for k, v in swept.items()}
            config = base_config(seed=seed)
            for key, v in values.items():
                config = _nest(config, key, v)
            overrides = [f"{k}={v}" for k, v in values.items() if k != "seed"] + [f"seed={seed}"]
            make_run(folder, overrides, config, test_acc=0.5 + 0.3 * i + 0.001 * seed)
    report = compare([folder], figures=["metric"], out=tmp_path / "report")
    compile_tex(report.parent)


def test_special_characters_in_keys_and_values_compile(tmp_path):
    folder = tmp_path / "special"
    key = "extra.we_ird%key"
    for value, acc in ((SPECIAL, 0.95), ("plain $100 & more", 0.60)):
        for seed in (0, 1, 2):
            config = _nest(base_config(seed=seed), key, value)
            make_run(folder, [f"{key}={value}", f"seed={seed}"], config,
                     test_acc=acc + 0.001 * seed)
    report = compare([folder], figures=["metric"])
    tex = (report.parent / "settings.tex").read_text()
    assert "a\\_b\\%c\\&d\\#e\\$f\\{g\\}h\\textasciitilde i\\textasciicircum j" in tex
    assert "we\\_ird\\%key" in tex and "95\\% CI" in tex  # the key's last part names it
    text = compile_tex(report.parent)
    if text:
        assert "b%c&d#e$f{g}h" in text  # (pdftotext reads an escaped _ as a space)
        # Two settings 0.35 apart with a spread of 0.001: a p-value far below 1e-4, printed
        # as a number, never as 0.0000.
        p = re.search(r"(\d\.\d)e-(\d+)", text)
        assert p and int(p.group(2)) > 4, text
    assert "0.0000" not in tex


@pytest.mark.parametrize(("p", "shown"), [(3.7e-18, "3.7e-18"), (0.0371, "0.037"),
                                          (0.04005, "0.040"), (0.63, "0.63"), (0.0, "< 1e-300"),
                                          (float("nan"), "")])
def test_p_values_keep_two_significant_digits(p, shown):
    assert format_p(p) == shown

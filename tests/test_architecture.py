"""The layering docs/architecture.md describes, checked: which modules may import what."""

import json
import subprocess
import sys

import pytest

ENGINE = ["cnnsweep.nn", "cnnsweep.data", "cnnsweep.train", "cnnsweep.build",
          "cnnsweep.runfolder", "cnnsweep.checkpoint"]
ANALYSIS = ["cnnsweep.results", "cnnsweep.stats", "cnnsweep.plots", "cnnsweep.report",
            "cnnsweep.cli"]


def loaded_after_import(module: str) -> set[str]:
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    return set(json.loads(out.stdout))


@pytest.mark.parametrize("module", ENGINE)
def test_the_engine_and_the_build_step_import_neither_hydra_nor_pandas(module):
    loaded = loaded_after_import(module)
    assert not {"hydra", "omegaconf", "pandas", "matplotlib"} & loaded


@pytest.mark.parametrize("module", ANALYSIS)
def test_the_analysis_reads_run_folders_and_never_imports_the_engine_or_hydra(module):
    loaded = loaded_after_import(module)
    assert not {"hydra", "omegaconf", "cnnsweep.nn", "cnnsweep.train", "cnnsweep.build",
                "cnnsweep.experiment"} & loaded

"""The layering docs/architecture.md describes, checked: which modules may import what."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import cnnsweep

ENGINE = ["cnnsweep.nn", "cnnsweep.data", "cnnsweep.train", "cnnsweep.build",
          "cnnsweep.runfolder", "cnnsweep.checkpoint"]
ANALYSIS = ["cnnsweep.results", "cnnsweep.stats", "cnnsweep.plots", "cnnsweep.report",
            "cnnsweep.cli", "cnnsweep.claims", "cnnsweep.reproduce"]


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


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module → the package's modules it imports anywhere: at the top, inside functions, under
    TYPE_CHECKING (a cycle there is still a cycle in the design)."""
    def name_of(path: Path) -> str:
        parts = path.relative_to(package.parent).with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    modules = {name_of(p): p for p in package.rglob("*.py")}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                # A package's __init__ and its own parents are not imports between modules.
                if target and target != name and not name.startswith(f"{target}."):
                    edges[name].add(target)
    return edges


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that import each other, directly or not."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while not group or group[-1] != v:
                group.append(stack.pop())
            groups.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return groups


def test_the_graph_finds_a_cycle():
    assert [g for g in strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
            if len(g) > 1] == [["a", "b", "c"]]


def test_no_module_of_src_imports_itself_through_others():
    edges = import_graph(Path(cnnsweep.__file__).parent)
    assert len(edges) > 30 and "cnnsweep.nn.layers" in edges["cnnsweep.nn.parallel"]
    assert [group for group in strongly_connected(edges) if len(group) > 1] == []


def hydra_importers(package: Path) -> set[str]:
    """The modules that import Hydra or OmegaConf anywhere (also inside functions)."""
    found = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n.split(".")[0] in ("hydra", "omegaconf") for n in names):
                found.add(path.relative_to(package).as_posix())
    return found


def test_only_the_launch_side_touches_hydra_as_docs_architecture_md_says():
    package = Path(cnnsweep.__file__).parent
    importers = hydra_importers(package)
    rule = (Path(__file__).parents[1] / "docs" / "architecture.md").read_text()
    rule = rule[rule.index("The modules that import Hydra or OmegaConf"):]
    rule = re.split(r"\salone\s", rule)[0]
    named = {name.strip("`") for name in rule.replace(",", " ").split() if name.endswith(".py`")}
    assert "app.py" in named and "launch/hydra_errors.py" in importers
    outside = {m for m in importers if not m.startswith("launch/")}
    assert outside == named - {"hydra_internals.py"}, (outside, named)

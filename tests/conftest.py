import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Every test session decodes into its own cache: no test reads or writes the user's."""
    cache = tmp_path_factory.mktemp("cnnsweep-cache")
    old = os.environ.get("CNNSWEEP_CACHE")
    os.environ["CNNSWEEP_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("CNNSWEEP_CACHE", None)
    else:
        os.environ["CNNSWEEP_CACHE"] = old


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The full MNIST files ($MNIST_DIR or ../shared/data/mnist); skips when absent."""
    candidates = [os.environ.get("MNIST_DIR"), REPO.parent / "shared" / "data" / "mnist"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "train-images-idx3-ubyte.gz").is_file():
            return Path(candidate)
    pytest.skip("full MNIST not found: set MNIST_DIR to a folder with the four IDX files")


# Under pytest-xdist (`-n`), tests of one group run on one worker, one after another: those
# that start Ray or SLURM (two clusters at once would compete for the cores and ports), with the
# search tests, whose module fixture (the reference search) the Ray test shares; and those that
# share the installed wheel. Anywhere else a module fixture would be built once per worker.
GROUPS = {"test_search.py": "clusters", "test_install.py": "install"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        group = "clusters" if item.get_closest_marker("launchers") else \
            GROUPS.get(item.path.name)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))

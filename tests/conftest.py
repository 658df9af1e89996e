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


RAY_HEARTBEATS = "RAY_health_check_failure_threshold"  # RAY_ + Ray's own config key


@pytest.fixture(scope="session", autouse=True)
def patient_ray():
    """Ray's clusters started by the tests tolerate a minute without a heartbeat (default:
    about 30 s): on a loaded 2-core machine the other test worker can starve the raylet, and
    Ray then declares its only node dead (LocalRayletDiedError), a failure of the machine, not
    of the sweep under test."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(RAY_HEARTBEATS, "20")
        yield


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The full MNIST files ($MNIST_DIR or ../shared/data/mnist); skips when absent."""
    candidates = [os.environ.get("MNIST_DIR"), REPO.parent / "shared" / "data" / "mnist"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "train-images-idx3-ubyte.gz").is_file():
            return Path(candidate)
    pytest.skip("full MNIST not found: set MNIST_DIR to a folder with the four IDX files")

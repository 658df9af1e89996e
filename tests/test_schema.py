"""Structured configs are derived from the engine's classes: each default is defined once."""

import pickle
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from cnnsweep import schema
from cnnsweep.build import RunSettings
from cnnsweep.data.datasets import LoadOptions
from cnnsweep.nn import ARCHITECTURES, OPTIMIZERS, WeightInit
from cnnsweep.train import TrainSettings
from tests.conftest import REPO


@pytest.fixture(scope="module")
def composed():
    schema.register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        yield lambda *overrides: OmegaConf.to_container(compose("config", list(overrides)))
    GlobalHydra.instance().clear()


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_an_optimizer_group_gives_the_class_defaults(composed, name):
    assert composed(f"optimizer={name}")["optimizer"] == \
        {"name": name, **OPTIMIZERS[name].hyperparameters()}


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_an_arch_group_gives_the_spec_defaults(composed, name):
    config = composed(f"arch={name}")
    spec = ARCHITECTURES[name]()
    assert config["network"] == name
    for key, _, default in schema.settings_of(type(spec)):
        expected = OmegaConf.to_container(OmegaConf.structured(default)) \
            if hasattr(default, "__dataclass_fields__") else default
        assert config[key] == (list(expected) if isinstance(expected, tuple) else expected), key


def test_init_trainer_and_dataset_defaults_come_from_the_engine(composed):
    config = composed()
    assert config["init"] == {"name": "std", "std": WeightInit().std}
    trainer = {**TrainSettings().__dict__, **RunSettings().__dict__}
    assert config["trainer"] == trainer
    assert config["dataset"] == {"name": "mnist_mini", **LoadOptions().__dict__}
    assert composed("dataset=mnist")["dataset"]["download"] is True


def test_a_key_of_the_wrong_type_fails_at_composition(composed):
    with pytest.raises(Exception, match=r"conv\.filter_num"):
        composed("conv.filter_num=many")


def test_architecture_keys_of_two_types_are_refused(monkeypatch):
    from dataclasses import dataclass

    from cnnsweep.nn.architectures import Architecture

    @dataclass(frozen=True)
    class Clash(Architecture):
        hidden_size: str = "wide"  # SimpleConvNet's hidden_size is an int

    monkeypatch.setitem(ARCHITECTURES, "clash", Clash)
    with pytest.raises(TypeError, match="architecture key 'hidden_size' has two types"):
        schema.architecture_keys()


def test_derived_schemas_unpickle_in_a_fresh_process():
    # Launchers that re-compose configs in another process (submitit, Ray) pickle the config
    # store, whose nodes refer to the derived schema classes by module and name.
    node = OmegaConf.structured(schema.schema_of(ARCHITECTURES["mlp"]))
    code = ("import pickle, sys; cfg = pickle.loads(sys.stdin.buffer.read()); "
            "print(type(cfg._metadata.object_type).__name__, "
            "cfg._metadata.object_type.__name__, cfg.hidden_sizes)")
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(node),
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().split() == ["type", "MLPSpecConfig", "[100,", "100,", "100,",
                                           "100]"]

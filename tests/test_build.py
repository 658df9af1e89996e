"""One build step: a composed config → the run's parts, every error named by its config key."""

import copy

import numpy as np
import pytest

from cnnsweep.build import ConfigError, build_run, construct
from cnnsweep.data import write_idx
from cnnsweep.nn import ConvSpec, DeepConvNetSpec, SimpleConvNetSpec
from cnnsweep.nn.optimizers import Momentum
from cnnsweep.nn.plan import AffinePlan, ConvPlan

CONFIG = {
    "dataset": {"name": "mnist_mini", "normalize": True, "train_size": None, "test_size": None,
                "validation_fraction": 0.0, "split_seed": 0},
    "optimizer": {"name": "momentum", "lr": 0.05, "momentum": 0.8},
    "init": {"name": "he", "std": 0.01},
    "trainer": {"epochs": 2, "max_iterations": None, "batch_size": 50, "sampling": "shuffle",
                "eval_sample": 100, "log_every": 1, "weight_decay": 0.0, "dtype": "float32",
                "threads": 1, "save_params": True},
    "network": "simple_convnet",
    "conv": {"filter_num": 8, "filter_size": 3, "pad": 1, "stride": 1},
    "pool": {"size": 2, "stride": 2, "pad": 0, "mode": "max"},
    "hidden_size": 20, "batchnorm": False, "dropout": 0.0,
    "hidden_sizes": None, "activation": None, "channels": None, "seed": 3,
}


def with_(**changes):
    config = copy.deepcopy(CONFIG)
    for dotted, value in changes.items():
        *path, key = dotted.split("__")
        node = config
        for part in path:
            node = node[part]
        node[key] = value
    return config


def test_a_config_becomes_the_engines_objects():
    parts = build_run(CONFIG)
    assert isinstance(parts.optimizer, Momentum) and parts.optimizer.momentum == 0.8
    assert parts.architecture == SimpleConvNetSpec(ConvSpec(8, 3, 1, 1), hidden_size=20)
    assert parts.input_shape == (1, 28, 28) and parts.n_classes == 10
    assert isinstance(parts.layers[0], ConvPlan) and parts.layers[0].out_shape == (8, 28, 28)
    assert isinstance(parts.layers[-1], AffinePlan) and parts.layers[-1].out_shape == (10,)
    assert parts.training.batch_size == 50 and parts.run.threads == 1 and parts.seed == 3


@pytest.mark.parametrize(("changes", "message"), [
    ({"optimizer__lr": 0.0}, "optimizer.lr=0.0 must be a positive number"),
    ({"optimizer__momentum": 1.0}, "optimizer.momentum=1.0 must be in [0, 1)"),
    ({"optimizer__name": "adamw"}, "optimizer.name='adamw' is not one of sgd, momentum"),
    ({"trainer__sampling": "random"}, "trainer.sampling='random' is not one of shuffle"),
    ({"trainer__threads": 0}, "trainer.threads=0 must be a positive number"),
    ({"trainer__weight_decay": -1.0}, "trainer.weight_decay=-1.0 must not be negative"),
    ({"trainer__dtype": "float16"}, "trainer.dtype='float16' is not one of float32, float64"),
    ({"init__name": "lecun"}, "init.name='lecun' is not one of std, xavier, he"),
    ({"pool__mode": "min"}, "pool.mode='min' is not one of max, avg"),
    ({"dropout": 1.5}, "dropout=1.5 must be in [0, 1)"),
    ({"dataset__validation_fraction": 1.0}, "dataset.validation_fraction=1.0 must be in [0, 1)"),
    ({"conv__filter_size": 6, "conv__pad": 0, "conv__stride": 4},
     "conv: (28 + 2*0 - 6) / 4 + 1 = 6.5 is not a whole number"),
    ({"network": "resnet"}, "network='resnet' is not one of simple_convnet, mlp, deep_convnet"),
])
def test_every_error_names_its_config_key(changes, message):
    with pytest.raises(ConfigError) as err:
        build_run(with_(**changes))
    assert message in str(err.value)


def test_construct_builds_nested_specs_and_tuples():
    spec = construct(DeepConvNetSpec, {"channels": [4, 4, 8, 8, 16, 16], "hidden_size": 10,
                                       "conv": None, "dropout": 0.25})
    assert spec == DeepConvNetSpec((4, 4, 8, 8, 16, 16), 10, 0.25)
    with pytest.raises(ConfigError, match=r"^conv\.pool\.mode=.x. is not one of max, avg$"):
        construct(SimpleConvNetSpec, {"pool": {"mode": "x"}}, "conv.")


def test_idx_files_are_described_from_their_headers_before_loading(tmp_path):
    rng = np.random.default_rng(0)
    files = {}
    for split, n in (("train", 20), ("test", 8)):
        files[f"{split}_images"] = str(tmp_path / f"{split}-images.gz")
        files[f"{split}_labels"] = str(tmp_path / f"{split}-labels")
        write_idx(files[f"{split}_images"], rng.integers(0, 256, (n, 3, 12, 12), np.uint8))
        write_idx(files[f"{split}_labels"], rng.integers(0, 4, n, dtype=np.uint8))
    config = with_(dataset={**CONFIG["dataset"], "name": "idx", **files})
    parts = build_run(config)
    assert parts.input_shape == (3, 12, 12) and parts.n_classes <= 4
    assert parts.layers[0].in_shape == (3, 12, 12)
    bad = with_(dataset={**config["dataset"]}, conv__filter_size=13, conv__pad=0)
    with pytest.raises(ConfigError,
                       match=r"conv: \(12 \+ 2\*0 - 13\) / 1 \+ 1 = 0 is not positive"):
        build_run(bad)

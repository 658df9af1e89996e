"""What cnnsweep takes from inside Hydra (launch/hydra_internals.py): each piece checked against
the installed Hydra, so that a release that changes one fails here, by name, and not as a
silently wrong progress count or a traceback a user meets."""

import pytest

from cnnsweep.launch import hydra_internals


def test_the_basic_sweepers_split_gives_the_jobs_in_launch_order():
    jobs = hydra_internals.basic_sweep_jobs(["optimizer=sgd,adam", "seed=0,1", "seed=2"])
    assert jobs == [["optimizer=sgd", "seed=2"], ["optimizer=adam", "seed=2"]]
    assert hydra_internals.basic_sweep_jobs(["a=glob(*)"]) is None  # needs the config


def test_the_function_that_applies_overrides_still_holds_the_override():
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    applying = getattr(ConfigLoaderImpl, hydra_internals.APPLYING_OVERRIDES, None)
    assert applying is not None, "Hydra renamed ConfigLoaderImpl._apply_overrides_to_config"
    assert "override" in applying.__code__.co_varnames, "its local `override` is gone"


def test_the_override_being_applied_is_found_in_a_real_composition_error():
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from cnnsweep.schema import register_configs
    from tests.conftest import REPO

    register_configs()
    GlobalHydra.instance().clear()
    try:
        # An AssertionError in Hydra 1.3: a key set under a node that is null.
        with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"), \
                pytest.raises(BaseException) as caught:
            compose(config_name="config", overrides=["arch=mlp", "+conv.filter_num=3"])
    finally:
        GlobalHydra.instance().clear()
    assert hydra_internals.override_being_applied(caught.value) == "+conv.filter_num=3"


def test_the_ray_launcher_still_needs_and_takes_cnnsweeps_node():
    config = pytest.importorskip("hydra_plugins.hydra_ray_launcher._config",
                                 reason="the ray extra is not installed")
    import inspect

    from hydra_plugins.hydra_ray_launcher import _core
    from omegaconf import OmegaConf

    node = OmegaConf.structured(config.RayLauncherConf)
    assert set(node.ray) == {"init", "remote"}, "RayLauncherConf's ray node changed"
    # The fixed object store size that a join refuses, set unless the key is there:
    assert 'setdefault("object_store_memory"' in inspect.getsource(_core)

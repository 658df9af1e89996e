"""cnnsweep's successive-halving / Hyperband sweeper, where Hydra looks for plugins: Hydra 1.3
instantiates a sweeper only from a class in the `hydra_plugins` namespace that its plugin scan
found (`hydra.core.plugins.Plugins._instantiate`)."""

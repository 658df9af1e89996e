"""A launcher that loses a run, for tests only: Hydra's basic launcher without the last job.
Hydra instantiates launchers found in the `hydra_plugins` namespace; tests/plugins goes on the
PYTHONPATH of the one test that uses it."""

from hydra._internal.core_plugins.basic_launcher import BasicLauncher


class DroppingLauncher(BasicLauncher):
    def launch(self, job_overrides, initial_job_idx):
        return super().launch(job_overrides[:-1], initial_job_idx)

"""The launching process's side of a sweep, one job per module:

    state.py            what the launch knows (its command line, folder, expected runs)
    preflight.py        the beginning: the runs it will launch, checks before the first job
    progress.py         the live progress line, read from the run folders
    finish.py           the end: the table, the report, runs missing, the exit code
    stopping.py         Ctrl-C, SIGTERM and a failed launcher: stop workers, the resume command
    hydra_errors.py     Hydra's errors explained in one line
    hydra_internals.py  everything taken from inside Hydra and its plugins, with why
    callback.py         the Hydra callback, a thin adapter to the modules above

A run's own side (training, its folder, its signals) is `experiment.py` and `interrupts.py`.
"""

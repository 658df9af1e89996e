"""The sweep's progress line, from its run folders, and the number of runs it expects."""

import io

from cnnsweep.progress import SweepProgress
from tests.runfolders import base_config, make_run


def test_plain_lines_per_finished_run_and_final_counts(tmp_path):
    make_run(tmp_path, ["seed=0"], base_config(), test_acc=0.9)  # finished before this launch
    out = io.StringIO()
    progress = SweepProgress(tmp_path, 5, stream=out, interval=60).start()
    make_run(tmp_path, ["seed=1"], base_config(), status="failed")
    make_run(tmp_path, ["seed=2"], base_config(), status="diverged", test_acc=0.1)
    make_run(tmp_path, ["seed=3"], base_config(), status=None)  # still running
    progress.poll()
    make_run(tmp_path, ["seed=4"], base_config(), test_acc=0.8)
    progress.stop()
    lines = out.getvalue().splitlines()
    assert lines[0] == "[2/5] seed=1: failed, 0.1 s"
    assert lines[1].startswith("[3/5] seed=2: diverged, test_acc 0.1000")
    assert lines[2].startswith("[4/5] seed=4: ok, test_acc 0.8000, 1.5 s")
    assert lines[3].startswith("sweep: 3/5 runs done, 1 running, 1 failed, 1 diverged, ")
    assert len(lines) == 4

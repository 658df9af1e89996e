"""The sweep's progress line, from its run folders, and the number of runs it expects."""

import io

from cnnsweep import runfolder
from cnnsweep.launch.progress import SweepProgress
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


def rerun(run_dir, status="ok", finished_at="later"):
    """A run trained again: a new summary in its folder."""
    summary = runfolder.read_summary(run_dir)
    summary.status, summary.test_acc = runfolder.Status(status), 0.9
    summary.finished_at = finished_at
    runfolder.write_summary(run_dir, summary)


def test_a_resume_counts_the_runs_it_skips_and_follows_the_ones_it_trains_again(tmp_path):
    names = []
    for seed in range(8):  # six finished before Ctrl-C, two cut off and recorded interrupted
        status = "ok" if seed < 6 else "interrupted"
        run = make_run(tmp_path, [f"seed={seed}"], base_config(), status="ok")
        if status != "ok":
            rerun(run, "interrupted", "at Ctrl-C")
        names.append(run.name)
    out = io.StringIO()
    progress = SweepProgress(tmp_path, names, stream=out, interval=60).start()
    rerun(tmp_path / names[6])
    progress.poll()
    rerun(tmp_path / names[7])
    progress.stop()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[7/8] seed=6: ok, test_acc 0.9000")
    assert lines[1].startswith("[8/8] seed=7: ok")
    assert lines[2].startswith("sweep: 8/8 runs done, 0 running, 0 failed, 0 diverged, ")
    assert len(lines) == 3


def test_added_seeds_count_this_launch_and_name_the_folder(tmp_path):
    for seed in range(8):  # the first launch
        make_run(tmp_path, [f"seed={seed}"], base_config())
    added = [runfolder.run_name([f"seed={seed}"]) for seed in range(8, 12)]
    out = io.StringIO()
    progress = SweepProgress(tmp_path, added, stream=out, interval=60).start()
    for seed in range(8, 12):
        make_run(tmp_path, [f"seed={seed}"], base_config())
        progress.poll()
    progress.stop()
    lines = out.getvalue().splitlines()
    assert [line.split(" ")[0] for line in lines[:4]] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    assert lines[4].startswith("sweep: 4/4 runs done, 0 running, 0 failed, 0 diverged (12 runs "
                               "in the folder), ")

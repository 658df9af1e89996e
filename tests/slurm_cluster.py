"""A single-node SLURM cluster on this machine for the launcher tests: munge, slurmctld and
slurmd (Debian's slurm-wlm and munge, which .ci/run installs) with a generated slurm.conf in a
temporary folder; stopped after. Needs root, as the daemons and munge's socket folder do."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

DAEMONS = ("slurmctld", "slurmd", "munged", "sbatch")


def missing() -> str | None:
    """Why no cluster can be started here, or None."""
    absent = [d for d in DAEMONS if shutil.which(d) is None and
              not Path("/usr/sbin", d).is_file()]
    if absent:
        return f"SLURM is not installed ({', '.join(absent)} missing): apt-get install " \
               "slurm-wlm munge"
    if os.geteuid() != 0:
        return "starting slurmctld, slurmd and munged needs root"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(folder: Path) -> str:
    host = socket.gethostname()
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 - 1024
    return "\n".join([
        "ClusterName=cnnsweep-test", f"SlurmctldHost={host}", "SlurmUser=root",
        "SlurmdUser=root", "AuthType=auth/munge", f"StateSaveLocation={folder}/state",
        f"SlurmdSpoolDir={folder}/spool", f"SlurmctldPidFile={folder}/slurmctld.pid",
        f"SlurmdPidFile={folder}/slurmd.pid", f"SlurmctldLogFile={folder}/slurmctld.log",
        f"SlurmdLogFile={folder}/slurmd.log", f"SlurmctldPort={_free_port()}",
        f"SlurmdPort={_free_port()}", "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none", "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core",
        "MpiDefault=none", "ReturnToService=2", "JobAcctGatherType=jobacct_gather/none",
        f"NodeName={host} CPUs={os.cpu_count()} RealMemory={memory} State=UNKNOWN",
        "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP", ""])


@contextlib.contextmanager
def slurm_cluster(folder: Path) -> Iterator[dict[str, str]]:
    """Start the cluster; yield the environment that points sbatch at it; stop it."""
    for sub in ("state", "spool"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "slurm.conf").write_text(_config(folder))
    env = {**os.environ, "SLURM_CONF": str(folder / "slurm.conf")}
    started: list[subprocess.Popen] = []
    munge_socket = Path("/run/munge/munge.socket.2")
    if not munge_socket.exists():
        Path("/run/munge").mkdir(parents=True, exist_ok=True)
        shutil.chown("/run/munge", "munge", "munge")
        started.append(subprocess.Popen(["runuser", "-u", "munge", "--", "munged",
                                         "--foreground"]))
    for daemon in ("slurmctld", "slurmd"):
        started.append(subprocess.Popen([daemon, "-D"], env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL))
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            state = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True,
                                   text=True).stdout.split()
            if state and all(s.startswith("idle") for s in state):
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"SLURM did not come up: see {folder}/slurmctld.log")
        yield env
    finally:
        for proc in reversed(started):
            proc.terminate()
        for proc in started:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

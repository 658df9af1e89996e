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
from collections.abc import Callable, Iterator
from pathlib import Path

DAEMONS = ("slurmctld", "slurmd", "munged", "munge", "sbatch", "scontrol", "sinfo")


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
        "ClusterName=cnnsweep-test", f"SlurmctldHost={host}(127.0.0.1)", "SlurmUser=root",
        "SlurmdUser=root", "AuthType=auth/munge", f"StateSaveLocation={folder}/state",
        f"SlurmdSpoolDir={folder}/spool", f"SlurmctldPidFile={folder}/slurmctld.pid",
        f"SlurmdPidFile={folder}/slurmd.pid", f"SlurmctldLogFile={folder}/slurmctld.log",
        f"SlurmdLogFile={folder}/slurmd.log", f"SlurmctldPort={_free_port()}",
        f"SlurmdPort={_free_port()}", "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none", "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core",
        "MpiDefault=none", "ReturnToService=2", "JobAcctGatherType=jobacct_gather/none",
        # A requeued or preempted job gets SIGTERM and, 2 s later (not 30), SIGKILL: the
        # continuation tests stop short runs in their middle.
        "KillWait=2",
        f"NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} RealMemory={memory} "
        "State=UNKNOWN",
        "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP", ""])


def _munge_works() -> bool:
    """True when a munged answers on its socket (a socket file alone may be stale, left by a
    munged of an earlier boot or session)."""
    return subprocess.run(["munge", "-n"], stdin=subprocess.DEVNULL, capture_output=True,
                          check=False).returncode == 0


def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return False


def _tail(path: Path, lines: int = 15) -> str:
    if not path.is_file():
        return f"{path.name}: not written"
    return f"{path.name}:\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def slurm_cluster(folder: Path) -> Iterator[dict[str, str]]:
    """Start the cluster; yield the environment that points sbatch at it; stop it.

    Each daemon starts once the one it needs answers: munged, then slurmctld (which slurmd
    registers with), then slurmd. A registration that misses its controller is only retried at
    the controller's next node ping, minutes later."""
    for sub in ("state", "spool"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "slurm.conf").write_text(_config(folder))
    env = {**os.environ, "SLURM_CONF": str(folder / "slurm.conf")}
    started: list[subprocess.Popen] = []

    def start(*command: str) -> None:
        started.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL))

    def fail(what: str) -> None:
        logs = "\n".join(_tail(folder / name) for name in ("slurmctld.log", "slurmd.log"))
        raise RuntimeError(f"SLURM did not come up: {what}\n{logs}")

    def node_states() -> list[str]:
        return subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True,
                              text=True, check=False).stdout.split()

    try:
        if not _munge_works():
            Path("/run/munge").mkdir(parents=True, exist_ok=True)
            shutil.chown("/run/munge", "munge", "munge")
            # --force: replace a stale socket rather than refuse to start
            start("runuser", "-u", "munge", "--", "munged", "--foreground", "--force")
            if not _wait(_munge_works, 30):
                fail("munged does not answer (munge -n fails)")
        start("slurmctld", "-D")
        if not _wait(lambda: subprocess.run(["scontrol", "ping"], env=env, capture_output=True,
                                            check=False).returncode == 0, 60):
            fail("slurmctld does not answer scontrol ping")
        start("slurmd", "-D")
        if not _wait(lambda: (states := node_states()) != [] and
                     all(s.startswith("idle") for s in states), 60):
            fail(f"the node is {node_states() or 'missing'}, not idle")
        yield env
    finally:
        for proc in reversed(started):
            proc.terminate()
        for proc in started:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

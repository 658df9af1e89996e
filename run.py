"""The repository's entry point: `python run.py [overrides]`, `python run.py -m` to sweep, and
`python run.py compare DIR…` (the same words as the `cnnsweep` command).

It runs this checkout's code and configs (conf/, and sweeps/ as the group `sweep`), whatever
cnnsweep is installed: an installed package is `cnnsweep run` instead.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "src"))  # this checkout's cnnsweep, not an installed one

from cnnsweep.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], program=sys.argv[0], config_path=ROOT / "conf"))

"""`python -m cnnsweep [overrides]`: one run, or a sweep with -m (the same as `cnnsweep run`)."""

import sys

from cnnsweep.app import run

if __name__ == "__main__":
    sys.exit(run(sys.argv[1:], program="python -m cnnsweep"))

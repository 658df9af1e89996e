"""`python -m cnnsweep [run] [overrides]` and `python -m cnnsweep compare DIR…`: the same words
as the `cnnsweep` command."""

import sys

from cnnsweep.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], program="python -m cnnsweep"))

"""The `cnnsweep` command: `cnnsweep compare DIR... [--by KEY ...] [--metric M] [--out DIR]`."""

from __future__ import annotations

import argparse
import sys

from cnnsweep.report import UnknownMetricError, compare
from cnnsweep.results import NoRunsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cnnsweep", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    cmp = commands.add_parser("compare", help="compare the runs of one or more sweep folders")
    cmp.add_argument("dirs", nargs="+", help="sweep folders, run folders, or trees of them")
    cmp.add_argument("--by", nargs="+", metavar="KEY",
                     help="keys to compare (default: the keys that vary across runs)")
    cmp.add_argument("--metric", default="test_acc", help="summary metric to rank by")
    cmp.add_argument("--out", help="folder for the report (default: the first DIR)")
    cmp.add_argument("--smooth", type=int, default=11,
                     help="loss smoothing window in iterations (1: none)")
    args = parser.parse_args(argv)
    try:
        report = compare(args.dirs, by=args.by, metric=args.metric, out=args.out,
                         smooth_window=args.smooth)
    except (NoRunsError, UnknownMetricError, KeyError) as exc:
        print(f"cnnsweep compare: {exc}", file=sys.stderr)
        return 2
    print(f"report: {report}")
    print(f"markdown: {report.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `cnnsweep` command: `cnnsweep compare DIR... [--by KEY ...] [--metric M] [--out DIR]`."""

from __future__ import annotations

import argparse
import sys

from cnnsweep.plots import FIGURES
from cnnsweep.report import UnknownMetricError, compare
from cnnsweep.results import NoRunsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cnnsweep", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    cmp = commands.add_parser("compare", help="compare the runs of one or more sweep folders")
    cmp.add_argument("dirs", nargs="+", help="sweep folders, run folders, or trees of them")
    cmp.add_argument("--by", nargs="+", metavar="KEY",
                     help="keys to compare (default: the keys that vary across runs)")
    cmp.add_argument("--metric", help="summary metric to rank by (default: test_acc)")
    cmp.add_argument("--out", help="folder for the report (default: the first DIR)")
    cmp.add_argument("--figures", nargs="+", metavar="TYPE",
                     help=f"figure types to draw: {', '.join(FIGURES)}")
    cmp.add_argument("--smooth", type=int, help="loss smoothing window in iterations (1: none)")
    cmp.add_argument("--panels", metavar="KEY", help="key whose values split curves into panels")
    cmp.add_argument("--top", type=int, help="top_curves: how many of the best runs")
    args = parser.parse_args(argv)
    try:
        report = compare(args.dirs, by=args.by, metric=args.metric, out=args.out,
                         figures=args.figures, smooth=args.smooth, panels=args.panels,
                         top=args.top)
    except (NoRunsError, UnknownMetricError, KeyError, ValueError) as exc:
        print(f"cnnsweep compare: {exc}", file=sys.stderr)
        return 2
    print(f"report: {report}")
    print(f"markdown: {report.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

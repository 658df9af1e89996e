"""The `cnnsweep` command: `cnnsweep run [overrides]` trains (one run, or a sweep with -m) with
the shipped configs; `cnnsweep compare DIR... [--by KEY ...] [--metric M] [--out DIR]` compares."""

from __future__ import annotations

import argparse
import sys

from cnnsweep.helper import start_helper


def parser(figures: list[str]) -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="cnnsweep", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)
    commands.add_parser("run", add_help=False,
                        help="one run or a sweep (-m) with Hydra overrides, as `python run.py`")
    cmp = commands.add_parser(
        "compare", help="compare the runs of one or more sweep folders",
        description="Compare runs: runs.csv, settings.csv/.tex, figures and a report. With the "
                    "sweep's own options the report goes into the sweep folder; with others "
                    "into <DIR>/compare/<options>/ (or --out).")
    cmp.add_argument("dirs", nargs="+", help="sweep folders, run folders, or trees of them")
    cmp.add_argument("--by", nargs="+", metavar="KEY",
                     help="keys to compare (default: the keys that vary across runs)")
    cmp.add_argument("--metric", help="summary metric to rank by (default: test_acc)")
    cmp.add_argument("--out", help="folder for the report (default: see above)")
    cmp.add_argument("--figures", nargs="+", metavar="TYPE",
                     help=f"figure types to draw: {', '.join(figures)}")
    cmp.add_argument("--smooth", type=int, help="loss smoothing window in iterations (1: none)")
    cmp.add_argument("--panels", metavar="KEY", help="key whose values split curves into panels")
    cmp.add_argument("--top", type=int, help="top_curves: how many of the best runs")
    cmp.add_argument("--formats", nargs="+", metavar="FORMAT",
                     help="figure files besides png: pdf (default), svg")
    cmp.add_argument("--size", choices=["column", "page"],
                     help="paper width the figures are drawn for: column (3.3 in) or page "
                          "(7 in, the default); fonts at least 7 pt")
    cmp.add_argument("--pool-sweeps", action="store_true", default=None,
                     help="runs of one setting from several folders count as repeats, instead "
                          "of the sweep becoming a compared key")
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["run"]:  # everything after `run` is Hydra's (overrides, -m, --cfg, …)
        from cnnsweep.app import run

        return run(argv[1:])
    helper = start_helper()  # before the imports below, so that its own imports overlap them
    try:
        from cnnsweep.plots import FIGURES
        from cnnsweep.report import UnknownMetricError, compare
        from cnnsweep.results import NoRunsError

        args = parser(list(FIGURES)).parse_args(argv)
        try:
            report = compare(args.dirs, by=args.by, metric=args.metric, out=args.out,
                             figures=args.figures, smooth=args.smooth, panels=args.panels,
                             top=args.top, pool_sweeps=args.pool_sweeps, formats=args.formats,
                             size=args.size,
                             helper=helper)
        except (NoRunsError, UnknownMetricError, KeyError, ValueError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            print(f"cnnsweep compare: {message}", file=sys.stderr)
            return 2
        print(f"report: {report}")
        print(f"markdown: {report.with_suffix('.md')}")
        return 0
    finally:
        if helper is not None:
            helper.terminate()


if __name__ == "__main__":
    sys.exit(main())

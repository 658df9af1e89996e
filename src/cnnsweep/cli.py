"""The `cnnsweep` command: `cnnsweep run [overrides]` trains (one run, or a sweep with -m) with
the shipped configs; `cnnsweep compare DIR... [--by KEY ...] [--metric M] [--out DIR]` compares;
`cnnsweep reproduce [--quick]` runs every sweep of the book and writes one document.

`python -m cnnsweep` and the checkout's `python run.py` take the same words (`main` serves all
three): `run` may be left out, `compare` compares."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cnnsweep.claims import claims_do_not_hold
from cnnsweep.compare_options import DEFAULT_METRIC
from cnnsweep.entrypoint import shown_program
from cnnsweep.exitcodes import ExitCode
from cnnsweep.helper import start_helper


def parser(figures: list[str], program: str = "cnnsweep") -> argparse.ArgumentParser:
    """`compare`'s options (a run's are Hydra's: `program --help`)."""
    cmp = argparse.ArgumentParser(
        prog=f"{program} compare",
        description="Compare runs: runs.csv, settings.csv/.tex, figures and a report. With the "
                    "sweep's own options the report goes into the sweep folder; with others "
                    "into <DIR>/compare/<options>/ (or --out).")
    cmp.add_argument("dirs", nargs="+", help="sweep folders, run folders, or trees of them")
    cmp.add_argument("--by", nargs="+", metavar="KEY",
                     help="keys to compare (default: the keys that vary across runs)")
    cmp.add_argument("--metric", help=f"summary metric to rank by (default: {DEFAULT_METRIC})")
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
    return cmp


def main(argv: list[str] | None = None, program: str = "cnnsweep",
         config_path: Path | None = None) -> int:
    """`program compare …` compares; anything else is a run or sweep (`program [run] …`), on
    `config_path` (default: the shipped configs)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["reproduce"]:
        from cnnsweep.reproduce import main as reproduce

        # Each sweep is launched the way this command was started (run.py: this checkout).
        runner = [sys.executable, program] if program.endswith(".py") else None
        return reproduce(argv[1:], shown_program(program), runner)
    if argv[:1] != ["compare"]:  # everything after `run` is Hydra's (overrides, -m, --cfg, …)
        from cnnsweep.app import run

        words = argv[1:] if argv[:1] == ["run"] else argv
        return run(words, program=f"{program} run" if program == "cnnsweep" else program,
                   config_path=config_path)
    argv = argv[1:]
    helper = start_helper()  # before the imports below, so that its own imports overlap them
    try:
        from cnnsweep.plots import FIGURES
        from cnnsweep.report import UnknownMetricError, compare
        from cnnsweep.results import NoRunsError

        args = parser(list(FIGURES), shown_program(program)).parse_args(argv)
        try:
            report = compare(args.dirs, by=args.by, metric=args.metric, out=args.out,
                             figures=args.figures, smooth=args.smooth, panels=args.panels,
                             top=args.top, pool_sweeps=args.pool_sweeps, formats=args.formats,
                             size=args.size,
                             helper=helper)
        except (NoRunsError, UnknownMetricError, KeyError, ValueError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            print(f"cnnsweep compare: {message}", file=sys.stderr)
            return ExitCode.BAD_SETUP
        print(f"report: {report}")
        print(f"markdown: {report.with_suffix('.md')}")
        return ExitCode.CLAIMS_FAILED if claims_do_not_hold(report.parent) else ExitCode.OK
    finally:
        if helper is not None:
            helper.terminate()


if __name__ == "__main__":
    sys.exit(main())

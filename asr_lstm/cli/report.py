"""``asr-lstm report``: write a recipe's RESULTS.md from its experiment folders; without
``--data-dir``, only draw each run's ``curves.png`` again from its CSV logs."""

from __future__ import annotations

import argparse
from pathlib import Path

from asr_lstm.pictures.curves import draw_curves
from asr_lstm.report import unfinished_runs, write_results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="asr-lstm report", description=__doc__)
    parser.add_argument("exp_dirs", nargs="+", type=Path, help="training run directories, decoded")
    parser.add_argument("--data-dir", type=Path, help="directory of the split manifests (for RESULTS.md)")
    parser.add_argument("--out", type=Path, default=Path("RESULTS.md"))
    parser.add_argument("--title", default="Results")
    parser.add_argument("--corpus", default="", help="one line saying which corpus was used")
    parser.add_argument("--recipe-command", default=None, help="the recipe command that produced the runs")
    parser.add_argument("--wall-time", default=None, help="one line on how long the recipe took")
    parser.add_argument(
        "--note", action="append", default=[], help="a protocol line (label set, scoring, LMs); repeatable"
    )
    args = parser.parse_args(argv)
    if args.data_dir is None:
        for exp in args.exp_dirs:
            try:
                print(f"wrote {draw_curves(exp)}")
            except FileNotFoundError as err:
                parser.error(str(err))
        return
    problems = unfinished_runs(args.exp_dirs)
    if problems:
        parser.error("; ".join(problems))
    write_results(
        args.out, args.title, args.data_dir, args.exp_dirs, args.corpus, args.recipe_command, args.wall_time, args.note
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

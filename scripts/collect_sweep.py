"""Collects a cell sweep (``asr-lstm train -m cell=lstm,peephole,... seed=1,2,3``) into one markdown
table, and with ``--figure`` into the sweep figure (error rate per cell over seeds, Greff et al. 2015).

python scripts/collect_sweep.py recipes/timit/exp/cell_sweep [--out table.md] [--figure sweep.png] [--keep DIR]

``--keep DIR`` copies each run's summary.json and config.yaml (what the table and figure are drawn
from) below DIR, so that a sweep's results outlive its run folders: ``recipes/timit/sweeps/`` holds
those of the README's cell sweep.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asr_lstm.pictures.sweep import draw_sweep
from asr_lstm.report import sweep_table
from asr_lstm.sweeps import keep_records, read_sweep


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", type=Path, help="the multirun directory (hydra.sweep.dir)")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument("--figure", type=Path, help="draw the sweep figure (dev error rates) as this PNG")
    parser.add_argument("--keep", type=Path, help="copy each run's summary.json and config.yaml below this folder")
    args = parser.parse_args(argv)
    try:
        table = "\n".join(sweep_table(args.sweep_dir)) + "\n"
    except (FileNotFoundError, ValueError) as err:  # no finished run; runs of different metrics
        parser.error(str(err))
    print(table, end="")
    if args.out:
        args.out.write_text(table, encoding="utf-8")
    if args.figure:
        print(f"wrote {draw_sweep(read_sweep(args.sweep_dir), args.figure)}")
    if args.keep:
        print(f"kept the records of {len(keep_records(args.sweep_dir, args.keep))} runs below {args.keep}")


if __name__ == "__main__":
    main()

"""Collects a cell sweep (``asr-lstm train -m cell=lstm,peephole,...``) into one markdown table.

python scripts/collect_sweep.py recipes/timit/exp/cell_sweep [--out table.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asr_lstm.report import sweep_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", type=Path, help="the multirun directory (hydra.sweep.dir)")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    table = "\n".join(sweep_table(args.sweep_dir)) + "\n"
    print(table, end="")
    if args.out:
        args.out.write_text(table)


if __name__ == "__main__":
    main()

"""Peak resident memory and batches/s of the data module's training batches for a corpus of N and 10N
utterances, read from the memory-mapped feature store and, side by side in the same run, from the
whole split loaded into memory first (as the store did before it was memory-mapped).

    python scripts/bench_data.py                 # N = 400 utterances of 3 s (123-dim fbank frames)
    python scripts/bench_data.py --n 1000 --frames 500

Each measurement runs in a fresh process (peak RSS is per process), one after the other.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from asr_lstm.arguments import positive_int
from asr_lstm.data.cmvn import Normalizer
from asr_lstm.data.datamodule import UtteranceDataset, collate
from asr_lstm.data.feature_store import load_split, write_split
from asr_lstm.data.sampler import BucketBatchSampler

DIM = 123


def generate(base: Path, n: int, frames: int) -> None:
    """``n`` utterances of about ``frames`` random frames each, written to the store."""
    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(frames // 2, frames * 3 // 2, (n,), generator=generator).tolist()
    write_split(((f"u{k}", torch.randn(t, DIM, generator=generator)) for k, t in enumerate(lengths)), base)


def measure(base: Path, store: str, batch_size: int) -> dict:
    """One epoch of training batches; returns peak RSS (MiB) and batches/s."""
    start = time.perf_counter()
    feats = load_split(base)
    if store == "in-memory":
        feats = InMemory({utt: feats[utt] for utt in feats})
    rows = [{"id": utt} for utt in feats]
    dataset = UtteranceDataset(rows, feats, {r["id"]: [1] for r in rows}, Normalizer("none", None))
    sampler = BucketBatchSampler([dataset.num_frames(i) for i in range(len(dataset))], batch_size, shuffle=True)
    batches = sum(1 for _ in torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=collate))
    seconds = time.perf_counter() - start
    return {"rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "batches_per_s": batches / seconds}


class InMemory(dict):
    """A whole split as ``{id: tensor}``, with the store's ``length``."""

    def length(self, utt: str) -> int:
        return self[utt].shape[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--n", type=positive_int, default=400, help="utterances of the small corpus (the large one has 10x)"
    )
    parser.add_argument("--frames", type=positive_int, default=300, help="mean frames an utterance (100 a second)")
    parser.add_argument("--batch-size", type=positive_int, default=16)
    parser.add_argument("--measure", nargs=2, metavar=("BASE", "STORE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.measure:
        print(json.dumps(measure(Path(args.measure[0]), args.measure[1], args.batch_size)))
        return
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (args.n, 10 * args.n):
            base = Path(tmp) / f"train{n}"
            generate(base, n, args.frames)
            for store in ("memory-mapped", "in-memory"):
                out = subprocess.run([sys.executable, __file__, "--measure", str(base), store, "--batch-size",
                                      str(args.batch_size)], capture_output=True, text=True, check=True)  # fmt: skip
                results[n, store] = json.loads(out.stdout)
    gib = 10 * args.n * args.frames * DIM * 4 / 2**30
    print(f"{args.n} and {10 * args.n} utterances of ~{args.frames} frames x {DIM} (the large split: {gib:.2f} GiB)")
    print("| store | N: peak RSS MiB | 10N: peak RSS MiB | growth | N: batches/s | 10N: batches/s |")
    print("|---|---|---|---|---|---|")
    for store in ("memory-mapped", "in-memory"):
        small, large = results[args.n, store], results[10 * args.n, store]
        growth = 100 * (large["rss_mib"] / small["rss_mib"] - 1)
        print(f"| {store} | {small['rss_mib']:.0f} | {large['rss_mib']:.0f} | {growth:+.0f} % | "
              f"{small['batches_per_s']:.0f} | {large['batches_per_s']:.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()

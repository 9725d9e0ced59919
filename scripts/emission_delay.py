"""When a model emits each phone, against TIMIT's reference segmentation (the ``.PHN`` beside each
audio file of a prepared manifest): for every label of a model's greedy hypothesis that the
edit-distance alignment pairs with the same reference phone, the start of the output frame where
the label's run begins (when ``asr-lstm stream`` prints it, before the model's lookahead and the
chunk) minus the phone's start, and minus its end. Prints the quartiles per model: how much later a
forward-only model emits than a bidirectional one, which sees the frames after the phone.

    python scripts/emission_delay.py data/timit/test.jsonl bidirectional.asrlstm forward.asrlstm
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import soundfile as sf

from asr_lstm import load
from asr_lstm.data.corpora.timit import read_phn
from asr_lstm.data.manifest import read_manifest
from asr_lstm.data.phones import timit_phone_map
from asr_lstm.decoding import label_starts
from asr_lstm.metrics import align
from asr_lstm.recognizer import Recognizer


def delays(recognizer: Recognizer, rows: list[dict]) -> tuple[list[float], list[float], int]:
    """Seconds from each matched phone's start and from its end to its emission, and the reference
    phones in all."""
    known = set(timit_phone_map().phones61)
    utterances = [recognizer.read(row["audio"], row["id"]) for row in rows]
    after_start, after_end, phones = [], [], 0
    for row, posteriors in zip(rows, recognizer.posteriors(utterances)):
        audio = Path(row["audio"])
        info = sf.info(str(audio))
        rate = info.samplerate
        segments = read_phn(audio.with_suffix(".PHN"), info.frames, known)
        emitted = label_starts(posteriors.argmax(dim=1).tolist())
        phones += len(segments)
        pairs = align([label for _, _, label in segments], [recognizer.tokens[label] for _, label in emitted])
        i = j = 0  # the reference phone and the emitted label each pair reaches
        for ref, hyp in pairs:
            if ref is not None and ref == hyp:
                start, end, _ = segments[i]
                at = emitted[j][0] * recognizer.frame_shift_s
                after_start.append(at - start / rate)
                after_end.append(at - end / rate)
            i, j = i + (ref is not None), j + (hyp is not None)
    return after_start, after_end, phones


def quartiles(values: list[float]) -> str:
    q1, median, q3 = statistics.quantiles(values, n=4)
    return f"median {1000 * median:+.0f} ms (quartiles {1000 * q1:+.0f}, {1000 * q3:+.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", help="a prepared TIMIT manifest (.jsonl) whose audio has its .PHN beside it")
    parser.add_argument("models", nargs="+", help="exported .asrlstm models of 61 TIMIT phones")
    args = parser.parse_args()
    rows = read_manifest(args.manifest)
    for model in args.models:
        recognizer = load(model)
        after_start, after_end, phones = delays(recognizer, rows)
        layers = "bidirectional" if recognizer.net.encoder.directions == 2 else "forward-only"
        print(f"{model} ({layers}): {len(after_start)} of {phones} reference phones matched")
        print(f"  emitted after the phone's start: {quartiles(after_start)}")
        print(f"  emitted after the phone's end:   {quartiles(after_end)}")


if __name__ == "__main__":
    main()

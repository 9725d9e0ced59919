"""When a model emits each phone, against TIMIT's reference segmentation (the ``.PHN`` beside each
audio file of a prepared manifest): for every label of a model's greedy hypothesis that the
edit-distance alignment pairs with the same reference phone, the start of the output frame where
the label's run begins minus the phone's start, and minus its end; and when ``asr-lstm stream``
prints it (the audio its output frame needs, :func:`asr_lstm.streaming.samples_before_output`, before
the chunk) minus the phone's start. Prints the quartiles per model: how much later a forward-only
model emits than a bidirectional one, which sees the frames after the phone, and how much later a
latency-controlled model's stream prints than a forward-only one's.

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
from asr_lstm.streaming import samples_before_output


def delays(recognizer: Recognizer, rows: list[dict]) -> tuple[list[float], list[float], list[float], int]:
    """Seconds from each matched phone's start and from its end to its emission, from its start to a
    stream's printing it (a bidirectional model's: at the input's end), and the reference phones in all."""
    known = set(timit_phone_map().phones61)
    utterances = [recognizer.read(row["audio"], row["id"]) for row in rows]
    after_start, after_end, printed, phones = [], [], [], 0
    for row, posteriors in zip(rows, recognizer.posteriors(utterances)):
        audio = Path(row["audio"])
        info = sf.info(str(audio))
        rate = info.samplerate
        segments = read_phn(audio.with_suffix(".PHN"), info.frames, known)
        emitted = label_starts(posteriors.argmax(dim=1).tolist())
        needed = samples_before_output(recognizer, info.frames)
        phones += len(segments)
        pairs = align([label for _, _, label in segments], [recognizer.tokens[label] for _, label in emitted])
        i = j = 0  # the reference phone and the emitted label each pair reaches
        for ref, hyp in pairs:
            if ref is not None and ref == hyp:
                start, end, _ = segments[i]
                at = emitted[j][0] * recognizer.frame_shift_s
                after_start.append(at - start / rate)
                after_end.append(at - end / rate)
                printed.append((needed[emitted[j][0]] - start) / rate)
            i, j = i + (ref is not None), j + (hyp is not None)
    return after_start, after_end, printed, phones


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
        after_start, after_end, printed, phones = delays(recognizer, rows)
        encoder = recognizer.net.encoder
        layers = "bidirectional" if encoder.directions == 2 else "forward-only"
        if encoder.chunk is not None:
            layers += f", latency-controlled {encoder.chunk}+{encoder.right_context}"
        print(f"{model} ({layers}): {len(after_start)} of {phones} reference phones matched")
        print(f"  emitted after the phone's start: {quartiles(after_start)}")
        print(f"  emitted after the phone's end:   {quartiles(after_end)}")
        print(f"  printed by a stream after the phone's start: {quartiles(printed)}")


if __name__ == "__main__":
    main()

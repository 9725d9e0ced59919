"""``asr-lstm stream MODEL [INPUT]``: recognise audio while it arrives, with a forward-only model
(``model.bidirectional=false``) or a latency-controlled one (``model.chunk_frames``), with frame
stacking and global or no CMVN (:mod:`asr_lstm.streaming`).

INPUT is ``-`` (the default) for raw 16-bit little-endian mono PCM on standard input at the model's
sample rate, as ``arecord -t raw -f S16_LE -c 1 -r 16000`` or ``sox ... -t raw -e signed -b 16 -c 1 -r 16000 -``
write it, or an audio file soundfile reads (WAV, FLAC, ...) at that rate, read a chunk at a time.
Each label is printed as soon as the frames that decide it are in: on one line, space-separated, the
line ended with the input; with ``--times``, one ``time<TAB>label`` line each, the time (seconds) of
the output frame where the label began. The labels are those ``asr-lstm decode`` prints with
``--tokens`` for the whole input. With a beam search (``--beam-size``, ``--lm``, ``--lexicon``: the
options of ``asr-lstm decode``) the search runs as the audio arrives but decides its labels when the
input ends, and prints them then.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from asr_lstm.cli.decode import model_and_search
from asr_lstm.decoding.beam import BeamSearch
from asr_lstm.decoding.options import add_search_options, search_from_args
from asr_lstm.devices import resolve_device
from asr_lstm.streaming import StreamingError, StreamingRecognizer

PCM_SCALE = 32768.0


def positive_ms(text: str) -> float:
    """Milliseconds of audio a chunk holds: a number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of milliseconds") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be above 0 and finite, got {text}")
    return value


def pcm_chunks(stream, samples: int) -> Iterator[torch.Tensor]:
    """``(N,)`` float samples in [-1, 1] of raw 16-bit little-endian PCM read ``samples`` at a time (the
    last chunk shorter; an odd final byte dropped)."""
    left = b""
    while data := stream.read(2 * samples - len(left)):
        data, left = left + data, b""
        if len(data) % 2:
            data, left = data[:-1], data[-1:]
        if data:
            yield torch.from_numpy(np.frombuffer(data, dtype="<i2").astype(np.float32) / PCM_SCALE)


def file_chunks(path: Path, samples: int, rate: int) -> Iterator[torch.Tensor]:
    """``(N,)`` mono samples of an audio file at ``rate`` Hz, ``samples`` at a time (channels averaged).

    Raises:
        StreamingError: the file cannot be read or has another sample rate, naming it.
    """
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as err:
        raise StreamingError(f"{path}: cannot read audio ({err})") from None
    if info.samplerate != rate:
        raise StreamingError(
            f"{path}: {info.samplerate} Hz audio; a stream must come at the model's {rate} Hz "
            f"(sox {path} -r {rate} OUT.wav resamples it)"
        )
    try:
        for block in sf.blocks(str(path), blocksize=samples, dtype="float32", always_2d=True):
            yield torch.from_numpy(block.mean(axis=1))
    except sf.LibsndfileError as err:  # damaged after its header
        raise StreamingError(f"{path}: cannot read audio ({err})") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="asr-lstm stream", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "model", help="an exported .asrlstm model file of a forward-only or latency-controlled audio model"
    )
    parser.add_argument("input", nargs="?", default="-", help="an audio file, or - for raw 16-bit PCM on stdin")
    parser.add_argument("--chunk-ms", type=positive_ms, default=100.0, help="audio read at a time (default 100)")
    parser.add_argument("--times", action="store_true", help="one 'time<TAB>label' line per label")
    parser.add_argument("--device", default="auto", help="auto (CUDA when visible), cpu, cuda or cuda:N")
    add_search_options(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        device = resolve_device(args.device)
        search_config = search_from_args(args)
    except ValueError as err:
        parser.error(str(err))
    if args.times and search_config.kind != "greedy":
        parser.error("--times needs the greedy search: a beam search decides its labels when the input ends")
    if args.input != "-" and not Path(args.input).is_file():
        parser.error(f"{args.input}: no such file")
    recognizer, search = model_and_search(parser, args.model, device, search_config)
    try:
        stream = StreamingRecognizer(recognizer, search if isinstance(search, BeamSearch) else None)
    except StreamingError as err:
        print(f"asr-lstm stream: {err}", file=sys.stderr)
        sys.exit(2)
    features = recognizer.features
    if features.input.from_samples is None:
        print(f"asr-lstm stream: {args.model} reads {features.kind}, not audio: feed its frames to "
              "asr_lstm.streaming.StreamingRecognizer.accept_frames", file=sys.stderr)  # fmt: skip
        sys.exit(2)
    samples = max(1, round(features.sample_rate * args.chunk_ms / 1000))
    shift = recognizer.frame_shift_s
    printed = 0

    def show(labels: list[str]) -> None:
        nonlocal printed
        if args.times:
            for label, start in zip(labels, stream.starts[printed:]):
                print(f"{start * shift:.2f}\t{label}")
        else:
            print(*labels, end=" " if labels else "")
        printed += len(labels)
        sys.stdout.flush()

    try:
        chunks = (
            pcm_chunks(sys.stdin.buffer, samples)
            if args.input == "-"
            else file_chunks(Path(args.input), samples, features.sample_rate)
        )
        for chunk in chunks:
            show(stream.accept_waveform(chunk, features.sample_rate))
        show(stream.finish())
        if not args.times:
            print()
    except StreamingError as err:
        print(f"\nasr-lstm stream: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

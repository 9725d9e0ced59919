"""Real-time factor of decoding with an exported model: features + network + greedy CTC, CPU.

RTF = processing seconds / audio seconds, measured in one run over the given audio (or over
generated 3-second noise files when none is given), for greedy search and for beam search (with
``--lm``, a token ARPA LM); with ``--onnx`` also greedy search with the network run by onnxruntime
from an ONNX export of the same model; with ``--stream MS`` (a forward-only or latency-controlled
model) also greedy recognition of each file fed in chunks of MS milliseconds
(:mod:`asr_lstm.streaming`), with the longest time a chunk took: what streaming adds to the chunk's
own latency. Without ``--model`` a 5 x 250 BLSTM (Graves et al. 2013 size, no subsampling, random
weights: speed does not depend on their values) is used, forward-only under ``--stream``, or
latency-controlled with ``--latency N_C N_R``.

    python scripts/bench_decode.py [--model model.asrlstm] [--threads 2] [--onnx] [--stream 100]
        [--latency 40 20] [AUDIO ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from asr_lstm import load
from asr_lstm.arguments import positive_int
from asr_lstm.data.audio import load_audio
from asr_lstm.data.features import FeatureConfig
from asr_lstm.data.phones import timit_phone_map
from asr_lstm.data.tokens import Vocabulary
from asr_lstm.decoding import greedy_decode
from asr_lstm.decoding.beam import BeamSearch
from asr_lstm.recognizer import Recognizer
from asr_lstm.streaming import StreamingRecognizer


def graves_size_recognizer(bidirectional: bool, latency: list[int] | None = None) -> Recognizer:
    features = FeatureConfig()
    tokens = Vocabulary(timit_phone_map().phones61).tokens
    model = {
        "input_size": features.dim,
        "num_classes": len(tokens),
        "hidden_size": 250,
        "num_layers": 5,
        "dropout": 0.0,
        "stack": 1,
        "stride": 1,
        "bidirectional": bidirectional,
        **({"chunk_frames": latency[0], "right_context_frames": latency[1]} if latency else {}),
    }
    cell = {"name": "lstm"}
    net = Recognizer.build_net(model, cell)
    return Recognizer(net, model, cell, tokens, features, torch.zeros(features.dim), torch.ones(features.dim))


def onnxruntime_log_probs(recognizer: Recognizer, path: Path, threads: int):
    """``recognizer.log_probs`` with the network exported to ONNX and run by onnxruntime."""
    import onnxruntime

    from asr_lstm.onnx_export import OUTPUT_NAMES, export_onnx

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(
        str(export_onnx(recognizer, path)), options, providers=["CPUExecutionProvider"]
    )

    def log_probs(feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        x, lens = recognizer.pad(feats)
        out, out_lens = session.run(OUTPUT_NAMES, {"features": x.numpy(), "lengths": lens.numpy()})
        return torch.from_numpy(out), torch.from_numpy(out_lens)

    return log_probs


def time_streams(recognizer: Recognizer, audio: list[tuple[torch.Tensor, int]], chunk_ms: float) -> tuple[float, float]:
    """Seconds to recognise every waveform fed in chunks of ``chunk_ms``, and the longest a chunk took."""
    total, longest = 0.0, 0.0
    for waveform, rate in audio:
        stream = StreamingRecognizer(recognizer)
        size = round(rate * chunk_ms / 1000)
        for k in range(0, len(waveform) + 1, size):
            start = time.perf_counter()
            if k < len(waveform):
                stream.accept_waveform(waveform[k : k + size], rate)
            else:
                stream.finish()
            elapsed = time.perf_counter() - start
            total, longest = total + elapsed, max(longest, elapsed)
    return total, longest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("audio", nargs="*", help="audio files (default: 20 generated 3-second files)")
    parser.add_argument("--model", help="an exported .asrlstm file (default: a random 5 x 250 BLSTM)")
    parser.add_argument("--threads", type=positive_int, default=2)
    parser.add_argument("--batch-size", type=positive_int, default=8)
    parser.add_argument("--beam-size", type=positive_int, default=16)
    parser.add_argument("--lm", help="token ARPA LM for the beam search (python -m asr_lstm.lm)")
    parser.add_argument("--onnx", action="store_true", help="also time greedy decoding with the network in onnxruntime")
    parser.add_argument("--stream", type=float, metavar="MS", help="also time streaming in chunks of MS ms")
    parser.add_argument(
        "--latency", type=int, nargs=2, metavar=("N_C", "N_R"), help="the default model latency-controlled"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.model:
        recognizer = load(args.model)
    else:
        recognizer = graves_size_recognizer(args.stream is None or args.latency is not None, args.latency)
    with tempfile.TemporaryDirectory() as tmp:
        files = [Path(p) for p in args.audio]
        if not files:
            rng = np.random.default_rng(0)
            for k in range(20):
                files.append(Path(tmp) / f"noise{k}.wav")
                sf.write(str(files[-1]), (0.1 * rng.standard_normal(48000)).astype(np.float32), 16000)
        audio = [load_audio(str(f)) for f in files]
        seconds = sum(len(w) / rate for w, rate in audio)
        beam = BeamSearch(recognizer.tokens, args.lm, args.beam_size)
        runs = {
            "greedy": (recognizer.log_probs, greedy_decode),
            f"beam {args.beam_size}" + (" + LM" if args.lm else ""): (recognizer.log_probs, beam),
        }
        if args.onnx:
            runs["greedy, network in onnxruntime"] = (
                onnxruntime_log_probs(recognizer, Path(tmp) / "model.onnx", args.threads),
                greedy_decode,
            )
        timings = {}
        for name, (network, search) in runs.items():
            start = time.perf_counter()
            for k in range(0, len(audio), args.batch_size):
                feats = [recognizer.featurise(w, rate) for w, rate in audio[k : k + args.batch_size]]
                search(*network(feats))
            timings[name] = time.perf_counter() - start
        if args.stream is not None:
            timings[f"greedy, streamed in {args.stream:g} ms chunks"], longest = time_streams(
                recognizer, audio, args.stream
            )
    params = sum(p.numel() for p in recognizer.net.parameters())
    encoder = recognizer.net.encoder
    layers = "bidirectional" if encoder.directions == 2 else "forward-only"
    if encoder.chunk is not None:
        layers += f" latency-controlled {encoder.chunk}+{encoder.right_context}"
    print(
        f"model: {encoder.hidden_size} units x {len(encoder.forward_layers)} {layers} layers, "
        f"{params:,} parameters, cell {recognizer.cell_options['name']}; {args.threads} CPU threads; {len(audio)} files, {seconds:.1f} s of audio"
    )
    for name, elapsed in timings.items():
        print(f"{name}: {elapsed:.2f} s, RTF {elapsed / seconds:.4f}")
    if args.stream is not None:
        print(f"longest chunk: {1000 * longest:.1f} ms of processing for {args.stream:g} ms of audio")


if __name__ == "__main__":
    main()

"""``asr-lstm export RUN_DIR_OR_CKPT -o model.asrlstm [--onnx model.onnx] [--onnx-stream stream.onnx]``:
model files from a run.

A run directory exports its ``checkpoints/best.ckpt``; a ``.ckpt`` path exports that checkpoint of
the run two folders above it. The run's ``config.yaml``, vocabulary and training-set CMVN statistics
go into the file (see :mod:`asr_lstm.export`). ``--onnx`` also writes the acoustic model as ONNX and
checks it with onnxruntime; ``--onnx-stream`` writes a forward-only model's streaming graph (a chunk
of stacked frames and the layers' states in, log-probs and the states out), or a latency-controlled
model's window graph (a chunk with its right context), checked over a stream cut into chunks (see
:mod:`asr_lstm.onnx_export`). Their source may be an ``.asrlstm`` file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asr_lstm.export import EXTENSION, load, make_package, save_package
from asr_lstm.recognizer import Recognizer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="asr-lstm export", description=__doc__)
    parser.add_argument(
        "run",
        help=f"a training run directory, a .ckpt file inside one, or (with the ONNX options only) a {EXTENSION} file",
    )
    parser.add_argument("-o", "--output", help=f"the model file to write ({EXTENSION})")
    parser.add_argument("--onnx", help="also write the acoustic model as ONNX here, checked against onnxruntime")
    parser.add_argument(
        "--onnx-stream",
        help="also write a forward-only model's streaming graph (a latency-controlled model's window graph) as ONNX "
        "here, checked chunk by chunk",
    )
    args = parser.parse_args(argv)
    if not (args.output or args.onnx or args.onnx_stream):
        parser.error("nothing to write: give -o MODEL.asrlstm, --onnx MODEL.onnx and/or --onnx-stream STREAM.onnx")
    from_model_file = Path(args.run).suffix == EXTENSION
    if from_model_file and args.output:
        parser.error(f"{args.run} is already an exported model; only --onnx and --onnx-stream apply to it")
    try:
        recognizer = load(args.run) if from_model_file else Recognizer.from_run(args.run)
    except (FileNotFoundError, ValueError) as err:  # no such run or checkpoint, a damaged file
        parser.error(str(err))
    if args.output:
        out = save_package(make_package(recognizer), args.output)
        print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB)")
    if args.onnx or args.onnx_stream:
        from asr_lstm import onnx_export

        graphs = [
            (args.onnx, onnx_export.export_onnx, onnx_export.check_onnx, "onnxruntime matches torch"),
            (args.onnx_stream, onnx_export.export_streaming_onnx, onnx_export.check_streaming_onnx,
             "onnxruntime streamed in chunks matches torch over the whole input"),
        ]  # fmt: skip
        for path, export, check, agreement in graphs:
            if not path:
                continue
            try:
                out = export(recognizer, path)
                difference = check(recognizer, out)
            except onnx_export.OnnxExportError as err:
                raise SystemExit(f"asr-lstm export: {err}") from None
            print(
                f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB); {agreement}: max |log-prob difference| {difference:.1e}"
            )


if __name__ == "__main__":
    main()

"""``asr-lstm``: one console script, one subcommand per job."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

COMMANDS = {
    "train": ("asr_lstm.cli.train", "train a model (Hydra overrides follow: data=timit model.num_layers=5 ...)"),
    "prepare": ("asr_lstm.cli.prepare", "prepare manifests and features only (same Hydra overrides as train)"),
    "evaluate": ("asr_lstm.cli.evaluate", "decode a run's prepared dev/test splits and score them"),
    "export": ("asr_lstm.cli.export", "write a training run as one self-contained .asrlstm model file"),
    "decode": ("asr_lstm.cli.decode", "decode audio files with an exported model (text, JSON lines, CTM)"),
    "stream": (
        "asr_lstm.cli.stream",
        "recognise audio while it arrives (a forward-only or latency-controlled model; stdin or a file)",
    ),
    "score": ("asr_lstm.cli.score", "score a hypothesis file against a reference file"),
    "report": ("asr_lstm.cli.report", "write a recipe's RESULTS.md from its experiment folders"),
}


def usage() -> str:
    lines = ["usage: asr-lstm <command> [args]", "", "commands:"]
    lines += [f"  {name:<8} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        sys.exit(0 if argv else 2)
    if argv[0] not in COMMANDS:
        print(f"asr-lstm: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        sys.exit(2)
    name = COMMANDS[argv[0]][0]
    module = importlib.import_module(name)
    sys.argv = [f"asr-lstm {argv[0]}", *argv[1:]]
    # Lightning's DDP launcher starts the other processes of a node as `python -m <__main__'s module>
    # <sys.argv[1:]>`: name the subcommand's module, which runs by itself (`python -m asr_lstm.cli.train`)
    sys.modules["__main__"].__spec__ = importlib.util.find_spec(name)
    try:
        try:
            module.main()
        finally:
            sys.stdout.flush()  # here rather than at exit, where a reader that left could not be caught
    except BrokenPipeError:  # the reader of the output left (| head, | grep -m 1): end quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        sys.exit(1)


if __name__ == "__main__":
    main()

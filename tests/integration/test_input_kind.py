"""A new input kind is one entry of the input table and its reader: this module adds a toy kind
(text files of numbers, one frame a line) and a corpus of it, then trains, evaluates, exports and
decodes it without any other module knowing of it."""

import random
from pathlib import Path

import pytest
import torch
from omegaconf import open_dict

from asr_lstm.cli import decode as decode_cli
from asr_lstm.cli.evaluate import main as evaluate_main
from asr_lstm.cli.train import run
from asr_lstm.data.corpora.base import Corpus
from asr_lstm.data.inputs import INPUT_KINDS, InputKind, register
from asr_lstm.data.tokens import Vocabulary
from asr_lstm.errors import InputFileError
from asr_lstm.export import make_package, save_package
from asr_lstm.recognizer import Recognizer
from asr_lstm.scoring import read_transcripts
from tests.conftest import FAST, compose_train

LABELS = ["lo", "hi"]
DIM = 3


def read_numbers(path: Path, cfg) -> tuple[torch.Tensor, torch.Tensor]:
    """``(T, 3)`` frames of a ``.nums`` file and their positions: one frame per line, a line per time step."""
    try:
        frames = torch.tensor(
            [[float(v) for v in line.split()] for line in path.read_text(encoding="utf-8").splitlines()]
        )
    except (OSError, ValueError) as err:
        raise InputFileError(f"{path}: not a numbers file ({err})") from None
    return frames, torch.arange(len(frames) + 1, dtype=torch.float64)


TOY = InputKind(
    "numbers", "numbers", frozenset({".nums"}), read_numbers, base_dim=lambda cfg: DIM, bands=lambda cfg: None,
    unit="s", frame_shift_s=lambda cfg: 1.0,
)  # fmt: skip


class NumbersCorpus(Corpus):
    """Utterances of ``lo`` and ``hi`` labels, each a block of frames around -1 or +1."""

    def __init__(self, root: str):
        self.root = Path(root)

    def write(self, split: str, count: int, rng: random.Random) -> list[dict]:
        rows = []
        for k in range(count):
            labels = [rng.choice(LABELS) for _ in range(rng.randint(1, 3))]
            lines = [" ".join(f"{(1 if label == 'hi' else -1) + rng.gauss(0, 0.1):.3f}" for _ in range(DIM))
                     for label in labels for _ in range(6)]  # fmt: skip
            path = self.root / f"{split}{k}.nums"
            path.write_text("\n".join(lines) + "\n")
            rows.append({"id": f"{split}{k}", "numbers": str(path), "phones": labels, "speaker": f"s{k % 2}"})
        return rows

    def split_rows(self) -> dict[str, list[dict]]:
        self.root.mkdir(parents=True, exist_ok=True)
        rng = random.Random(0)
        return {split: self.write(split, count, rng) for split, count in (("train", 8), ("dev", 4), ("test", 4))}

    def vocabulary(self) -> Vocabulary:
        return Vocabulary(LABELS)

    def params(self) -> dict:
        return {"corpus": "numbers", "root": str(self.root)}


@pytest.fixture
def numbers_kind():
    register(TOY)
    yield TOY
    del INPUT_KINDS[TOY.name]


def test_a_new_input_kind_trains_evaluates_exports_and_decodes(numbers_kind, tmp_path, capsys):
    cfg = compose_train(tmp_path / "run", [f"data.work_dir={tmp_path / 'data'}", *FAST, "trainer.max_epochs=2",
                                           "features.kind=numbers", "features.delta_order=1"])  # fmt: skip
    with open_dict(cfg):
        cfg.data.corpus = {"_target_": f"{__name__}.NumbersCorpus", "root": str(tmp_path / "corpus")}
    summary = run(cfg)
    assert summary["parameters"] > 0 and summary["metric"] == "per"
    evaluate_main([str(tmp_path / "run"), "--splits", "test"])
    expected = read_transcripts(tmp_path / "run/decode_test/hyp.txt")
    model = save_package(make_package(Recognizer.from_run(tmp_path / "run")), tmp_path / "numbers.asrlstm")
    (tmp_path / "corpus/notes.txt").write_text("not an input")
    capsys.readouterr()
    decode_cli.main([str(model), str(tmp_path / "corpus"), "--tokens"])  # a directory: found by the kind's suffix
    decoded = dict(line.split("\t") for line in capsys.readouterr().out.splitlines())
    assert len(decoded) == 16 and all(t in LABELS for text in decoded.values() for t in text.split())
    assert {utt: decoded[utt].split() for utt in expected} == expected

"""A character, a lexicon-phone and a BPE model each train on Kaldi data directories and decode words;
the exported BPE model prints words in a fresh process without the training code."""

import json
import subprocess
import sys

import pytest

from asr_lstm.cli.evaluate import main as evaluate_main
from asr_lstm.cli.export import main as export_main
from asr_lstm.cli.train import run
from tests.conftest import FAST, compose_train
from tests.kaldi_fixture import write_data_dir
from tests.unit.test_units import LEXICON

UNITS = {
    "char": ([], "cer", "cer"),
    "phone": (["data.units.lexicon={lexicon}"], "per", "per"),
    "bpe": (["data.units.vocab_size=22"], "wer", "ter"),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    base = tmp_path_factory.mktemp("units")
    dirs = [f"data.corpus.{s}={write_data_dir(base, s, seed=i)}" for i, s in enumerate(("train", "dev", "test"))]
    (base / "lexicon.txt").write_text(LEXICON)
    return base, dirs


@pytest.mark.parametrize("units", sorted(UNITS))
def test_a_model_of_each_unit_trains_and_is_scored_on_words(corpus, tmp_path, units):
    base, dirs = corpus
    extra, metric, token_metric = UNITS[units]
    overrides = ["data=kaldi", f"units={units}", *dirs, f"data.work_dir={tmp_path / 'data'}", *FAST]
    cfg = compose_train(tmp_path / "run", [*overrides, "trainer.max_epochs=1",
                                           *(e.format(lexicon=base / "lexicon.txt") for e in extra)])  # fmt: skip
    summary = run(cfg)
    assert summary["metric"] == metric and 0 <= summary[f"val_{metric}_best"]
    assert 0 <= summary[f"test_{token_metric}"] and 0 <= summary["test_wer"]
    labelling = json.loads((tmp_path / "data" / "labelling.json").read_text())
    assert labelling["metric"] == metric and labelling["units"]["kind"] == units
    row = json.loads((tmp_path / "data" / "train.jsonl").read_text().splitlines()[0])
    assert row["text"] == "the cat sat"
    assert row["units"] == {"char": list("the|cat|sat"), "phone": "dh ah | k ae t | s ae t".split()}.get(
        units, row["units"]
    )
    evaluate_main([str(tmp_path / "run"), "--splits", "test"])
    decoded = tmp_path / "run" / "decode_test"
    assert json.loads((decoded / "metrics.json").read_text())["metric"] == token_metric
    wer = json.loads((decoded / "wer" / "metrics.json").read_text())
    assert wer["metric"] == "wer" and wer["ref_len"] == 30  # the test split's words: 2 speakers x (3 + 4 + 4 + 4)
    assert (decoded / "wer" / "ref.txt").read_text().splitlines()[0].split("\t")[1] == "the cat sat"


# the network's output forced to one piece a frame, blanks between, so that the test checks how the
# model file's own sentencepiece model turns pieces into words, not what one epoch of training learnt
FRESH_PROCESS = """
import sys, torch
from asr_lstm.cli.decode import main
from asr_lstm.recognizer import Recognizer

def log_probs(self, feats):
    path = [i for piece in sys.argv[3].split() for i in (self.tokens.index(piece), 0)]
    probs = torch.full((len(feats), len(path), len(self.tokens)), 1e-4)
    probs[:, torch.arange(len(path)), torch.tensor(path)] = 1.0
    return (probs / probs.sum(2, keepdim=True)).log(), torch.full((len(feats),), len(path))

Recognizer.log_probs = log_probs
main(sys.argv[1:3])
assert "hydra" not in sys.modules and "pytorch_lightning" not in sys.modules, "training stack imported"
"""


def test_a_bpe_model_file_prints_words_in_a_fresh_process(corpus, tmp_path):
    from asr_lstm.data.units import Labelling

    base, dirs = corpus
    overrides = ["data=kaldi", "units=bpe", "data.units.vocab_size=22", *dirs, f"data.work_dir={tmp_path / 'data'}"]
    run(compose_train(tmp_path / "run", [*overrides, *FAST, "trainer.max_epochs=1"]))
    export_main([str(tmp_path / "run"), "-o", str(tmp_path / "model.asrlstm")])
    wav = json.loads((tmp_path / "data" / "test.jsonl").read_text().splitlines()[0])["audio"]
    pieces = Labelling.load(tmp_path / "data").units.labels(["the", "dog", "sat", "far"])
    assert len(pieces) > 4  # some word is more than one piece
    done = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(tmp_path / "model.asrlstm"), wav, " ".join(pieces)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\t")[1].strip() == "the dog sat far"

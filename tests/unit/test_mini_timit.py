"""The mini-TIMIT generator: espeak phonemes -> TIMIT-61 segments, and a small real generation."""

import random
import subprocess
import sys

import numpy as np
import pytest

from asr_lstm.data.corpora.timit import Timit
from asr_lstm.data.generators.espeak import Synthesis
from asr_lstm.data.generators.mini_timit import (
    MiniTimitConfig,
    generate,
    load_phone_table,
    make_speakers,
    timit_segments,
)
from asr_lstm.data.manifest import read_manifest
from asr_lstm.data.phones import timit_phone_map


def synthesis(phonemes, duration_ms):
    return Synthesis(np.zeros(duration_ms * 22050 // 1000, dtype=np.int16), 22050, phonemes, [])


def test_segments_map_split_and_frame_with_silence():
    table = load_phone_table()
    synth = synthesis([(0, "D"), (50, "@2"), (100, "b"), (200, ";"), (210, "_:"), (300, "'i:"), (380, "_")], 400)
    segs = timit_segments(synth, table, lead_ms=100, tail_ms=50)
    assert [s[2] for s in segs] == ["h#", "dh", "ax", "bcl", "b", "pau", "iy", "h#"]
    assert segs[0] == (0.0, 100, "h#")
    assert segs[3][:2] == (200, pytest.approx(260.0)) and segs[4][:2] == (
        pytest.approx(260.0),
        310,
    )  # 60 % closure; ';' lengthens b
    assert segs[-1] == (480, 550.0, "h#")  # the final pause joins the trailing silence
    for (_, end, _), (start, _, _) in zip(segs, segs[1:]):
        assert end == pytest.approx(start)


def test_unmapped_phoneme_is_named():
    with pytest.raises(KeyError, match="espeak phoneme 'Q9' has no TIMIT mapping"):
        timit_segments(synthesis([(0, "Q9")], 100), load_phone_table(), 0, 0)


def test_table_maps_only_to_timit_labels():
    known = set(timit_phone_map().phones61)
    assert all(set(labels) <= known for labels in load_phone_table().values())


@pytest.mark.parametrize("lowercase", [False, True])
def test_generated_corpus_reads_as_timit(tmp_path, lowercase):
    cfg = MiniTimitConfig(
        train_speakers_per_region=1, dev_speakers=2, extra_test_speakers_per_region=0, lowercase=lowercase
    )
    root = generate(tmp_path / "mini", cfg)
    case = str.lower if lowercase else str.upper
    assert (root / case("train") / case("dr1")).is_dir()
    Timit(root).prepare(tmp_path / "data")
    train = read_manifest(tmp_path / "data/train.jsonl")
    dev = read_manifest(tmp_path / "data/dev.jsonl")
    test = read_manifest(tmp_path / "data/test.jsonl")
    assert (len(train), len(dev), len(test)) == (8 * 8, 2 * 8, 24 * 8)  # SA excluded, 5 SX + 3 SI each
    assert {r["speaker"] for r in dev} == {"faks0", "fdac1"}
    assert not {r["speaker"] for r in train} & {r["speaker"] for r in test}
    assert not {r["text"] for r in train} & {r["text"] for r in test}  # disjoint sentence pools
    assert all(r["phones"][0] == "h#" == r["phones"][-1] and r["sample_rate"] == 16000 for r in train)
    assert generate(tmp_path / "mini", cfg) == root  # second run skips


def test_generation_repeats_byte_for_byte_in_a_new_process(tmp_path):
    """espeak-ng seeds its random numbers, which the breath noise of the +f2, +f3 and +f5 voices draws
    from, from the clock: each utterance seeds them itself, so that a corpus (and a recipe's results)
    can be reproduced. Two processes, the second started seconds after the first, write the same bytes."""
    tiny = ["--train-speakers-per-region", "1", "--dev-speakers", "1", "--extra-test-speakers-per-region", "0"]
    for name in ("a", "b"):
        command = [sys.executable, "-m", "asr_lstm.data.generators.mini_timit", "--out", str(tmp_path / name), *tiny]
        subprocess.run(command, check=True, capture_output=True, timeout=300)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    speakers = make_speakers(MiniTimitConfig(1, 1, 0), random.Random(0))
    assert {"+f3", "+f5"} <= {spk.voice[-3:] for part in speakers.values() for spk in part}
    assert len(files) == 4 * 10 * sum(map(len, speakers.values())) + 1  # and the generation marker
    different = [str(p) for p in files if (tmp_path / "a" / p).read_bytes() != (tmp_path / "b" / p).read_bytes()]
    assert different == []

"""Edit-distance S/D/I counts on hand-computed examples, and the scoring reports."""

import json
import random

import pytest

from asr_lstm.data.units import Characters
from asr_lstm.metrics import align, count_errors, edit_distance
from asr_lstm.scoring import score, score_words


@pytest.mark.parametrize(
    "ref, hyp, sdi",
    [
        ("a b c d", "a b c d", (0, 0, 0)),
        ("a b c d", "a x c d e", (1, 0, 1)),  # b->x substituted, e inserted
        ("a b c d e f", "a c d x f", (1, 1, 0)),  # b deleted, e->x substituted
        ("a b c", "", (0, 3, 0)),
        ("", "a b", (0, 0, 2)),
        ("a b", "b a", (2, 0, 0)),  # two substitutions preferred over a deletion plus an insertion
        # cost 2 either as t->ae, sil->t or as an inserted ae plus a deleted sil: substitutions win
        ("sil k ae t sil", "sil k ae ae t", (2, 0, 0)),
    ],
)
def test_counts_by_hand(ref, hyp, sdi):
    counts = count_errors(align(ref.split(), hyp.split()))
    assert (counts.sub, counts.dels, counts.ins) == sdi
    assert counts.ref_len == len(ref.split())


def test_exact_breakdowns():
    c = count_errors(align("a b c d".split(), "a x c d e".split()))
    assert (c.sub, c.dels, c.ins, c.errors, c.ref_len) == (1, 0, 1, 2, 4)
    assert c.rate == 50.0
    assert align(["a", "b"], ["a"]) == [("a", "a"), ("b", None)]
    assert align(["a"], ["x", "a"]) == [(None, "x"), ("a", "a")]


def test_total_equals_editdistance_on_random_pairs():
    rng = random.Random(0)
    for _ in range(300):
        ref = [rng.choice("abcd") for _ in range(rng.randint(0, 12))]
        hyp = [rng.choice("abcd") for _ in range(rng.randint(0, 12))]
        counts = count_errors(align(ref, hyp))
        assert counts.errors == edit_distance(ref, hyp)
        assert counts.ref_len - counts.dels + counts.ins == len(hyp)


def test_score_folds_and_writes_reports(tmp_path):
    (tmp_path / "ref.txt").write_text("u1\th# sh ix q pau\nu2\tao zh\n")
    # after folding to 39: u1 ref = sil sh ih sil, hyp = sil s ih sil (1 sub); u2 ref = aa sh, hyp missing (2 del)
    (tmp_path / "hyp.txt").write_text("u1\th# s ih epi\n")
    total = score(tmp_path / "ref.txt", tmp_path / "hyp.txt", tmp_path / "out", folding="39", extra={"split": "test"})
    assert (total.sub, total.dels, total.ins, total.ref_len) == (1, 2, 0, 6)
    metrics = json.loads((tmp_path / "out/metrics.json").read_text())
    assert metrics["rate"] == pytest.approx(50.0) and metrics["missing_hypotheses"] == 1 and metrics["split"] == "test"
    errs = (tmp_path / "out/errs.txt").read_text()
    assert errs.startswith("%PER 50.00 [ 3 / 6, 0 ins, 2 del, 1 sub ]")
    assert "u1 op   C   S  C  C" in errs and "u2 #csid 0 0 0 2" in errs


def test_score_refuses_hypotheses_without_reference(tmp_path):
    (tmp_path / "ref.txt").write_text("u1\taa\n")
    (tmp_path / "hyp.txt").write_text("u1\taa\nu9\taa\n")
    with pytest.raises(ValueError, match="hyp.txt: 1 hypotheses without a reference"):
        score(tmp_path / "ref.txt", tmp_path / "hyp.txt", tmp_path / "out")


def test_words_of_character_tokens():
    words = Characters("|").words
    assert words(list("A|MOVE||to|")) == ["A", "MOVE", "to"]
    assert words([]) == [] and words(list("|")) == []


def test_score_words_scores_the_words_between_separators(tmp_path):
    (tmp_path / "ref.txt").write_text("l1\tt h e | c a t | .\nl2\ta | b\n")
    # l1: "the cat ." vs "the cot ." (1 sub); l2: "a b" vs "ab" (1 sub + 1 del)
    (tmp_path / "hyp.txt").write_text("l1\tt h e | c o t | .\nl2\ta b\n")
    total = score_words(
        tmp_path / "ref.txt", tmp_path / "hyp.txt", tmp_path / "wer", Characters("|").words, {"split": "dev"}
    )
    assert (total.sub, total.dels, total.ins, total.ref_len) == (2, 1, 0, 5)
    assert (tmp_path / "wer/ref.txt").read_text() == "l1\tthe cat .\nl2\ta b\n"
    metrics = json.loads((tmp_path / "wer/metrics.json").read_text())
    assert metrics["metric"] == "wer" and metrics["folding"] is None and metrics["rate"] == pytest.approx(60.0)
    assert (tmp_path / "wer/errs.txt").read_text().startswith("%WER 60.00 [ 3 / 5, 0 ins, 1 del, 2 sub ]")

"""The ARPA n-gram: every history's distribution sums to one at every order, counts give the textbook
values, and the decoder's KenLM reads the files."""

import math

import pytest

from asr_lstm.lm import ngram_arpa


def parse_arpa(text):
    unigram, backoff, bigram, section = {}, {}, {}, None
    for line in text.splitlines():
        if line.startswith("\\1-grams"):
            section = 1
        elif line.startswith("\\2-grams"):
            section = 2
        elif line.startswith("\\") or not line.strip() or line.startswith("ngram"):
            continue
        elif section == 1:
            fields = line.split("\t")
            unigram[fields[1]] = 10 ** float(fields[0])
            backoff[fields[1]] = 10 ** float(fields[2]) if len(fields) == 3 else 1.0
        elif section == 2:
            logp, words = line.split("\t")
            bigram[tuple(words.split())] = 10 ** float(logp)
    return unigram, backoff, bigram


def probability(model, h, w):
    unigram, backoff, bigram = model
    return bigram[(h, w)] if (h, w) in bigram else backoff[h] * unigram[w]


def test_every_history_sums_to_one():
    vocab = ["aa", "b", "h#", "q"]  # q never occurs
    model = parse_arpa(ngram_arpa([["h#", "aa", "b", "h#"], ["h#", "b", "b", "aa", "h#"]], vocab))
    for h in ["<s>", *vocab]:
        total = sum(probability(model, h, w) for w in [*vocab, "</s>"])
        assert total == pytest.approx(1.0, abs=1e-5), h


def test_witten_bell_values_and_format():
    text = ngram_arpa([["a", "b"], ["a", "a"]], ["a", "b"])
    model = parse_arpa(text)
    # unigram: counts a=3, b=1, </s>=2 over 6 tokens, add-one over {a, b, </s>}
    assert model[0]["b"] == pytest.approx(2 / 9, rel=1e-5)
    # after <s>: "a" twice, one distinct follower -> P(a|<s>) = (2 + 1 * 4/9) / (2 + 1)
    assert probability(model, "<s>", "a") == pytest.approx(22 / 27, rel=1e-5)
    assert probability(model, "<s>", "b") == pytest.approx(1 / 3 * 2 / 9, rel=1e-5)
    # after "a": a, b, </s> once each, all seen: the interpolation still leaves a proper distribution
    assert sum(probability(model, "a", w) for w in ("a", "b", "</s>")) == pytest.approx(1.0, abs=1e-5)
    assert text.splitlines()[:3] == ["\\data\\", "ngram 1=5", "ngram 2=5"]
    assert math.isclose(model[0]["<s>"], 1e-99)


def parse_ngrams(text):
    """{n-gram tuple: (log10 p, log10 backoff)} of an ARPA file of any order."""
    grams, section = {}, 0
    for line in text.splitlines():
        if line.startswith("\\") and line.endswith("-grams:"):
            section = int(line[1:].split("-")[0])
        elif section and line.strip() and not line.startswith("\\"):
            fields = line.split("\t")
            grams[tuple(fields[1].split())] = (float(fields[0]), float(fields[2]) if len(fields) == 3 else 0.0)
    return grams


def arpa_probability(grams, history, w):
    """ARPA back-off semantics: the longest listed n-gram, times the back-off weights of the histories left."""
    if (*history, w) in grams:
        return 10 ** grams[(*history, w)][0]
    bow = grams.get(tuple(history), (0.0, 0.0))[1] if history else 0.0
    return 10**bow * arpa_probability(grams, history[1:], w)


@pytest.mark.parametrize("order", [3, 4])
def test_every_history_of_every_order_sums_to_one(order):
    vocab = ["a", "b", "c", "z"]  # z never occurs
    sentences = [list("abcab"), list("aab"), list("cba"), [], list("bbbbc")]
    grams = parse_ngrams(ngram_arpa(sentences, vocab, order))
    assert max(len(g) for g in grams) == order
    histories = {g for g in grams if len(g) < order and g[-1] not in ("</s>", "<unk>")}
    histories |= {("z", "a"), ("<s>", "z"), ("c", "c", "c")[: order - 1]}  # unseen histories back off
    for history in histories:
        total = sum(arpa_probability(grams, history, w) for w in [*vocab, "</s>"])
        assert total == pytest.approx(1.0, abs=1e-5), history


def test_trigram_textbook_value_and_order_two_is_the_bigram():
    grams = parse_ngrams(ngram_arpa([["a", "b", "a"]], ["a", "b"], 3))
    # P(b) = (1 + 1) / (4 + 3); P(b | a) = (1 + 2 P(b)) / (2 + 2); P(b | <s> a) = (1 + 1 P(b | a)) / (1 + 1)
    p_b_a = (1 + 2 * 2 / 7) / 4
    assert 10 ** grams[("<s>", "a", "b")][0] == pytest.approx((1 + p_b_a) / 2, rel=1e-5)
    assert parse_ngrams(ngram_arpa([["a", "b"]], ["a", "b"], 2)) == parse_ngrams(ngram_arpa([["a", "b"]], ["a", "b"]))
    with pytest.raises(ValueError, match="order must be at least 1"):
        ngram_arpa([["a"]], ["a"], 0)


def test_the_beam_decoder_reads_a_trigram(tmp_path):
    import torch

    from asr_lstm.decoding.beam import BeamSearch

    (tmp_path / "lm.arpa").write_text(ngram_arpa([list("abab"), list("ba")], ["a", "b"], 3))
    log_probs = torch.tensor([[0.1, 0.8, 0.1], [0.8, 0.1, 0.1], [0.1, 0.1, 0.8]]).log().unsqueeze(0)
    assert BeamSearch(["<blk>", "a", "b"], tmp_path / "lm.arpa", beam_size=4, lm_weight=0.1)(
        log_probs, torch.tensor([3])
    ) == [[1, 2]]


def test_word_lm_from_a_manifest_and_a_lexicon(tmp_path, capsys):
    import json

    from asr_lstm.lm import main

    (tmp_path / "lexicon.txt").write_text("the dh ax\nthe dh iy\ncat k ae t\nsat s ae t\n")
    rows = [{"id": "u1", "text": "the cat sat"}, {"id": "u2", "text": "the dog sat"}]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    main(
        [
            "--manifest",
            str(tmp_path / "train.jsonl"),
            "--lexicon",
            str(tmp_path / "lexicon.txt"),
            "-o",
            str(tmp_path / "w.arpa"),
        ]
    )
    assert "1 of 6 running words are not in" in capsys.readouterr().out
    grams = parse_ngrams((tmp_path / "w.arpa").read_text())
    assert ("the", "<unk>") in grams and ("dog",) not in grams and grams[("<unk>",)][0] > -99  # <unk> is predicted
    for history in [("<s>",), ("the",), ("cat",), ("<unk>",), ("sat",)]:
        total = sum(arpa_probability(grams, history, w) for w in ["the", "cat", "sat", "<unk>", "</s>"])
        assert total == pytest.approx(1.0, abs=1e-5), history
    with pytest.raises(ValueError, match=r"outside the vocabulary: \['dog'\]"):
        ngram_arpa([["the", "dog"]], ["the"])


def test_token_lm_refuses_a_manifest_with_tokens_outside_the_model(tmp_path, capsys):
    import json

    from asr_lstm.data.tokens import Vocabulary
    from asr_lstm.lm import main

    Vocabulary(["sh", "aa"]).save(tmp_path / "tokens.txt")
    (tmp_path / "train.jsonl").write_text(json.dumps({"id": "u1", "phones": ["sh", "aa", "zz"]}) + "\n")
    with pytest.raises(SystemExit):
        main(
            [
                "--manifest",
                str(tmp_path / "train.jsonl"),
                "--tokens",
                str(tmp_path / "tokens.txt"),
                "-o",
                str(tmp_path / "lm.arpa"),
            ]
        )
    error = capsys.readouterr().err
    assert "train.jsonl" in error and "tokens.txt" in error and "outside the vocabulary: ['zz']" in error
    assert not (tmp_path / "lm.arpa").exists()


def test_missing_inputs_are_named_together_before_any_work(tmp_path, capsys):
    from asr_lstm.lm import main

    (tmp_path / "lexicon.txt").write_text("a a\n")
    for unit, given in (("--tokens", tmp_path / "tokens.txt"), ("--lexicon", tmp_path / "lexicon.txt")):
        with pytest.raises(SystemExit) as exit_info:
            main(["--manifest", str(tmp_path / "train.jsonl"), unit, str(given), "-o", str(tmp_path / "lm.arpa")])
        error = capsys.readouterr().err
        assert exit_info.value.code == 2 and f"{tmp_path / 'train.jsonl'}: no such file" in error
        assert (f"{given}: no such file" in error) == (unit == "--tokens")
    assert not (tmp_path / "lm.arpa").exists()

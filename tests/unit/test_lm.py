"""The ARPA bigram: every history's distribution sums to one, counts give the textbook values."""

import math

import pytest

from asr_lstm.lm import bigram_arpa


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
    model = parse_arpa(bigram_arpa([["h#", "aa", "b", "h#"], ["h#", "b", "b", "aa", "h#"]], vocab))
    for h in ["<s>", *vocab]:
        total = sum(probability(model, h, w) for w in [*vocab, "</s>"])
        assert total == pytest.approx(1.0, abs=1e-5), h


def test_witten_bell_values_and_format():
    text = bigram_arpa([["a", "b"], ["a", "a"]], ["a", "b"])
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

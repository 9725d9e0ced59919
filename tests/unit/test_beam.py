"""Beam search: without an LM it agrees with greedy on peaked outputs; an LM changes a close call."""

import torch

from asr_lstm.decoding import greedy_decode
from asr_lstm.decoding.beam import BeamSearch
from asr_lstm.lm import bigram_arpa

TOKENS = ["<blk>", "a", "b"]


def peaked(path, confidence=0.9):
    probs = torch.full((len(path), 3), (1 - confidence) / 2)
    probs[torch.arange(len(path)), torch.tensor(path)] = confidence
    return probs.log().unsqueeze(0)


def test_agrees_with_greedy_without_lm():
    log_probs = peaked([1, 1, 0, 2, 0, 1, 2, 2, 0])
    lens = torch.tensor([9])
    assert BeamSearch(TOKENS, beam_size=8)(log_probs, lens) == greedy_decode(log_probs, lens) == [[1, 2, 1, 2]]


def test_lm_overrules_an_uncertain_frame(tmp_path):
    # frame 2 is a coin flip between a and b; the LM has only ever seen "a a"
    probs = torch.tensor([[0.05, 0.9, 0.05], [0.9, 0.05, 0.05], [0.02, 0.48, 0.5], [0.9, 0.05, 0.05]])
    log_probs, lens = probs.log().unsqueeze(0), torch.tensor([4])
    assert greedy_decode(log_probs, lens) == [[1, 2]]
    arpa = tmp_path / "lm.arpa"
    arpa.write_text(bigram_arpa([["a", "a"]] * 50, ["a", "b"]))
    assert BeamSearch(TOKENS, lm=arpa, beam_size=8, lm_weight=1.0)(log_probs, lens) == [[1, 1]]

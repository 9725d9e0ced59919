"""Beam search: without an LM it agrees with greedy on peaked outputs; an LM changes a close call.
The search configuration: validation, the decoder's flags, the decode overrides of ``evaluate``."""

import argparse

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from asr_lstm.cli.evaluate import decode_config
from asr_lstm.decoding import greedy_decode
from asr_lstm.decoding.beam import BeamSearch
from asr_lstm.decoding.options import SearchConfig, add_search_options, search_from_args
from asr_lstm.lm import ngram_arpa

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
    arpa.write_text(ngram_arpa([["a", "a"]] * 50, ["a", "b"]))
    assert BeamSearch(TOKENS, lm=arpa, beam_size=8, lm_weight=1.0)(log_probs, lens) == [[1, 1]]


def test_search_config_validation_description_and_folders():
    assert SearchConfig().build(TOKENS) is greedy_decode and SearchConfig().output_suffix == ""
    beam = SearchConfig("beam", beam_size=4, lm="lm.arpa", lm_weight=0.3)
    assert beam.describe() == "beam 4, LM lm.arpa weight 0.3" and beam.output_suffix == "_beam"
    with pytest.raises(ValueError, match="decode.kind must be one of"):
        SearchConfig("viterbi")
    with pytest.raises(ValueError, match="beam_size must be at least 1, got 0"):
        SearchConfig("beam", beam_size=0)
    with pytest.raises(ValueError, match="an LM needs beam search"):
        SearchConfig(lm="lm.arpa")
    with pytest.raises(FileNotFoundError, match="missing.arpa: no such LM file"):
        SearchConfig("beam", lm="missing.arpa").build(TOKENS)


def test_decoder_flags_map_onto_the_config():
    parser = argparse.ArgumentParser()
    add_search_options(parser)
    assert search_from_args(parser.parse_args([])) == SearchConfig()
    assert search_from_args(parser.parse_args(["--lm", "x.arpa"])) == SearchConfig("beam", 16, "x.arpa", 0.5)
    assert search_from_args(parser.parse_args(["--beam-size", "3", "--lm-weight", "0.2"])) == SearchConfig("beam", 3, None, 0.2)


def test_evaluate_applies_decode_overrides_to_the_run_config():
    run = OmegaConf.create({"model": {"num_layers": 2}})  # a run from before the decode group: greedy
    assert instantiate(decode_config(run, [])) == SearchConfig()
    cfg = instantiate(decode_config(run, ["decode=beam", "decode.lm=x.arpa", "decode.lm_weight=0.3"]))
    assert cfg == SearchConfig("beam", 16, "x.arpa", 0.3)
    trained_with_beam = OmegaConf.create({"decode": decode_config(run, ["decode=beam", "decode.beam_size=4"])})
    assert instantiate(decode_config(trained_with_beam, [])).beam_size == 4
    assert instantiate(decode_config(trained_with_beam, ["decode=greedy"])) == SearchConfig()
    for overrides, message in [
        (["model.num_layers=5"], "evaluate takes only decode overrides"),
        (["decode=viterbi"], r"decode=viterbi: no such option; conf/decode has \['beam', 'greedy'\]"),
        (["decode.lm=x.arpa"], "decode=greedy has no key 'lm' \\(beam-search keys need decode=beam before them\\)"),
    ]:
        with pytest.raises(ValueError, match=message):
            decode_config(run, overrides)


def test_the_lm_scores_each_token_as_itself(tmp_path):
    """Regression: torchaudio's lexicon-free decoder once scored token n as some other LM word."""
    tokens = ["<blk>", "sh", "aa", "b", "zz"]  # not in sorted order; "zz" is missing from the LM
    arpa = tmp_path / "lm.arpa"
    arpa.write_text(ngram_arpa([["sh", "aa", "b"], ["b", "aa"], ["aa"], ["sh"], ["b", "sh"]], ["sh", "aa", "b"]))
    search = BeamSearch(tokens, arpa, beam_size=8, lm_weight=1.0, beam_threshold=1000.0)
    logp = {line.split("\t")[1]: float(line.split("\t")[0]) for line in arpa.read_text().splitlines() if line.count("\t") >= 1 and not line.startswith("-99")}
    for index, token in enumerate(tokens[1:4], start=1):
        emissions = torch.full((1, 1, len(tokens) + 1), -1e3)
        emissions[0, 0, index] = 0.0
        hyp = search.decoder(emissions, torch.tensor([1], dtype=torch.int32))[0][0]
        # one frame of `token`: KenLM's log10 P(token | <s>) + log10 P(</s> | token), from the ARPA file
        expected = logp[f"<s> {token}"] + logp[f"{token} </s>"]  # every token starts and ends a sentence
        assert hyp.score == pytest.approx(expected, abs=1e-3), token

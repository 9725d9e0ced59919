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
    with pytest.raises(ValueError, match="an LM or a lexicon needs beam search"):
        SearchConfig(lm="lm.arpa")
    with pytest.raises(FileNotFoundError, match="missing.arpa: no such LM file"):
        SearchConfig("beam", lm="missing.arpa").build(TOKENS)


def test_decoder_flags_map_onto_the_config():
    parser = argparse.ArgumentParser()
    add_search_options(parser)
    assert search_from_args(parser.parse_args([])) == SearchConfig()
    assert search_from_args(parser.parse_args(["--lm", "x.arpa"])) == SearchConfig("beam", 16, "x.arpa", 0.5)
    assert search_from_args(parser.parse_args(["--beam-size", "3", "--lm-weight", "0.2"])) == SearchConfig(
        "beam", 3, None, 0.2
    )


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
    logp = {
        line.split("\t")[1]: float(line.split("\t")[0])
        for line in arpa.read_text().splitlines()
        if line.count("\t") >= 1 and not line.startswith("-99")
    }
    for index, token in enumerate(tokens[1:4], start=1):
        emissions = torch.full((1, 1, len(tokens) + 1), -1e3)
        emissions[0, 0, index] = 0.0
        hyp = search.decoder(emissions, torch.tensor([1], dtype=torch.int32))[0][0]
        # one frame of `token`: KenLM's log10 P(token | <s>) + log10 P(</s> | token), from the ARPA file
        expected = logp[f"<s> {token}"] + logp[f"{token} </s>"]  # every token starts and ends a sentence
        assert hyp.score == pytest.approx(expected, abs=1e-3), token


def char_emissions(tokens, path, confidence=0.9):
    """``(1, T, V)`` log-probs with ``path[t]`` at ``confidence`` (an int, or a dict id -> probability)."""
    probs = torch.full((len(path), len(tokens)), 1e-3)
    for t, step in enumerate(path):
        for i, p in step.items() if isinstance(step, dict) else [(step, confidence)]:
            probs[t, i] = p
    return (probs / probs.sum(1, keepdim=True)).log().unsqueeze(0)


def test_lexicon_search_with_and_without_a_separator_token(tmp_path):
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("ab a b\nba b a\ncab c a b\n")
    # a phone-like model without a separator: words follow each other directly
    tokens = ["<blk>", "a", "b", "c"]
    search = BeamSearch(tokens, lexicon=lexicon, beam_size=16)
    [hyp] = search.search(char_emissions(tokens, [1, 1, 2, 0, 2, 1, 0]), torch.tensor([7]))
    assert hyp.words == ["ab", "ba"] and hyp.ids == [1, 2, 2, 1]
    # "c a c" is no word: the lexicon turns it into the closest one; greedy keeps the non-word
    uncertain = char_emissions(tokens, [3, 1, {3: 0.5, 2: 0.4}])
    assert search.search(uncertain, torch.tensor([3]))[0].words == ["cab"]
    assert greedy_decode(uncertain, torch.tensor([3])) == [[3, 1, 3]]
    # a character model whose "|" separates words: it stays inside the ids, not at their ends
    tokens = ["<blk>", "|", "a", "b", "c"]
    search = BeamSearch(tokens, lexicon=lexicon, separator="|", beam_size=16)
    [hyp] = search.search(char_emissions(tokens, [1, 2, 2, 3, 0, 1, 1, 3, 2, 0, 1]), torch.tensor([11]))
    assert hyp.words == ["ab", "ba"] and hyp.ids == [2, 3, 1, 3, 2]


def test_a_word_lm_decides_between_lexicon_words(tmp_path):
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("ab a b\nac a c\n")
    lm = tmp_path / "words.arpa"
    lm.write_text(ngram_arpa([["ac"]] * 20 + [["ab"]], ["ab", "ac", "<unk>"]))
    tokens = ["<blk>", "|", "a", "b", "c"]
    close_call = char_emissions(tokens, [2, {3: 0.5, 4: 0.45}])
    without_lm = BeamSearch(tokens, lexicon=lexicon, separator="|")
    assert without_lm.search(close_call, torch.tensor([2]))[0].words == ["ab"]
    with_lm = BeamSearch(tokens, lm, lexicon=lexicon, separator="|", lm_weight=1.0)
    assert with_lm.search(close_call, torch.tensor([2]))[0].words == ["ac"]


def test_lexicon_and_separator_refusals(tmp_path):
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_bytes("ab a b\n\nax a x\nlone\n\u00e9 a\n".encode("latin-1"))
    with pytest.raises(ValueError) as every_line:
        BeamSearch(["<blk>", "|", "a", "b"], lexicon=lexicon, separator="|")
    assert str(every_line.value).split("\n") == [
        f"{lexicon}: 1 line is not UTF-8 (the first: line 5, byte 1 (0xe9)); "
        "convert the file with iconv -f <its encoding> -t UTF-8",
        f"{lexicon}:3: word 'ax' is spelled with ['x'], not in the model's tokens",
        f"{lexicon}:4: expected 'word token token ...', got 'lone'",
    ]
    with pytest.raises(FileNotFoundError, match="none.txt: no such lexicon file"):
        BeamSearch(["<blk>", "|", "a", "b"], lexicon=tmp_path / "none.txt", separator="|")
    with pytest.raises(ValueError, match="separator '|' is not one of the model's tokens"):
        BeamSearch(["<blk>", "a", "b"], separator="|")
    with pytest.raises(ValueError, match="word_score applies to lexicon search only"):
        SearchConfig("beam", word_score=1.0)


def test_lexicon_hypotheses_of_a_character_model_are_spelled_with_its_separator(tmp_path):
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("ab a b\nba b a\n")
    tokens = ["<blk>", "|", "a", "b"]
    # the model writes "ab" and "ba" without a "|" between them
    joined = char_emissions(tokens, [2, 3, 0, 3, 2])
    path_ids = BeamSearch(tokens, lexicon=lexicon, separator="|").search(joined, torch.tensor([5]))[0]
    spelled = BeamSearch(tokens, lexicon=lexicon, separator="|", spell_words=True).search(joined, torch.tensor([5]))[0]
    assert path_ids.words == spelled.words == ["ab", "ba"]
    assert path_ids.ids == [2, 3, 3, 2]  # flashlight's token path: the words run together
    assert spelled.ids == [2, 3, 1, 3, 2]  # "ab|ba": CER and WER see two words
    with pytest.raises(ValueError, match="needs a lexicon and a separator"):
        BeamSearch(tokens, separator="|", spell_words=True)


def test_a_lexicon_search_uses_the_models_word_separator_by_default(tmp_path):
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("ab a b\nba b a\n")
    tokens = ["<blk>", "|", "a", "b"]
    config = SearchConfig("beam", lexicon=str(lexicon))
    assert config.output_suffix == "_lexicon" and SearchConfig("beam").output_suffix == "_beam"
    search = config.build(tokens, word_separator="|")
    assert search.separator_id == 1 and search.spellings == {"ab": [2, 3], "ba": [3, 2]}
    assert search(char_emissions(tokens, [2, 3, 0, 3, 2]), torch.tensor([5])) == [[2, 3, 1, 3, 2]]
    # a lexicon-free search keeps every character a plain token; a separator given by name wins
    assert config.build(tokens).separator_id is None
    assert SearchConfig("beam").build(tokens, word_separator="|").separator_id is None
    assert SearchConfig("beam", lexicon=str(lexicon), separator="a").build(tokens, word_separator="|").spellings == {}


def test_an_lm_above_the_decoders_order_is_refused_by_name(tmp_path):
    arpa = tmp_path / "char7.arpa"
    arpa.write_text(ngram_arpa([["a", "b", "a", "b", "a", "b", "a"]], ["a", "b"], order=7))
    with pytest.raises(ValueError, match=r"char7.arpa: a 7-gram, but the decoder's KenLM reads at most 6-grams"):
        BeamSearch(TOKENS, lm=arpa)
    arpa.write_text(ngram_arpa([["a", "b", "a"]], ["a", "b"], order=6))
    assert BeamSearch(TOKENS, lm=arpa, beam_size=4)(peaked([1, 0, 2]), torch.tensor([3])) == [[1, 2]]

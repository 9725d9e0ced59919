"""CTC beam search with an n-gram LM, through torchaudio's flashlight-text decoder.

Two modes:

- lexicon-free: the LM's words are the model's tokens (phones for TIMIT, characters for
  handwriting), written as ARPA by :mod:`asr_lstm.lm`;
- with a lexicon (``word<space>token token ...`` per line): hypotheses are sequences of lexicon
  words spelled in the model's tokens, scored by a word n-gram LM (``python -m asr_lstm.lm
  --lexicon``).

The flashlight decoder needs a word-separator ("silence") token: the model's own where it has one (the
space of a character model, TIMIT's ``h#``), named as ``separator``; otherwise a column that the model
never emits is appended, and lexicon words follow each other directly. Flashlight's lexicon search
ends a word on the first frame of its last token: CTC's peaked outputs (a token for a frame, then
blanks) suit it, a word-final token held over several frames costs those frames.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torchaudio.models.decoder import ctc_decoder

from asr_lstm.text_files import numbered_lines

SEPARATOR = "<sep>"
NEVER = -1e9  # log-probability of the appended separator column
KENLM_MAX_ORDER = 6  # the n-gram order flashlight-text's KenLM is built for (KENLM_MAX_ORDER)


@dataclass
class Hypothesis:
    """The best hypothesis of one utterance: label ids (no blanks, no edge separators) and, with a lexicon, words."""

    ids: list[int]
    words: list[str]


def arpa_order(path: Path) -> int:
    """The highest n of an ARPA file's ``\\data\\`` header (``ngram n=count`` lines); 0 for a file
    without one (a binary KenLM model, which KenLM itself checks)."""
    order = 0
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("ngram ") and "=" in line:
                order = max(order, int(line[6:].split("=")[0]))
            elif line.startswith("\\1-grams:"):
                break
    return order


def check_lexicon(path: Path, tokens: list[str]) -> None:
    """Raises ``ValueError`` naming every line of ``path`` that is not ``word token token ...`` or spells
    a word with a token the model lacks (and the file, where it is not UTF-8)."""
    known = set(tokens)
    problems: list[str] = []
    for number, line in numbered_lines(path, problems):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2:
            problems.append(f"{path}:{number}: expected 'word token token ...', got {line!r}")
        elif unknown := [t for t in fields[1:] if t not in known]:
            problems.append(f"{path}:{number}: word {fields[0]!r} is spelled with {unknown}, not in the model's tokens")
    if problems:
        raise ValueError("\n".join(problems))


def spellings(path: Path, tokens: list[str]) -> dict[str, list[int]]:
    """``{word: token ids}`` of a lexicon file, the first spelling of each word."""
    ids = {token: i for i, token in enumerate(tokens)}
    spelled: dict[str, list[int]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if fields:
            spelled.setdefault(fields[0], [ids[t] for t in fields[1:]])
    return spelled


class BeamSearch:
    """Decodes ``(B, T, V)`` log-probabilities into label ids (and words) with a beam and an optional LM.

    Args:
        tokens: the vocabulary, CTC blank first.
        lm: an ARPA file over ``tokens`` (lexicon-free) or over the lexicon's words, or ``None``.
        beam_size: hypotheses kept per frame.
        lm_weight: weight of the LM log-probability (KenLM scores are log10).
        beam_threshold: prune hypotheses this far below the best.
        lexicon: a lexicon file, or ``None`` for lexicon-free search.
        separator: the model's own word-separator token, if it has one.
        word_score: added per lexicon word (flashlight's lexicon-free search has no such term).
        spell_words: return a lexicon hypothesis's label ids as its words' spellings joined by
            ``separator`` (a character model's space) rather than flashlight's token path, which
            leaves the separator out wherever the model did not emit one between two words.
    """

    def __init__(
        self,
        tokens: list[str],
        lm: str | Path | None = None,
        beam_size: int = 16,
        lm_weight: float = 0.5,
        beam_threshold: float = 25.0,
        lexicon: str | Path | None = None,
        separator: str | None = None,
        word_score: float = 0.0,
        spell_words: bool = False,
    ):
        if lm is not None and not Path(lm).is_file():
            raise FileNotFoundError(
                f"{lm}: no such LM file (python -m asr_lstm.lm writes one from training transcriptions)"
            )
        order = arpa_order(Path(lm)) if lm is not None else 0
        if order > KENLM_MAX_ORDER:
            raise ValueError(
                f"{lm}: a {order}-gram, but the decoder's KenLM reads at most {KENLM_MAX_ORDER}-grams (python -m asr_lstm.lm --order {KENLM_MAX_ORDER})"
            )
        if lexicon is not None:
            if not Path(lexicon).is_file():
                raise FileNotFoundError(f"{lexicon}: no such lexicon file")
            check_lexicon(Path(lexicon), tokens)
        if separator is not None and separator not in tokens[1:]:
            raise ValueError(f"separator {separator!r} is not one of the model's tokens")
        self.num_tokens = len(tokens)
        self.gives_words = lexicon is not None  # Recognizer.transcribe keeps the words of a lexicon search
        self.separator_id = tokens.index(separator) if separator is not None else None
        if spell_words and (lexicon is None or separator is None):
            raise ValueError("spelling hypotheses from words needs a lexicon and a separator")
        self.spellings = spellings(Path(lexicon), tokens) if spell_words else {}
        decoder_tokens = [*tokens] if separator is not None else [*tokens, SEPARATOR]
        self.appended = separator is None
        with tempfile.TemporaryDirectory() as tmp:
            lexicon_free_lm = lm is not None and lexicon is None
            self.decoder = ctc_decoder(
                lexicon=str(lexicon) if lexicon is not None else None,
                tokens=decoder_tokens,
                lm=str(lm) if lm is not None else None,
                lm_dict=self.lm_dictionary(decoder_tokens, Path(tmp)) if lexicon_free_lm else None,
                nbest=1,
                beam_size=beam_size,
                beam_threshold=beam_threshold,
                lm_weight=lm_weight,
                word_score=word_score,
                blank_token=tokens[0],
                sil_token=separator if separator is not None else SEPARATOR,
                unk_word="<unk>",
            )

    @staticmethod
    def lm_dictionary(tokens: list[str], folder: Path) -> str:
        """A word list naming the LM's unit for each token index, in token order.

        The lexicon-free decoder scores token index n as LM word n. Left to itself, torchaudio builds
        that word list from a dict in another order (flashlight's ``create_word_dict``), so every
        token would be scored as some other token (fairseq fixed the same mismatch in its PR 5109).
        """
        path = folder / "lm_units.txt"
        path.write_text("".join(f"{token}\n" for token in tokens), encoding="utf-8")
        return str(path)

    def search(self, log_probs: torch.Tensor, lens: torch.Tensor) -> list[Hypothesis]:
        """Args: ``log_probs (B, T, V)``, ``lens (B,)``. Returns B best hypotheses."""
        results = self.decoder(self._emissions(log_probs), lens.detach().cpu().to(torch.int32))
        return [self._best(hyps[0]) if hyps else Hypothesis([], []) for hyps in results]

    def begin(self) -> None:
        """Starts searching one input whose log-probabilities come in pieces (:meth:`step`)."""
        self.decoder.decode_begin()

    def step(self, log_probs: torch.Tensor) -> None:
        """Extends every hypothesis over the next ``(M, V)`` frames of the input begun by :meth:`begin`."""
        if len(log_probs):
            self.decoder.decode_step(self._emissions(log_probs.unsqueeze(0))[0])

    def end(self) -> Hypothesis:
        """The best hypothesis of the frames given to :meth:`step` since :meth:`begin`: the hypothesis
        :meth:`search` finds over all of them at once."""
        self.decoder.decode_end()
        hyps = self.decoder.get_final_hypothesis()
        return self._best(hyps[0]) if hyps else Hypothesis([], [])

    def _emissions(self, log_probs: torch.Tensor) -> torch.Tensor:
        """``(B, T, V)`` log-probabilities as the decoder takes them: float32, contiguous, on the CPU,
        with the never-taken separator column where the model has none."""
        emissions = log_probs.detach().float().cpu()
        if self.appended:
            batch, frames, _ = emissions.shape
            emissions = torch.cat([emissions, torch.full((batch, frames, 1), NEVER)], dim=2)
        return emissions.contiguous()

    def _best(self, hyp) -> Hypothesis:
        if self.spellings:
            ids = [
                i for k, word in enumerate(hyp.words) for i in ([self.separator_id] if k else []) + self.spellings[word]
            ]
            return Hypothesis(ids, list(hyp.words))
        ids = [i for i in hyp.tokens.tolist() if 0 < i < self.num_tokens]
        while ids and ids[0] == self.separator_id:  # flashlight brackets every hypothesis with separators
            ids.pop(0)
        while ids and ids[-1] == self.separator_id:
            ids.pop()
        return Hypothesis(ids, list(hyp.words))

    def __call__(self, log_probs: torch.Tensor, lens: torch.Tensor) -> list[list[int]]:
        """Args: ``log_probs (B, T, V)``, ``lens (B,)``. Returns B lists of label ids (no blanks)."""
        return [hyp.ids for hyp in self.search(log_probs, lens)]

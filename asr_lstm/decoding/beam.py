"""CTC beam search with a token n-gram LM, through torchaudio's flashlight-text decoder.

Lexicon-free: the LM's words are the model's tokens (phones for TIMIT), written as ARPA by
:mod:`asr_lstm.lm`. The flashlight decoder requires a word-separator ("silence") token; phone
recognition has none, so one is appended as a last output column that the model never emits.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from torchaudio.models.decoder import ctc_decoder

SEPARATOR = "<sep>"
NEVER = -1e9  # log-probability of the separator column


class BeamSearch:
    """Decodes ``(B, T, V)`` log-probabilities into label ids with a beam and an optional LM.

    Args:
        tokens: the vocabulary, CTC blank first.
        lm: an ARPA file over ``tokens``, or ``None`` for beam search without an LM.
        beam_size: hypotheses kept per frame.
        lm_weight: weight of the LM log-probability.
        beam_threshold: prune hypotheses this far below the best.
    """

    def __init__(self, tokens: list[str], lm: str | Path | None = None, beam_size: int = 16, lm_weight: float = 0.5,
                 beam_threshold: float = 25.0):
        if lm is not None and not Path(lm).is_file():
            raise FileNotFoundError(f"{lm}: no such LM file (python -m asr_lstm.lm writes one from training transcriptions)")
        self.num_tokens = len(tokens)
        with tempfile.TemporaryDirectory() as tmp:
            self.decoder = ctc_decoder(
                lexicon=None,
                tokens=[*tokens, SEPARATOR],
                lm=str(lm) if lm is not None else None,
                lm_dict=self.lm_dictionary([*tokens, SEPARATOR], Path(tmp)) if lm is not None else None,
                nbest=1,
                beam_size=beam_size,
                beam_threshold=beam_threshold,
                lm_weight=lm_weight,
                blank_token=tokens[0],
                sil_token=SEPARATOR,
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
        path.write_text("".join(f"{token}\n" for token in tokens))
        return str(path)

    def __call__(self, log_probs: torch.Tensor, lens: torch.Tensor) -> list[list[int]]:
        """Args: ``log_probs (B, T, V)``, ``lens (B,)``. Returns B lists of label ids (no blanks)."""
        batch, frames, _ = log_probs.shape
        emissions = torch.cat([log_probs.detach().float().cpu(), torch.full((batch, frames, 1), NEVER)], dim=2).contiguous()
        results = self.decoder(emissions, lens.detach().cpu().to(torch.int32))
        return [[i for i in hyps[0].tokens.tolist() if 0 < i < self.num_tokens] if hyps else [] for hyps in results]

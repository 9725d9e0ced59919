"""Decoding CTC outputs into label sequences."""

from asr_lstm.decoding.greedy import greedy_decode, label_starts

__all__ = ["greedy_decode", "label_starts"]

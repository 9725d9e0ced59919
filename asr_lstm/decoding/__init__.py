"""Decoding CTC outputs into label sequences."""

from asr_lstm.decoding.greedy import greedy_decode

__all__ = ["greedy_decode"]

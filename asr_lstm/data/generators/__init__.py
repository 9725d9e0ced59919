"""Generators of the embedded corpora, each written in the true layout of the corpus it stands in for:
mini-TIMIT (espeak-ng voices), mini-IAM (rendered line images) and mini-IAM-OnDB (pen strokes).

They only write files; the readers of those layouts are in :mod:`asr_lstm.data.corpora`.
"""

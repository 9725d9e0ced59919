"""Corpus preparation, manifests, vocabularies, features and the Lightning data module."""

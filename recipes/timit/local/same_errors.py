"""Fails unless two metrics.json files report the same error counts (the exported-model check)."""

import json
import sys

FIELDS = ("sub", "dels", "ins", "ref_len", "num_utts")

expected, actual = (json.load(open(path)) for path in sys.argv[1:3])
if any(expected[k] != actual[k] for k in FIELDS):
    sys.exit(f"exported model differs from the training checkpoint: {[expected[k] for k in FIELDS]} vs {[actual[k] for k in FIELDS]} ({', '.join(FIELDS)})")
print(f"exported model reproduces the checkpoint: {actual['metric'].upper()} {actual['rate']:.2f} on {actual['num_utts']} utterances")

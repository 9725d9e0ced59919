#!/usr/bin/env bash
# IAM-OnDB online handwriting (pen strokes) with a stacked BLSTM-CTC: recipes/iam/run.sh --online,
# run in this folder (data/, exp/ and RESULTS.md here). Same stages and options (../iam/run.sh --help).
#
#   ./run.sh                               # the embedded mini-IAM-OnDB, generated at stage 0
#   ./run.sh --iam-ondb /corpora/IAM-OnDB  # a real IAM-OnDB copy (lineStrokes/, ascii/, IAM-OnDB-t2 lists)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
RECIPE_HOME="$here" RECIPE_COMMAND="./run.sh${*:+$(printf ' %q' "$@")}" exec "$here/../iam/run.sh" --online "$@"

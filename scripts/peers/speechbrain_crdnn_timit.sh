#!/usr/bin/env bash
# SpeechBrain's CRDNN-CTC on the mini-TIMIT of recipes/timit, with the same data and splits as ours
# (README, "Side by side with the peers"). Run from the repository root after `make install`:
#
#   scripts/peers/speechbrain_crdnn_timit.sh [--minutes 15] [--size mini|recipe] [--threads 2] [--out DIR]
#
# 1. prepares mini-TIMIT and its manifests with our recipe (recipes/timit/run.sh --stop-stage 1);
# 2. installs speechbrain into its own virtualenv, exp/peers/speechbrain-venv, with the torch and
#    torchaudio releases of pyproject.toml (speechbrain is never a dependency of asr-lstm);
# 3. trains scripts/peers/speechbrain_crdnn_ctc.py there, for --minutes of training;
# 4. scores its dev and test hypotheses with our `asr-lstm score` (39 phones, as our recipe scores).
set -euo pipefail

minutes=15
size=mini
threads=2
out=exp/peers/speechbrain_crdnn
repo="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=../../recipes/common/recipe.sh
source "$repo/recipes/common/recipe.sh"
usage() { sed -n '2,11p' "$0"; }
parse_options "minutes size threads out" "$@"

cd "$repo"
[ -x .venv/bin/asr-lstm ] || { echo "$0: run 'make install' first (asr-lstm scores the peer's output)" >&2; exit 2; }
(cd recipes/timit && PATH="$repo/.venv/bin:$PATH" ./run.sh --stop-stage 1)

venv=exp/peers/speechbrain-venv
if [ ! -f "$venv/.installed" ]; then
  torch=$(grep -o '"torch==[^"]*"' pyproject.toml | tr -d '"')
  torchaudio=$(grep -o '"torchaudio==[^"]*"' pyproject.toml | tr -d '"')
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "speechbrain==1.1.2" "$torch" "$torchaudio"
  touch "$venv/.installed"
fi

OMP_NUM_THREADS=$threads "$venv/bin/python" scripts/peers/speechbrain_crdnn_ctc.py \
  --data recipes/timit/data/timit --out "$out" --size "$size" --minutes "$minutes" --threads "$threads"
for split in dev test; do
  .venv/bin/asr-lstm score "$out/$split.ref" "$out/$split.hyp" --folding none --metric per --out "$out/score_$split" \
    | sed "s/^/$split: /"
done

#!/usr/bin/env bash
# PyLaia on the mini-IAM of recipes/iam, with our data, splits and pixels (README, "Side by side with
# the peers"). Run from the repository root after `make install`:
#
#   scripts/peers/pylaia_mini_iam.sh [--minutes 15] [--threads 2] [--out DIR] [--python python3.10]
#
# 1. prepares mini-IAM, its manifests and line features with our recipe (recipes/iam/run.sh --stop-stage 2);
# 2. writes PyLaia's inputs with scripts/peers/pylaia_tables.py: the line images at the 40 pixels our
#    models read, syms.txt and the text tables;
# 3. installs pylaia 1.0.7 (its last release: torch 1.13, so Python 3.10 or older; numpy below 2,
#    which torch 1.13 was built against) into its own virtualenv, exp/peers/pylaia-venv;
# 4. runs PyLaia's own commands: pylaia-htr-create-model (the conv blocks and BLSTM of our
#    experiment=mini_iam: 16-32-48-64-80 channels, pooling height by 8 and width by 4, 3 x 128 BLSTM),
#    pylaia-htr-train-ctc (its defaults: RMSProp 5e-4, its own distortions on, early stopping after
#    20 epochs) stopped after --minutes by SIGINT, which Lightning ends cleanly, then
#    pylaia-htr-decode-ctc of dev and test with the best checkpoint;
# 5. scores the decoded lines with our `asr-lstm score` (CER, and WER over the | separators).
set -euo pipefail

minutes=15
threads=2
out=exp/peers/pylaia
python=python3.10
repo="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=../../recipes/common/recipe.sh
source "$repo/recipes/common/recipe.sh"
usage() { sed -n '2,17p' "$0"; }
parse_options "minutes threads out python" "$@"

cd "$repo"
[ -x .venv/bin/asr-lstm ] || { echo "$0: run 'make install' first" >&2; exit 2; }
(cd recipes/iam && PATH="$repo/.venv/bin:$PATH" ./run.sh --stop-stage 2)
mkdir -p "$out"
out="$(cd "$out" && pwd)"
.venv/bin/python scripts/peers/pylaia_tables.py export recipes/iam/data/iam "$out/data"

venv=exp/peers/pylaia-venv
if [ ! -f "$venv/.installed" ]; then
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet "pylaia==1.0.7" "numpy<2"
  touch "$venv/.installed"
fi
export PATH="$repo/$venv/bin:$PATH" OMP_NUM_THREADS=$threads
data="$out/data"
common=(--common.train_path "$out/train" --common.model_filename model)

pylaia-htr-create-model "$data/syms.txt" --fixed_input_height 40 "${common[@]}" \
  --crnn.cnn_num_features '[16,32,48,64,80]' --crnn.cnn_kernel_size '[3,3,3,3,3]' \
  --crnn.cnn_stride '[1,1,1,1,1]' --crnn.cnn_dilation '[1,1,1,1,1]' \
  --crnn.cnn_activation '[LeakyReLU,LeakyReLU,LeakyReLU,LeakyReLU,LeakyReLU]' \
  --crnn.cnn_poolsize '[[2,2],[2,2],[2,1],0,0]' --crnn.cnn_dropout '[0,0,0.2,0.2,0.2]' \
  --crnn.cnn_batchnorm '[true,true,true,true,true]' --crnn.rnn_layers 3 --crnn.rnn_units 128 \
  --crnn.rnn_dropout 0.2 --crnn.lin_dropout 0.2

start=$(date +%s)
timeout --signal=INT "$((${minutes%.*} * 60))" pylaia-htr-train-ctc "$data/syms.txt" "[$data/images]" \
  "$data/train.txt" "$data/dev.txt" "${common[@]}" --data.batch_size 16 --train.augment_training true \
  --trainer.max_epochs 1000 --trainer.progress_bar_refresh_rate 0 --trainer.gpus 0 || true
echo "training: $(( $(date +%s) - start )) s" | tee "$out/train_time.txt"

for split in dev test; do
  pylaia-htr-decode-ctc "$data/syms.txt" "$data/${split}_ids.txt" --img_dirs "[$data/images]" "${common[@]}" \
    --trainer.gpus 0 --decode.join_string ' ' > "$out/${split}.pylaia"
  .venv/bin/python scripts/peers/pylaia_tables.py hyps "$out/${split}.pylaia" "$out/${split}.hyp"
  .venv/bin/asr-lstm score "$data/${split}.ref" "$out/${split}.hyp" --folding none --metric cer \
    --word-separator '|' --out "$out/score_${split}" | sed "s/^/$split: /"
done

#!/usr/bin/env bash
# kraken's binary datasets (the Arrow files of ketos compile) with convolution blocks and a stacked
# BLSTM-CTC over their characters (CER, WER).
#
#   ./run.sh                                          # the embedded demo: mini-IAM as a kraken dataset
#   ./run.sh --datasets dataset.arrow                 # your own: the split ketos compile --random-split drew
#   ./run.sh --datasets 'a.arrow b.arrow' --split fractions   # or a seeded 80/10/10 split of the lines
#   ./run.sh --train train.arrow --dev val.arrow --test test.arrow   # or a file (or files) per split
#   ./run.sh --datasets DIR/dataset.arrow --bidi auto # a right-to-left script, as ketos train --reorder
#
# Stages: 0 corpus, 1 manifests (the line images written out), 2 features, 3 train, 4 decode
# (greedy) + score, 5 export + check (model.asrlstm, model.onnx), 6 RESULTS.md.
# Every stage skips what is already done (and says so); --overwrite redoes the selected stages.
# Training resumes from exp/<name>/checkpoints/last.ckpt.
set -euo pipefail

recipe_dir="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=SCRIPTDIR/../common/recipe.sh
source "$recipe_dir/../common/recipe.sh"
recipe_command="./run.sh${*:+$(printf ' %q' "$@")}"
stage=0
stop_stage=6
datasets=""
train=""
dev=""
test=""
split=stored
seed=0
normalization=NFC
bidi=none
work=.
results=""
experiment=mini_kraken
name=""
overrides=""
overwrite=false

usage() {
  sed -n '2,14p' "$0"
  echo "options: --stage N --stop-stage N --datasets 'FILE ...' --train 'FILE ...' --dev 'FILE ...' --test 'FILE ...'"
  echo "         --split stored|fractions --seed N --normalization NFC|NFD|NFKC|NFKD|none --bidi R|L|auto|none"
  echo "         --work DIR --experiment NAME --name EXP --overrides 'k=v ...' --results FILE --overwrite"
  echo "         (--split: of --datasets, the files' own train/validation/test columns or a seeded split of"
  echo "          the lines by 80/10/10, shuffled by --seed; --bidi: the paragraph direction of the labels'"
  echo "          display order, default none)"
}
parse_options "stage stop_stage datasets train dev test split seed normalization bidi work results experiment name overrides overwrite" "$@"
form=$(hydra_normalization "$normalization")
direction=$(hydra_bidi "$bidi")
case "$split" in
  stored|fractions) ;;
  *) echo "run.sh: --split must be stored or fractions, got '$split'" >&2; exit 2 ;;
esac
if [ -n "$train$dev$test" ]; then
  [ -n "$train" ] && [ -n "$dev" ] && [ -n "$test" ] || { echo "run.sh: --train, --dev and --test go together" >&2; exit 2; }
  [ -z "$datasets" ] || { echo "run.sh: give --datasets or --train/--dev/--test, not both" >&2; exit 2; }
  [ "$split" = stored ] || { echo "run.sh: --split fractions splits --datasets; --train, --dev and --test name each split's files" >&2; exit 2; }
fi

# absolute_files NAME: run.sh's variable NAME, a list of dataset files, made absolute; exits 2 naming
# every file that is not there.
absolute_files() {
  local file bad=() absolute=()
  for file in ${!1}; do
    if [ -f "$file" ]; then absolute+=("$(cd "$(dirname "$file")" && pwd)/$(basename "$file")"); else bad+=("--$1 $file: no such file"); fi
  done
  if [ ${#bad[@]} -gt 0 ]; then
    printf 'run.sh: %s\n' "${bad[@]}" >&2
    exit 2
  fi
  printf -v "$1" '%s' "${absolute[*]}"
}
for files in datasets train dev test; do absolute_files "$files"; done
[ "$work" = . ] || { mkdir -p "$work"; work="$(cd "$work" && pwd)"; }  # before --results, which may lie in it
absolute_paths --file results
cd "$recipe_dir"
data="$work/data/kraken"
exp="$work/exp/${name:-blstm_${experiment}}"
results=${results:-RESULTS.md}
demo="$work/data/kraken_demo"
given="$datasets$train"
# hydra_list 'A B': [A,B], a Hydra list of the files.
hydra_list() { local files; files="$1"; echo "[${files// /,}]"; }
if [ -n "$train" ]; then
  corpus_note="kraken datasets, a file per split: train $train, dev $dev, test $test"
  splits_note="every line of each split's files"
  prepare_args=(--train $train --dev $dev --test $test)
  corpus_override="data.corpus.datasets={train:$(hydra_list "$train"),dev:$(hydra_list "$dev"),test:$(hydra_list "$test")}"
else
  if [ -z "$datasets" ]; then
    datasets="$demo/mini_iam.arrow"
    corpus_note="the embedded demo: mini-IAM (\`python -m asr_lstm.data.generators.mini_iam\`) written as one kraken binary dataset in the layout of kraken 7's ketos compile by \`python -m asr_lstm.data.generators.kraken_demo\`, each line's task list (mini-IAM's LWITLRT lists: no writer in two splits) in its train, validation and test columns"
  else
    corpus_note="kraken datasets $datasets"
  fi
  if [ "$split" = stored ]; then
    splits_note="the datasets' own train, validation (dev) and test columns"
  else
    splits_note="a seeded (seed $seed) 80/10/10 split of the lines"
  fi
  # shellcheck disable=SC2206
  prepare_args=(--datasets $datasets --split "$split" --seed "$seed")
  corpus_override="data.corpus.datasets=$(hydra_list "$datasets")"
fi
# One set of overrides for every stage, so that preparation, training and decoding agree.
hydra_args=(experiment="$experiment" "$corpus_override" data.corpus.split="$split" data.corpus.seed="$seed"
            data.work_dir="$data" data.normalization="$form" data.bidi="$direction")
# shellcheck disable=SC2206
hydra_args+=($overrides)

if $overwrite; then overwrite_stages "$given" "$demo"; fi

if selected 0; then
  if [ -n "$given" ]; then
    log "Stage 0: corpus: using $given"
  else
    corpus_stage "" mini_iam "$work/data/mini_iam"
    log "Stage 0: corpus: mini-IAM's lines written as a kraken dataset in $demo"
    python -m asr_lstm.data.generators.kraken_demo --iam "$work/data/mini_iam" --out "$demo"
  fi
fi

if selected 1; then
  log "Stage 1: manifests and line images ($splits_note)"
  python -m asr_lstm.data.corpora.kraken_arrow "${prepare_args[@]}" --out "$data" --normalization "$normalization" \
    --bidi "$bidi"
fi

if selected 2; then features_stage "line-image features and normalisation statistics" "${hydra_args[@]}"; fi

if selected 3; then train_stage "${hydra_args[@]}"; fi

if selected 4; then greedy_decode_stage "CER, WER"; fi

if selected 5; then export_stage; fi

if selected 6; then
  report_stage "kraken binary datasets: conv + BLSTM-CTC over characters" "$corpus_note" \
    "splits: $splits_note (bad lines skipped: see the skipped rows)" \
    "labels: the characters of each line's transcription, \`|\` between words (+ CTC blank)$(label_order_note "$bidi"); CER over those, spaces included; WER over the words"
fi

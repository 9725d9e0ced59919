#!/usr/bin/env bash
# Line images of your own, each with its transcription in a NAME.gt.txt beside it (the layout of
# kraken's ketos train -f path, OCRopus, Calamari, tesstrain, GT4HistOCR), with convolution blocks
# and a stacked BLSTM-CTC over their characters (CER, WER).
#
#   ./run.sh                                  # the embedded demo: mini-IAM's lines in a folder per form
#   ./run.sh --lines /gt/my_book              # your own: line images and .gt.txt files (split 80/10/10 by line)
#   ./run.sh --lines DIR --group-by folder    # or by folder: a page's or a book's lines in one split
#   ./run.sh --lines DIR --split-lists 'train.lst dev.lst test.lst'   # or lists of lines or folders
#   ./run.sh --lines DIR --bidi R             # a right-to-left script (Arabic, Hebrew): labels in display order
#   ./run.sh --right-to-left                  # the demo in a right-to-left script (mirrored, enciphered mini-IAM)
#
# Stages: 0 corpus, 1 manifests, 2 features, 3 train, 4 decode (greedy) + score, 5 export + check
# (model.asrlstm, model.onnx), 6 RESULTS.md.
# Every stage skips what is already done (and says so); --overwrite redoes the selected stages.
# Training resumes from exp/<name>/checkpoints/last.ckpt.
set -euo pipefail

recipe_dir="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=SCRIPTDIR/../common/recipe.sh
source "$recipe_dir/../common/recipe.sh"
recipe_command="./run.sh${*:+$(printf ' %q' "$@")}"
stage=0
stop_stage=6
lines=""
split_lists=""
group_by=line
image_suffix=""
seed=0
normalization=NFC
bidi=""
right_to_left=false
work=.
results=""
experiment=mini_lines
name=""
overrides=""
overwrite=false

usage() {
  sed -n '2,16p' "$0"
  echo "options: --stage N --stop-stage N --lines DIR --split-lists 'TRAIN DEV TEST' --group-by line|folder"
  echo "         --image-suffix SUFFIX --seed N --normalization NFC|NFD|NFKC|NFKD|none --bidi R|L|auto|none"
  echo "         --right-to-left --work DIR --experiment NAME --name EXP --overrides 'k=v ...' --results FILE --overwrite"
  echo "         (--image-suffix: the image that trains when a line has several, e.g. OCRopus' .bin.png;"
  echo "          --seed: the shuffle of the split by line or folder when no --split-lists are given;"
  echo "          --bidi: the paragraph direction that lays out the labels in display order, default none;"
  echo "          --right-to-left: the demo's lines mirrored and enciphered in Arabic letters, --bidi R unless given)"
}
parse_options "stage stop_stage lines split_lists group_by image_suffix seed normalization bidi right_to_left work results experiment name overrides overwrite" "$@"
form=$(hydra_normalization "$normalization")
if $right_to_left; then
  [ -z "$lines" ] || { echo "run.sh: --right-to-left writes the demo in a right-to-left script; for your own lines give --bidi R" >&2; exit 2; }
  bidi=${bidi:-R}
fi
bidi=${bidi:-none}
direction=$(hydra_bidi "$bidi")
case "$group_by" in
  line|folder) ;;
  *) echo "run.sh: --group-by must be line or folder, got '$group_by'" >&2; exit 2 ;;
esac

split_list_files "$split_lists"
[ "$work" = . ] || { mkdir -p "$work"; work="$(cd "$work" && pwd)"; }  # before --results, which may lie in it
absolute_paths --dir lines --file results
cd "$recipe_dir"
script=""
demo_args=()
if $right_to_left; then script=_rtl demo_args=(--right-to-left); fi
data="$work/data/lines$script"
exp="$work/exp/${name:-blstm_${experiment}$script}"
results=${results:-RESULTS$script.md}
demo="$work/data/lines_demo$script"
given="$lines"
if [ -z "$given" ] && $right_to_left; then
  lines="$demo/lines"
  split_files=("$demo/splits/train.lst" "$demo/splits/dev.lst" "$demo/splits/test.lst")
  corpus_note="the embedded demo in a right-to-left script: mini-IAM (\`python -m asr_lstm.data.generators.mini_iam\`) written as a folder of line images with .gt.txt files, a folder per form, by \`python -m asr_lstm.data.generators.line_folder_demo --right-to-left\`: every image mirrored, so that its line reads from right to left, and every letter and digit of its transcription enciphered as an Arabic letter, spaces and punctuation kept (mini-IAM's LWITLRT split lists by form)"
elif [ -z "$given" ]; then
  lines="$demo/lines"
  split_files=("$demo/splits/train.lst" "$demo/splits/dev.lst" "$demo/splits/test.lst")
  corpus_note="the embedded demo: mini-IAM (\`python -m asr_lstm.data.generators.mini_iam\`) written as a folder of line images with .gt.txt files, a folder per form, by \`python -m asr_lstm.data.generators.line_folder_demo\` (mini-IAM's LWITLRT split lists by form)"
else
  corpus_note="line images with .gt.txt files in $lines"
fi
if [ "${#split_files[@]}" -eq 3 ]; then
  splits_note="from the split lists ${split_files[*]}"
  split_args=(--split-lists "${split_files[@]}")
  split_overrides=("data.corpus.split_lists={train:${split_files[0]},dev:${split_files[1]},test:${split_files[2]}}")
else
  splits_note="a seeded (seed $seed) 80/10/10 split by $group_by"
  split_args=(--seed "$seed" --group-by "$group_by")
  split_overrides=(data.corpus.seed="$seed" data.corpus.group_by="$group_by")
fi
suffix_args=()
[ -z "$image_suffix" ] || suffix_args=(--image-suffix "$image_suffix")
# One set of overrides for every stage, so that preparation, training and decoding agree.
hydra_args=(experiment="$experiment" data.corpus.lines="$lines" data.work_dir="$data" "${split_overrides[@]}"
            data.corpus.image_suffix="${image_suffix:-null}" data.normalization="$form" data.bidi="$direction")
# shellcheck disable=SC2206
hydra_args+=($overrides)

if $overwrite; then overwrite_stages "$given" "$demo"; fi

if selected 0; then
  if [ -n "$given" ]; then
    log "Stage 0: corpus: using $lines"
  else
    corpus_stage "" mini_iam "$work/data/mini_iam"
    log "Stage 0: corpus: mini-IAM's lines written as line images with .gt.txt files in $demo"
    python -m asr_lstm.data.generators.line_folder_demo --iam "$work/data/mini_iam" --out "$demo" "${demo_args[@]}"
  fi
fi

if selected 1; then
  log "Stage 1: manifests ($splits_note)"
  python -m asr_lstm.data.corpora.line_folder --lines "$lines" --out "$data" "${split_args[@]}" "${suffix_args[@]}" \
    --normalization "$normalization" --bidi "$bidi"
fi

if selected 2; then features_stage "line-image features and normalisation statistics" "${hydra_args[@]}"; fi

if selected 3; then train_stage "${hydra_args[@]}"; fi

if selected 4; then greedy_decode_stage "CER, WER"; fi

if selected 5; then export_stage; fi

if selected 6; then
  report_stage "Line images with .gt.txt transcriptions: conv + BLSTM-CTC over characters" "$corpus_note" \
    "splits: $splits_note (bad lines skipped: see the skipped rows)" \
    "labels: the characters of each line's transcription, \`|\` between words (+ CTC blank)$(label_order_note "$bidi"); CER over those, spaces included; WER over the words"
fi

#!/usr/bin/env bash
# Handwritten pages of your own (PAGE-XML or ALTO, as Transkribus, eScriptorium or kraken export
# them), with convolution blocks and a stacked BLSTM-CTC over the characters of their lines (CER, WER).
#
#   ./run.sh                                 # the embedded demo: mini-IAM's lines composed into pages
#   ./run.sh --pages /exports/my_book        # your own: page files and their images (split 80/10/10 by page)
#   ./run.sh --pages DIR --split-lists 'train.lst dev.lst test.lst'   # or lists of page files per split
#   ./run.sh --pages DIR --bidi R            # a right-to-left script (Arabic, Hebrew): labels in display order
#
# Stages: 0 corpus, 1 lines cut from the pages + manifests, 2 features, 3 train, 4 decode (greedy)
# + score, 5 export + check (model.asrlstm, model.onnx) and the test pages decoded back into
# PAGE-XML / ALTO copies, 6 RESULTS.md.
# Every stage skips what is already done (and says so); --overwrite redoes the selected stages.
# Training resumes from exp/<name>/checkpoints/last.ckpt.
set -euo pipefail

recipe_dir="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=SCRIPTDIR/../common/recipe.sh
source "$recipe_dir/../common/recipe.sh"
recipe_command="./run.sh${*:+$(printf ' %q' "$@")}"
stage=0
stop_stage=6
pages=""
split_lists=""
seed=0
normalization=NFC
bidi=none
work=.
results=""
experiment=mini_pages
name=""
overrides=""
overwrite=false

usage() {
  sed -n '2,14p' "$0"
  echo "options: --stage N --stop-stage N --pages DIR --split-lists 'TRAIN DEV TEST' --seed N --work DIR"
  echo "         --normalization NFC|NFD|NFKC|NFKD|none --bidi R|L|auto|none --experiment NAME --name EXP"
  echo "         --overrides 'k=v ...' --results FILE --overwrite"
  echo "         (--normalization: the Unicode form of the transcriptions, default NFC;"
  echo "          --bidi: the paragraph direction that lays out the labels in display order, default none;"
  echo "          --seed: the shuffle of the pages split 80/10/10 when no --split-lists are given)"
}
parse_options "stage stop_stage pages split_lists seed normalization bidi work results experiment name overrides overwrite" "$@"
form=$(hydra_normalization "$normalization")
direction=$(hydra_bidi "$bidi")

split_list_files "$split_lists"
[ "$work" = . ] || { mkdir -p "$work"; work="$(cd "$work" && pwd)"; }  # before --results, which may lie in it
absolute_paths --dir pages --file results
cd "$recipe_dir"
data="$work/data/page"
exp="$work/exp/${name:-blstm_${experiment}}"
results=${results:-RESULTS.md}
demo="$work/data/page_demo"
given="$pages"
if [ -z "$given" ]; then
  pages="$demo/pages"
  split_files=("$demo/splits/train.lst" "$demo/splits/dev.lst" "$demo/splits/test.lst")
  corpus_note="the embedded demo: mini-IAM (\`python -m asr_lstm.data.generators.mini_iam\`) composed into a page per form by \`python -m asr_lstm.data.generators.page_demo\` (each line turned by up to 2 degrees, PAGE-XML 2019 with line polygons, baselines and TextEquiv; mini-IAM's LWITLRT split lists by page)"
else
  corpus_note="PAGE-XML / ALTO pages in $pages"
fi
if [ "${#split_files[@]}" -eq 3 ]; then
  splits_note="by page, from the split lists ${split_files[*]}"
  split_args=(--split-lists "${split_files[@]}")
  split_override="data.corpus.split_lists={train:${split_files[0]},dev:${split_files[1]},test:${split_files[2]}}"
else
  splits_note="by page, a seeded (seed $seed) 80/10/10 split of the pages"
  split_args=(--seed "$seed")
  split_override="data.corpus.seed=$seed"
fi
# One set of overrides for every stage, so that preparation, training and decoding agree.
hydra_args=(experiment="$experiment" data.corpus.pages="$pages" data.work_dir="$data" "$split_override"
            data.normalization="$form" data.bidi="$direction")
# shellcheck disable=SC2206
hydra_args+=($overrides)

if $overwrite; then overwrite_stages "$given" "$demo"; fi

if selected 0; then
  if [ -n "$given" ]; then
    log "Stage 0: corpus: using $pages"
  else
    corpus_stage "" mini_iam "$work/data/mini_iam"
    log "Stage 0: corpus: mini-IAM's lines composed into pages in $demo"
    python -m asr_lstm.data.generators.page_demo --iam "$work/data/mini_iam" --out "$demo"
  fi
fi

if selected 1; then
  log "Stage 1: lines cut from the pages by their polygons, levelled along their baselines; manifests ($splits_note)"
  python -m asr_lstm.data.corpora.page --pages "$pages" --out "$data" "${split_args[@]}" --normalization "$normalization" \
    --bidi "$bidi"
fi

if selected 2; then features_stage "line-image features and normalisation statistics" "${hydra_args[@]}"; fi

if selected 3; then train_stage "${hydra_args[@]}"; fi

if selected 4; then greedy_decode_stage "CER, WER"; fi

if selected 5; then
  export_stage
  log "Stage 5: the test pages decoded into copies of their page files in $exp/decoded_pages"
  mapfile -t test_pages < <(python -c 'import json, sys
print("\n".join(sorted({json.loads(line)["page"] for line in open(sys.argv[1])})))' "$data/test.jsonl")
  asr-lstm decode "$exp/model.asrlstm" "${test_pages[@]}" --page-out "$exp/decoded_pages" -o "$exp/decoded_pages/hyp.txt"
fi

if selected 6; then
  report_stage "Handwritten pages (PAGE-XML / ALTO): conv + BLSTM-CTC over characters" "$corpus_note" \
    "splits: $splits_note; lines cut by their polygons and levelled along their baselines (bad lines skipped: see the skipped rows)" \
    "labels: the characters of each line's transcription, \`|\` between words (+ CTC blank)$(label_order_note "$bidi"); CER over those, spaces included; WER over the words"
fi

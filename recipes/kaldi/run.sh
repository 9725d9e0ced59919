#!/usr/bin/env bash
# Your own speech corpus as Kaldi data directories, with a stacked BLSTM-CTC over characters (CER, WER),
# lexicon phones (PER, WER) or sentencepiece subwords (WER).
#
#   ./run.sh                                              # the embedded demo (mini-TIMIT as Kaldi data dirs)
#   ./run.sh --train data/train --dev data/dev --test data/test   # your own (wav.scp, text[, segments, utt2spk])
#   ./run.sh --units phone --lexicon lexicon.txt          # phones of a 'word p1 p2 ...' lexicon
#   ./run.sh --units bpe --vocab-size 300                 # BPE pieces trained on the training text
#
# Stages: 0 corpus, 1 validation + manifests, 2 features, 3 train, 4 decode (greedy) + score,
# 5 export + check (model.asrlstm, model.onnx), 6 RESULTS.md.
# Every stage skips what is already done (and says so); --overwrite redoes the selected stages.
# Training resumes from exp/<name>/checkpoints/last.ckpt.
set -euo pipefail

recipe_dir="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=SCRIPTDIR/../common/recipe.sh
source "$recipe_dir/../common/recipe.sh"
recipe_command="./run.sh${*:+$(printf ' %q' "$@")}"
stage=0
stop_stage=6
train=""
dev=""
test=""
allow_pipes=false
units=char
lexicon=""
oov=""
vocab_size=""
normalization=NFC
work=.
results=""
experiment=mini_timit
name=""
overrides=""
overwrite=false

usage() {
  sed -n '2,10p' "$0"
  echo "options: --stage N --stop-stage N --train DIR --dev DIR --test DIR --allow-pipes --work DIR"
  echo "         --units char|phone|bpe|unigram --lexicon FILE --oov LABEL --vocab-size N"
  echo "         --normalization NFC|NFD|NFKC|NFKD|none (the Unicode form of the transcriptions, default NFC)"
  echo "         --experiment NAME --name EXP --overrides 'k=v ...' --results FILE --overwrite"
  echo "         (--allow-pipes: run the commands of wav.scp lines ending in '|', in a shell;"
  echo "          --lexicon: with --units phone, default the demo's lexicon.txt; --oov: the label of words"
  echo "          missing from it, else they are an error; --vocab-size: pieces of a bpe or unigram model)"
}
parse_options "stage stop_stage train dev test allow_pipes units lexicon oov vocab_size normalization work results experiment name overrides overwrite" "$@"
form=$(hydra_normalization "$normalization")
case "$units" in
  char|phone|bpe|unigram) ;;
  *) echo "run.sh: --units must be char, phone, bpe or unigram, got '$units'" >&2; exit 2 ;;
esac

given=""
if [ -n "$train$dev$test" ]; then
  if [ -z "$train" ] || [ -z "$dev" ] || [ -z "$test" ]; then
    echo "run.sh: give all three of --train, --dev and --test (or none, for the embedded demo)" >&2
    exit 2
  fi
  absolute_paths --dir train dev test
  given="$train"
fi
[ "$work" = . ] || { mkdir -p "$work"; work="$(cd "$work" && pwd)"; }  # before --results, which may lie in it
absolute_paths --file results lexicon
cd "$recipe_dir"
# stage 1 validates the directories into data/kaldi (character labels, the corpus's own); other units
# label the same utterances in data/kaldi_<units> at stage 2
suffix=""
[ "$units" = char ] || suffix="_$units"
validated="$work/data/kaldi"
data="$validated$suffix"
exp="$work/exp/${name:-blstm_kaldi_${experiment}${suffix}}"
results=${results:-RESULTS${suffix}.md}
demo="$work/data/kaldi_demo"
if [ -z "$given" ]; then
  train="$demo/train" dev="$demo/dev" test="$demo/test"
  corpus_note="the embedded demo: mini-TIMIT (\`python -m asr_lstm.data.generators.mini_timit\`) written as Kaldi data directories by \`python -m asr_lstm.data.generators.kaldi_demo\` (dev and test: one recording per speaker, cut by \`segments\`)"
else
  corpus_note="Kaldi data directories: train $train, dev $dev, test $test"
fi
pipes=()
$allow_pipes && pipes=(--allow-pipes)
# One set of overrides for every stage, so that preparation, training and decoding agree.
hydra_args=(data=kaldi experiment="$experiment" data.corpus.train="$train" data.corpus.dev="$dev"
            data.corpus.test="$test" data.corpus.allow_pipes="$allow_pipes" data.work_dir="$data"
            data.normalization="$form")
[ "$units" = char ] || hydra_args+=(units="$units")
units_note="the characters of the words of \`text\`, \`|\` between words (+ CTC blank); CER over those, WER over the words"
case "$units" in
  phone)
    if [ -z "$lexicon" ]; then
      [ -z "$given" ] || { echo "run.sh: --units phone needs --lexicon FILE for your own data" >&2; exit 2; }
      # the demo lexicon's words are those of the word alignments; one word of the demo ("cross" of
      # "hot-cross", which the alignment runs into "hot") is in none, hence the OOV label
      lexicon="$demo/lexicon.txt" oov=${oov:-"<unk>"}
    fi
    hydra_args+=(data.units.lexicon="$lexicon")
    [ -z "$oov" ] || hydra_args+=("data.units.oov='$oov'")  # quoted: Hydra's grammar reads <unk> as syntax
    units_note="the phones of each word's first pronunciation in $(basename "$lexicon"), \`|\` between words${oov:+, \`$oov\` for a word not in it} (+ CTC blank); PER over those, WER over the words read back through the lexicon" ;;
  bpe|unigram)
    [ -z "$vocab_size" ] || hydra_args+=(data.units.vocab_size="$vocab_size")
    units_note="the pieces of a sentencepiece $units model of ${vocab_size:-500} pieces trained on the training text (+ CTC blank); WER over the words, TER over the pieces" ;;
esac
# shellcheck disable=SC2206
hydra_args+=($overrides)

if $overwrite; then
  overwrite_stages "$given" "$demo"
  if selected 1; then rm -f "$validated/.prepare.done"; fi
fi

if selected 0; then
  if [ -n "$given" ]; then
    log "Stage 0: corpus: using $train, $dev, $test"
  else
    corpus_stage "" mini_timit "$work/data/mini_timit"
    log "Stage 0: corpus: mini-TIMIT as Kaldi data directories in $demo"
    python -m asr_lstm.data.generators.kaldi_demo --timit "$work/data/mini_timit" --out "$demo"
  fi
fi

if selected 1; then
  log "Stage 1: manifests (the data directories validated as Kaldi's validate_data_dir.sh does)"
  python -m asr_lstm.data.corpora.kaldi --train "$train" --dev "$dev" --test "$test" --out "$validated" "${pipes[@]}" \
    --normalization "$normalization"
fi

if selected 2; then features_stage "features and CMVN statistics" "${hydra_args[@]}"; fi

if selected 3; then train_stage "${hydra_args[@]}"; fi

if selected 4; then greedy_decode_stage "units $units; WER"; fi

if selected 5; then export_stage; fi

if selected 6; then
  report_stage "Speech recognition from Kaldi data directories: BLSTM-CTC over $units units" "$corpus_note" \
    "labels: $units_note"
fi

# shellcheck shell=bash disable=SC2154  # stage, data, exp, ...: the variables of the run.sh sourcing this
# What every recipes/<corpus>/run.sh shares: option parsing, logging, stage selection, the --overwrite
# clean-up, and the stages that do not depend on the corpus (corpus generation, training, export and
# its check, RESULTS.md). Sourced by run.sh; defines functions only. They read run.sh's variables
# stage, stop_stage, data (prepared corpus), exp (experiment folder), results and recipe_command.

log() { echo "$(date '+%Y-%m-%d %H:%M:%S') $*"; }

# parse_options "NAME ..." "$@": `--some-name VALUE` (or `--some_name VALUE`) sets run.sh's variable
# some_name, which must be one of NAME ...; a NAME whose default is `false` is a flag, which
# `--some-name` alone sets to true. -h/--help runs run.sh's `usage` and exits 0; anything else is
# refused with exit code 2, and so are --stage and --stop-stage (where NAME ... has both) unless they
# are stages of the recipe (0 to the default of stop_stage), the first not after the last.
parse_options() {
  local __names=" ${1//[[:space:]]/ } " __option __variable __last=${stop_stage:-} __bad=()
  shift
  while [ $# -gt 0 ]; do
    __option=$1
    case "$__option" in -h|--help) usage; exit 0 ;; esac
    __variable="${__option#--}"
    __variable="${__variable//-/_}"
    if [ "${__option:0:2}" != "--" ] || [[ "$__names" != *" $__variable "* ]]; then
      echo "run.sh: unknown option $__option" >&2
      usage >&2
      exit 2
    fi
    if [ "${!__variable}" = false ]; then
      printf -v "$__variable" true
      shift
    elif [ $# -ge 2 ]; then
      printf -v "$__variable" '%s' "$2"
      shift 2
    else
      echo "run.sh: $__option needs a value" >&2
      exit 2
    fi
  done
  [[ "$__names" == *" stage "* && "$__names" == *" stop_stage "* ]] || return 0  # a script without stages
  for __variable in stage stop_stage; do
    [[ "${!__variable}" =~ ^[0-9]+$ ]] && [ "${!__variable}" -le "$__last" ] && continue
    __bad+=("--${__variable//_/-} ${!__variable}: not a stage of this recipe (0 to $__last)")
  done
  if [ ${#__bad[@]} -eq 0 ] && [ "$stage" -gt "$stop_stage" ]; then
    __bad+=("--stage $stage comes after --stop-stage $stop_stage: no stage would run")
  fi
  if [ ${#__bad[@]} -gt 0 ]; then
    printf 'run.sh: %s\n' "${__bad[@]}" >&2
    exit 2
  fi
}

# split_list_files "TRAIN DEV TEST": the three files of --split-lists, made absolute, into the array
# split_files (empty for an empty argument); exits 2 unless there are three.
split_list_files() {
  split_files=()
  [ -n "$1" ] || return 0
  # shellcheck disable=SC2206
  split_files=($1)
  [ "${#split_files[@]}" -eq 3 ] || { echo "run.sh: --split-lists needs three files (train, dev, test)" >&2; exit 2; }
  local k
  for k in 0 1 2; do split_files[k]="$(cd "$(dirname "${split_files[k]}")" && pwd)/$(basename "${split_files[k]}")"; done
}

# The Hydra value of a --normalization form (null for none), or exit 2 naming the choices.
hydra_normalization() {
  case "$1" in
    NFC|NFD|NFKC|NFKD) echo "$1" ;;
    none) echo null ;;
    *) echo "run.sh: --normalization must be NFC, NFD, NFKC, NFKD or none, got '$1'" >&2; exit 2 ;;
  esac
}

# hydra_bidi BIDI: --bidi (R, L, auto, none) as data.bidi's value; exits 2 on anything else.
hydra_bidi() {
  case "$1" in
    R|L|auto) echo "$1" ;;
    none) echo null ;;
    *) echo "run.sh: --bidi must be R, L, auto or none, got '$1'" >&2; exit 2 ;;
  esac
}

# label_order_note BIDI: what RESULTS.md says of the labels' order under --bidi (nothing for none).
label_order_note() {
  [ "$1" = none ] || echo ", in the display order of the line (\`data.bidi=$1\`: laid out by the Unicode Bidirectional Algorithm, left to right as the image shows them; hypotheses read back in logical order)"
}

# absolute_paths [--dir NAME ...] [--file NAME ...]: run.sh's variables NAME, the paths of options,
# made absolute (the recipe then runs from its own folder): a --dir names an existing directory, a
# --file a file in an existing one (what it reads or writes). An empty variable is left alone. Every
# path that is not there is named, with its option, and refused with exit code 2.
absolute_paths() {
  local kind=--dir name value folder bad=()
  for name in "$@"; do
    case "$name" in --dir|--file) kind=$name; continue ;; esac
    value=${!name}
    [ -n "$value" ] || continue
    folder=$value
    [ "$kind" = --dir ] || folder=$(dirname "$value")
    if [ ! -d "$folder" ] && [ "$kind" = --dir ]; then
      bad+=("--${name//_/-} $value: no such directory")
      continue
    elif [ ! -d "$folder" ]; then
      bad+=("--${name//_/-} $value: no such directory $folder")
      continue
    fi
    folder=$(cd "$folder" && pwd)
    if [ "$kind" = --dir ]; then printf -v "$name" '%s' "$folder"; else printf -v "$name" '%s/%s' "$folder" "$(basename "$value")"; fi
  done
  if [ ${#bad[@]} -gt 0 ]; then
    printf 'run.sh: %s\n' "${bad[@]}" >&2
    exit 2
  fi
}

# selected N: stage N lies between --stage and --stop-stage.
selected() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }

# stage_done NAME PARAMS: true when the marker $exp/.NAME.done holds exactly PARAMS, the parameters
# that made the stage's output; a marker with other parameters is removed, and the log says what
# changed, so that the stage runs again. A stage's PARAMS include the markers of the stages it reads,
# so a changed parameter redoes its stage and the ones after it, and no earlier one.
stage_done() {
  local marker="$exp/.$1.done"
  [ -f "$marker" ] && [ "$(cat "$marker")" = "$2" ] && return 0
  if [ -f "$marker" ]; then
    log "$1: its parameters changed, redoing it"
    log "  was: $(cat "$marker")"
    log "  now: $2"
    rm -f "$marker"
  fi
  return 1
}

# grid KEY 'V V ...': the `--grid KEY=V,V,...` option of `asr-lstm evaluate` (tune KEY on dev), or
# nothing for an empty list.
grid() {
  local values
  values=$(echo $2 | tr ' ' ',')  # word splitting of the unquoted list drops extra spaces
  [ -n "$values" ] && echo "--grid $1=$values"
  return 0
}

# mark_stage NAME PARAMS: writes the marker of a finished stage (atomically).
mark_stage() {
  mkdir -p "$exp"
  printf '%s' "$2" > "$exp/.$1.done.tmp"
  mv "$exp/.$1.done.tmp" "$exp/.$1.done"
}

# stage_params NAME: the parameters recorded by the marker of a finished stage ("" when not finished).
stage_params() { cat "$exp/.$1.done" 2>/dev/null || true; }

# overwrite_stages GIVEN_CORPUS FOLDER: removes what the selected stages made, so that they run again;
# the corpus FOLDER only when it was generated (GIVEN_CORPUS empty): a user's corpus is never removed.
overwrite_stages() {
  log "--overwrite: redoing stages $stage..$stop_stage"
  if selected 0 && [ -z "$1" ]; then rm -rf "$2"; fi
  if selected 1; then rm -f "$data/.prepare.done"; fi
  # Feature caches are named <kind>-<8 hex digits of their config> (asr_lstm/data/features.py).
  if selected 2; then rm -rf "$data"/*-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]; fi
  if selected 3; then rm -rf "$exp"; fi
  if selected 4; then rm -rf "$exp"/decode_* "$exp/.decode.done" "$data/lm"; fi
  if selected 5; then rm -rf "$exp/model.asrlstm" "$exp/model.onnx" "$exp/model.stream.onnx" "$exp/export_check" "$exp/.export.done"; fi
}

# corpus_stage GIVEN_CORPUS GENERATOR FOLDER: stage 0: the user's corpus when given, else the
# embedded one, generated into FOLDER by `python -m asr_lstm.data.generators.GENERATOR` (which skips
# a finished one).
corpus_stage() {
  if [ -n "$1" ]; then
    log "Stage 0: corpus: using $1"
  else
    log "Stage 0: corpus: generating $2 in $3"
    python -m "asr_lstm.data.generators.$2" --out "$3"
  fi
}

# features_stage WHAT HYDRA_OVERRIDE...: stage 2: `asr-lstm prepare` (manifests if not yet there, then
# the feature cache and the normalisation statistics), which skips what is cached; WHAT goes in the log.
features_stage() {
  log "Stage 2: $1"
  shift
  asr-lstm prepare "$@" hydra.run.dir="$work/exp/.prepare"
}

# train_stage HYDRA_OVERRIDE...: stage 3: `asr-lstm train` into $exp, which resumes from its
# last.ckpt after an interruption with the same overrides; other overrides start it afresh (a run
# made with other options is removed first). The recipe command is kept beside the run.
train_stage() {
  local params="train: $*"
  if stage_done train "$params"; then
    log "Stage 3: train: $exp already trained, skipping"
    return
  fi
  if [ -f "$exp/.train.params" ] && [ "$(cat "$exp/.train.params")" != "$params" ]; then
    log "Stage 3: $exp was trained with other options; removing it to train afresh"
    rm -rf "$exp"
  fi
  log "Stage 3: train -> $exp"
  mkdir -p "$exp"
  printf '%s' "$params" > "$exp/.train.params"
  echo "$recipe_command" > "$exp/recipe_command.txt"
  asr-lstm train "$@" hydra.run.dir="$exp"
  mark_stage train "$params"
}

# latency_controlled EXP: whether the run's model reads its input in chunks (model.chunk_frames set in
# the config.yaml training wrote, a top-level node's keys indented by two), a model with no whole-input
# ONNX graph but a window graph.
latency_controlled() {
  grep -qsE '^  chunk_frames: [0-9]+$' "$1/config.yaml"
}

# export_stage: stage 5: exports $exp/model.asrlstm, decodes $data/test.jsonl from it (without the
# items the training skipped, as stage 4) and fails unless the error counts are those of stage 4's
# greedy decode_test; then the ONNX export, which checks itself against onnxruntime (a
# latency-controlled model's window graph, model.stream.onnx, checked over a stream).
export_stage() {
  local params="export of: $(stage_params train)"
  if stage_done export "$params"; then
    log "Stage 5: export: $exp/model.asrlstm already exported and checked, skipping"
    return
  fi
  log "Stage 5: export $exp/model.asrlstm, decode the test set from it, compare with stage 4"
  asr-lstm export "$exp" -o "$exp/model.asrlstm"
  mkdir -p "$exp/export_check"
  asr-lstm decode "$exp/model.asrlstm" "$data/test.jsonl" --tokens --exclude "$exp/skipped.tsv" \
    -o "$exp/export_check/hyp.txt"
  asr-lstm score "$exp/decode_test/ref.txt" "$exp/export_check/hyp.txt" --out "$exp/export_check" \
    --same-as "$exp/decode_test/metrics.json"
  if latency_controlled "$exp"; then
    log "Stage 5: ONNX window graph of a latency-controlled model, checked against onnxruntime over a stream"
    asr-lstm export "$exp/model.asrlstm" --onnx-stream "$exp/model.stream.onnx"
  else
    log "Stage 5: ONNX export of the acoustic model, checked against onnxruntime"
    asr-lstm export "$exp/model.asrlstm" --onnx "$exp/model.onnx"
  fi
  mark_stage export "$params"
}

# greedy_decode_stage RATES: stage 4 of the generic recipes: greedy decoding and scoring of dev and
# test by `asr-lstm evaluate` (RATES, what is scored, goes in the log), redone when the model changes.
greedy_decode_stage() {
  local params="decode: greedy; model: $(stage_params train)"
  if stage_done decode "$params"; then
    log "Stage 4: decode: $exp already decoded, skipping"
    return
  fi
  log "Stage 4: greedy decoding and scoring of dev and test ($1)"
  asr-lstm evaluate "$exp" --splits dev test
  mark_stage decode "$params"
}

# report_stage TITLE CORPUS_NOTE [PROTOCOL_NOTE...]: stage 6: $results from $exp and $data, then its
# table's header and bold rows on stdout.
report_stage() {
  local title=$1 corpus_note=$2 note notes=()
  shift 2
  for note in "$@"; do notes+=(--note "$note"); done
  log "Stage 6: $results"
  asr-lstm report "$exp" --data-dir "$data" --out "$results" --title "$title" --corpus "$corpus_note" "${notes[@]}" \
    --recipe-command "$(cat "$exp/recipe_command.txt" 2>/dev/null || echo "$recipe_command")" \
    --wall-time "stages $stage-$stop_stage of this run.sh invocation took $((SECONDS / 60)) min $((SECONDS % 60)) s"
  grep -E '^\| (exp|.*\*\*)' "$results"
}

#!/usr/bin/env bash
# Every GPU measurement and check the README's GPU sections rest on, in one run, each step under its
# own time limit so that a slow or failing one leaves the others' results:
#
#   scripts/gpu_checks.sh [OUT] [STEP ...]   # OUT: the results folder, default exp/gpu_checks;
#                                            # STEP: device tests bench_b16 bench_graphs bench_host
#                                            # bench_b64 recipe (default all; bench: the four benchmarks)
#
#   device.txt       the GPU, torch, Triton, CUDA
#   tests.txt        the CUDA cases of the cell, kernel, model, streaming and latency-control tests
#   bench_b16.txt    scripts/bench_cells.py at T=300, B=16, D=123, H=256: stack and single layer, fp32 and
#                    bf16, each cell over nn.LSTM (cuDNN), over its eager loop, over torch's product
#                    beside the kernels and, in the stack, over its directions launched apart; and with
#                    one launch a loop (fused.PERSISTENT) over nn.LSTM
#   bench_graphs.txt the stack of bench_b16 with --graphs, without the other comparisons: each step also
#                    captured as one CUDA graph and replayed, the floor that removing the host's launches
#                    could reach
#   bench_host.txt   scripts/bench_host.py: the host time of a step with real launches
#   bench_b64.txt    the stack of bench_b16 at B=64, H=512 (the issue's second shape)
#   recipe.txt       recipes/timit on mini-TIMIT under trainer.precision=bf16-mixed, every stage: cuDNN's
#                    lstm, then peephole_diag on the fused kernels; each run's log, then the RESULTS.md it wrote
#   steps.txt        the project's requirements PYTHON does not meet (scripts/check_requirements.py),
#                    each step's exit status and seconds, or why it did not run; printed at the end (the
#                    script exits 1 where a step failed or a requirement is unmet)
#
# BUDGET=SECONDS bounds the whole run where the GPU is lent by the minute: each step's limit shrinks
# to what is left, and a step left under 30 s is not started (steps.txt says so, and naming the steps
# that did not run in a second call finishes the set). The steps run in the order above, the
# correctness checks first. A guess until measured, in minutes of an H100: under 1, 2, 4, 2, 1, 3, 3. Eight
# files in all, the most a lent GPU machine hands back.
#
# Needs the project installed for PYTHON (python3; on a machine without a network, from wheels made
# where there is one: `pip wheel --no-deps -w DIR .` and its dependencies'). Environment: PYTHON,
# BUDGET, BENCH_ARGS (extra arguments of every bench_cells.py run, e.g. --repeats 2), EPOCHS (the recipe's, 20).
set -uo pipefail

out=${1:-exp/gpu_checks}
shift $(($# > 0 ? 1 : 0))
known="device tests bench bench_b16 bench_graphs bench_host bench_b64 recipe"
steps=${*:-device tests bench_b16 bench_graphs bench_host bench_b64 recipe}
unknown=""
for name in $steps; do
  [[ " $known " == *" $name "* ]] || unknown+=" $name"
done
[ -z "$unknown" ] || { echo "gpu_checks.sh: unknown steps:$unknown (steps: $known)" >&2; exit 2; }
python=$(command -v "${PYTHON:-python3}") || { echo "gpu_checks.sh: no Python at PYTHON=${PYTHON:-python3}" >&2; exit 2; }
[[ "$python" == /* ]] || python=$PWD/$python  # the steps run from the repository's root
epochs=${EPOCHS:-20}
budget=${BUDGET:-0}
[[ "$budget" =~ ^[0-9]+$ ]] || { echo "gpu_checks.sh: BUDGET=$budget is not a number of seconds" >&2; exit 2; }
[[ "$epochs" =~ ^[1-9][0-9]*$ ]] || { echo "gpu_checks.sh: EPOCHS=$epochs is not a number of epochs" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PYTHONUNBUFFERED=1

step() {  # step NAME LIMIT_SECONDS COMMAND...: runs COMMAND into $out/NAME.txt (appended to $out/$log.txt
  # where log is set) and says how it ended
  local name=$1 limit=$2
  shift 2
  [[ " $steps " == *" ${name%%_*} "* || " $steps " == *" $name "* ]] || return 0
  if ((budget > 0)); then
    local left=$((budget - SECONDS))
    if ((left < 30)); then
      echo "$name: not run, ${left} s of BUDGET=$budget left" | tee -a "$out/steps.txt"
      return 0
    fi
    ((limit <= left)) || limit=$left
  fi
  local start=$SECONDS
  if [ -n "${log:-}" ]; then
    timeout "$limit" "$@" >>"$out/$log.txt" 2>&1
  else
    timeout "$limit" "$@" >"$out/$name.txt" 2>&1
  fi
  local status=$?
  ((status == 0)) || failed+=" $name"
  echo "$name: exit $status after $((SECONDS - start)) s" | tee -a "$out/steps.txt"
}

if ! (cd / && "$python" -c "import asr_lstm.conf") 2>/dev/null; then
  echo "asr_lstm is not installed for $python: pip install . (or its wheel: pip wheel --no-deps -w DIR .)" |
    tee -a "$out/steps.txt"
  exit 1
fi
failed=""
"$python" scripts/check_requirements.py --extras onnx 2>&1 | tee -a "$out/steps.txt" || failed+=" requirements"
shim=$(mktemp -d)  # the recipe calls `python` and `asr-lstm`: PYTHON's, wherever it keeps its scripts
printf '#!/bin/sh\nexec %q "$@"\n' "$python" >"$shim/python"
printf '#!/bin/sh\nexec %q -m asr_lstm.cli.main "$@"\n' "$python" >"$shim/asr-lstm"
chmod +x "$shim/python" "$shim/asr-lstm"
export PATH="$shim:$PATH"

step device 60 "$python" -c "
import torch, triton
print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__)
print(torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA device')"
step tests 300 "$python" -m pytest -q -rs -p no:cacheprovider tests/unit/test_fused.py tests/unit/test_cells.py \
  tests/unit/test_models.py tests/unit/test_streaming.py tests/unit/test_latency_control.py -k cuda
# shellcheck disable=SC2086
step bench_b16 420 "$python" scripts/bench_cells.py --repeats 3 ${BENCH_ARGS:-}
# shellcheck disable=SC2086
step bench_graphs 300 "$python" scripts/bench_cells.py --repeats 3 --layouts stack --graphs \
  --without loop mm unpaired persistent \
  ${BENCH_ARGS:-}
step bench_host 120 "$python" scripts/bench_host.py
# shellcheck disable=SC2086
step bench_b64 420 "$python" scripts/bench_cells.py --repeats 3 --layouts stack --batch 64 --hidden 512 ${BENCH_ARGS:-}
work=$(mktemp -d)
for cell in lstm peephole_diag; do
  log=recipe step "recipe_$cell" 300 recipes/timit/run.sh --work "$work" --name "bf16_$cell" \
    --results "$work/RESULTS_$cell.md" \
    --overrides "cell=$cell trainer.precision=bf16-mixed trainer.max_epochs=$epochs trainer.enable_progress_bar=false"
  [ -f "$work/RESULTS_$cell.md" ] && cat "$work/RESULTS_$cell.md" >>"$out/recipe.txt"
done
echo "--- $out/steps.txt"
cat "$out/steps.txt" 2>/dev/null
[ -z "$failed" ] || { echo "failed:$failed"; exit 1; }

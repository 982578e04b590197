#!/usr/bin/env bash
# The GPU check in one command (under 5 minutes on one CUDA GPU):
#   1. the parity fixtures (../shared/parity) on CUDA in fp32, held to the CPU tolerances (1e-4, 99.9%);
#   2. the same fixtures in the references' fp16 flow, held to the fp16 tolerances stated in the README;
#   3. tools/benchmark.py --device cuda for every method (full-size random ViT-B/16), images/s at 1, 8, 32 crops.
#
#   bash tools/gpu_check.sh              # on a CUDA machine; stops at the first failing step
#   bash tools/gpu_check.sh --dry-run    # no GPU: the same steps on CPU with tiny inputs (tests/tools covers it)
#
# PYTHON picks the interpreter (default .venv/bin/python, else python); GPU_CHECK_LOG is where the step outputs go
# (default gpu_check_<date>.log in the working directory).
set -euo pipefail

cd "$(dirname "$0")/.."
DRY_RUN=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY_RUN=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: error: unknown argument '$arg' (valid: --dry-run, --help)" >&2; exit 2 ;;
  esac
done
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # check this checkout's code, whatever is installed
LOG=${GPU_CHECK_LOG:-gpu_check_$(date -u +%Y%m%dT%H%M%SZ).log}
METHODS=(sclip naclip clearclip scclip proxyclip)
PARITY_TESTS=(tests/models/test_segmentor.py::test_parity_with_reference_outputs
              tests/models/test_scclip.py::test_parity_with_reference_on_mini_clip
              tests/models/test_proxy.py::test_parity_with_reference_on_mini_models)

if [ "$DRY_RUN" = 1 ]; then
  DEVICE=cpu
  # tiny inputs: one parity case per precision, a tiny random CLIP, one 96x128 image (one window), one template
  PARITY_FILTER=(-k "test_parity_with_reference_outputs and sclip")
  BENCH_ARGS=(--preset tiny --image-size 96x128 --repeats 1 --no-text
              --cfg-options model.text_encoder.templates=single)
else
  DEVICE=cuda
  if ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check.sh: error: no CUDA device visible to $PYTHON (torch.cuda.is_available() is False);" \
         "run on a GPU machine, or use --dry-run" >&2
    exit 2
  fi
  PARITY_FILTER=()
  BENCH_ARGS=(--image-size 336x448 --repeats 3)
fi

start=$(date +%s)
step() {  # step NAME COMMAND...: run, append the output to the log, print the last lines and the time taken
  local name=$1; shift
  local t0; t0=$(date +%s)
  echo "== $name" | tee -a "$LOG"
  if ! "$@" >>"$LOG" 2>&1; then
    tail -n 30 "$LOG"
    echo "gpu_check.sh: FAILED at '$name' after $(( $(date +%s) - start )) s; full output in $LOG" >&2
    exit 1
  fi
  echo "   ok ($(( $(date +%s) - t0 )) s)"
}

"$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
  torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")' | tee -a "$LOG"
for precision in fp32 fp16; do
  step "parity on $DEVICE, $precision" env TORCH_DEVICE="$DEVICE" SCLIP_TEST_PRECISION="$precision" \
    "$PYTHON" -m pytest -q -p no:cacheprovider "${PARITY_TESTS[@]}" "${PARITY_FILTER[@]}"
done
for method in "${METHODS[@]}"; do
  step "benchmark $method on $DEVICE" "$PYTHON" tools/benchmark.py --method "$method" --device "$DEVICE" \
    --crop-batch-sizes 1 8 32 "${BENCH_ARGS[@]}"
  grep -E 'crops per pass|per image  ' "$LOG" | tail -n 4
done
echo "gpu_check.sh: all steps passed in $(( $(date +%s) - start )) s ($([ "$DRY_RUN" = 1 ] && echo dry run on CPU ||
  echo CUDA)); full output in $LOG"

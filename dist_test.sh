#!/usr/bin/env bash
# Evaluate a config with N processes under torchrun: bash dist_test.sh CONFIG N [eval.py options...]
# One process per GPU (NCCL); on a machine without CUDA the processes split the images on the CPU (gloo).
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT (defaults 1, 0, 127.0.0.1, 29500). WORK_DIR sets --work-dir.
# OMP_NUM_THREADS: threads per process (default: the cores divided by NUM_PROCESSES).
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: bash dist_test.sh CONFIG NUM_PROCESSES [eval.py options, e.g. --checkpoint FILE]" >&2
    exit 2
fi
CONFIG=$1
GPUS=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -x "$ROOT/.venv/bin/python" ]; then
    PYTHON="$ROOT/.venv/bin/python"
else
    PYTHON=python
fi
# Threads per process: the cores shared out among the processes (torchrun would give each process 1). Only when
# OMP_NUM_THREADS is not set already; GPU processes then keep a fair share of the cores for their data loading.
if [ -z "${OMP_NUM_THREADS:-}" ]; then
    CORES=$(nproc 2>/dev/null || echo 1)
    THREADS=$(( CORES / GPUS ))
    export OMP_NUM_THREADS=$(( THREADS > 0 ? THREADS : 1 ))
fi
EXTRA=()
if [ -n "${WORK_DIR:-}" ]; then
    EXTRA+=(--work-dir "$WORK_DIR")
fi

exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$ROOT/eval.py" --config "$CONFIG" --launcher pytorch ${EXTRA[@]+"${EXTRA[@]}"} "$@"

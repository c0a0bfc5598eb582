#!/usr/bin/env bash
# Usage: tools/gpu_check.sh [--dry-run] [--iters N] [--gpus N] [--work-dir DIR]
# Mixed precision and multi-GPU checks through MMEngine's Runner (tools/gpu_check.py).
# Without CUDA it says so and exits 0; --dry-run runs the same checks on the CPU.
DIR="$(cd "$(dirname "$0")" && pwd)"
PYTHON=${PYTHON:-"$DIR/../.venv/bin/python"}
[ -x "$PYTHON" ] || PYTHON=python
exec "$PYTHON" "$DIR/gpu_check.py" "$@"

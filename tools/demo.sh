#!/usr/bin/env bash
# The demo: generate a synthetic data set, train the CPU demo config, test it
# on the dense test split, print the point metrics and draw a few frames.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
WORK=${WORK:-work_dirs/demo}
DATA=data/synthetic

if [ ! -f "$DATA/annotations/test.json" ]; then
  echo "== generating the synthetic data set in $DATA"
  "$PYTHON" tools/make_synthetic_dataset.py "$DATA" --seed 0 --size 480 270 \
      --nodule-radius 2 8   # the benchmark's frames: varied preset, salient clicks
fi
echo "== training configs/demo_cpu.py (CPU, a few minutes; log in $WORK)"
"$PYTHON" tools/train.py configs/demo_cpu.py --work-dir "$WORK" "$@"
CKPT=$(cat "$WORK/last_checkpoint")
echo "== testing $CKPT on the dense test split"
"$PYTHON" tools/test.py configs/demo_cpu.py "$CKPT" --work-dir "$WORK" \
    --out "$WORK/test_metrics.json" --show-dir vis --show-num 6
"$PYTHON" - "$WORK/test_metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print('\n== test metrics (dense ground truth; radius in original pixels)')
for k in ('point/f1', 'point/precision', 'point/recall', 'point/ap',
          'point/best_f1', 'point/best_thr', 'point/count_error'):
    print(f'{k:>20}: {m[k]:.2f}')
PY
echo "== drawn frames (rings: truth, dots: predictions): $WORK/vis/"

#!/usr/bin/env bash
# The demo: generate a synthetic data set, train stage one (Crag and Tail on
# the clicks, with dimmed copies of them pasted as labelled points) and stage
# two (self-training from it) with the CPU demo
# configs, test both on the dense test split at the threshold each chose on
# validation, print them beside the dense-label ceiling of the committed
# benchmark, and draw a few test frames. About 20 minutes on 2 cores.
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
echo "== training stage one and stage two (CPU, about 20 minutes; logs in $WORK)"
STAGE1=configs/cragtail-paste_hrnet-w18s_1xb4-30e_synthetic-480x288.py
STAGE2=configs/selftrain_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py
PYTHON="$PYTHON" tools/train_two_stage.sh "$STAGE1" "$STAGE2" \
    "$WORK" "$@"
for stage in 1 2; do
  config=$STAGE1
  [ $stage = 1 ] || config=$STAGE2
  ckpt=$(cat "$WORK/stage$stage/last_checkpoint")
  thr=$("$PYTHON" -c "import sys, mmpose_carcinosis; from mmpose_carcinosis.utils import stored_score_thr; print(stored_score_thr(sys.argv[1])[0] or 0.1)" "$ckpt")
  echo "== testing $ckpt on the dense test split at its validation threshold $thr"
  "$PYTHON" tools/test.py "$config" "$ckpt" --work-dir "$WORK/stage$stage" \
      --out "$WORK/stage$stage/test_metrics.json" --show-dir vis --show-num 6 \
      --cfg-options "test_evaluator.score_thr=$thr"
done
"$PYTHON" - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
rows = [('stage one (clicks + pasted copies)', json.load(open(f'{work}/stage1/test_metrics.json'))),
        ('stage two (self-training in rounds)', json.load(open(f'{work}/stage2/test_metrics.json')))]
print('\n== test metrics (dense ground truth, radius 10 px, percent)')
print(f'{"":42} {"F1":>6} {"prec.":>6} {"recall":>6} {"AP":>6} {"faint":>6} {"obvious":>7}')
for name, m in rows:
    print(f'{name:42} {m["point/f1"]:6.1f} {m["point/precision"]:6.1f} {m["point/recall"]:6.1f} '
          f'{m["point/ap"]:6.1f} {m.get("point/recall_faint", float("nan")):6.1f} '
          f'{m.get("point/recall_obvious", float("nan")):7.1f}')
dense = json.load(open('benchmarks/results/stage_two.json'))['summary']['dense']
print(f'{"dense-label ceiling (benchmark, 3 seeds)":42} {dense["f1_mean"]:6.1f} '
      f'{dense["precision_mean"]:6.1f} {dense["recall_mean"]:6.1f} {dense["ap_mean"]:6.1f} '
      f'{dense["recall_faint_mean"]:6.1f} {dense["recall_obvious_mean"]:7.1f}')
print('(one seed here; the three-seed tables: docs/benchmarks.md, docs/stage_two.md)')
PY
echo "== drawn frames (rings: truth, dots: predictions): $WORK/stage1/vis/, $WORK/stage2/vis/"

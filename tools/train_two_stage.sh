#!/usr/bin/env bash
# Usage: tools/train_two_stage.sh STAGE1_CONFIG STAGE2_CONFIG WORK_DIR [train.py args...]
# (the train.py arguments, --cfg-options included, go to both stages)
# Stage one (sparse clicks; the shipped one pastes dimmed copies of them),
# then stage two (self-training from the stage-one model) in WORK_DIR/stage1
# and WORK_DIR/stage2. The stage-one checkpoint handed over is its last one;
# --resume continues whichever stage was interrupted (a finished stage one is
# not trained again).
#   tools/train_two_stage.sh configs/cragtail-paste_hrnet-w18s_1xb4-30e_synthetic-480x288.py configs/selftrain_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py work_dirs/two_stage
set -euo pipefail
STAGE1=$1
STAGE2=$2
WORK=$3
shift 3
PYTHON=${PYTHON:-python}
DIR="$(cd "$(dirname "$0")" && pwd)"
max_epochs() {
  "$PYTHON" -c "import sys; from mmengine.config import Config; print(Config.fromfile(sys.argv[1]).train_cfg.max_epochs)" "$1"
}
last="$WORK/stage1/epoch_$(max_epochs "$STAGE1").pth"
if [ -f "$last" ]; then
  echo "== stage one already trained: $last"
else
  echo "== stage one: $STAGE1 -> $WORK/stage1"
  "$PYTHON" "$DIR/train.py" "$STAGE1" --work-dir "$WORK/stage1" "$@"
  # the config's last epoch, or the run's own (train_cfg.max_epochs overridden)
  [ -f "$last" ] || last=$(cat "$WORK/stage1/last_checkpoint")
fi
echo "== stage two: $STAGE2 -> $WORK/stage2 (from $last)"
# the stage-one checkpoint joins the caller's --cfg-options (a second
# --cfg-options would replace the first)
args=()
added=0
for a in "$@"; do
  args+=("$a")
  if [ "$a" = "--cfg-options" ] && [ $added = 0 ]; then
    args+=("model.init_cfg.checkpoint=$last")
    added=1
  fi
done
[ $added = 1 ] || args+=(--cfg-options "model.init_cfg.checkpoint=$last")
"$PYTHON" "$DIR/train.py" "$STAGE2" --work-dir "$WORK/stage2" "${args[@]}"

"""tools/train_two_stage.sh: the stage-one checkpoint reaches stage two
inside the caller's --cfg-options, and a finished stage one is not trained
again (train.py replaced by a recorder)."""
import os
import subprocess
import sys

from helpers import ROOT

FAKE = '''#!/usr/bin/env bash
# python stand-in: "-c" runs the real interpreter, train.py calls are recorded
if [ "$1" = "-c" ]; then exec {python} "$@"; fi
echo "$@" >> {log}
shift  # train.py
for ((i = 1; i <= $#; i++)); do
  if [ "${{!i}}" = "--work-dir" ]; then j=$((i + 1)); mkdir -p "${{!j}}"; touch "${{!j}}/epoch_30.pth"; fi
done
'''


def test_two_stage_script(tmp_path):
    log = tmp_path / 'calls.log'
    fake = tmp_path / 'python'
    fake.write_text(FAKE.format(python=sys.executable, log=log))
    fake.chmod(0o755)
    env = dict(os.environ, PYTHON=str(fake))
    cmd = ['bash', 'tools/train_two_stage.sh', 'configs/cragtail_hrnet-w18s_1xb4-30e_synthetic-480x288.py',
           'configs/selftrain_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py', str(tmp_path / 'w'), '--cfg-options', 'a=1']
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    calls = log.read_text().splitlines()
    assert len(calls) == 2
    assert 'configs/cragtail_hrnet-w18s_1xb4-30e_synthetic-480x288.py' in calls[0] and '--cfg-options a=1' in calls[0]
    stage1 = str(tmp_path / 'w' / 'stage1' / 'epoch_30.pth')
    assert calls[1].endswith(f'--cfg-options model.init_cfg.checkpoint={stage1} a=1')
    # again: stage one is done, only stage two runs (no --cfg-options given)
    subprocess.run(cmd[:5], cwd=ROOT, env=env, check=True, capture_output=True)
    calls = log.read_text().splitlines()
    assert len(calls) == 3 and 'selftrain_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py' in calls[2]
    assert calls[2].endswith(f'--cfg-options model.init_cfg.checkpoint={stage1}')

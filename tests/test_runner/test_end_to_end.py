"""End-to-end runs through MMEngine's Runner on generated data (CPU).

Slow-ish (about a minute each): real training iterations of the demo config,
checkpoints, resume, test with metrics, MMPose's stock train.py and a
2-process gloo run.
"""
import glob
import json
import re
import os
import os.path as osp
import subprocess
import sys

import mmpose
import pytest
import torch

from helpers import CONFIG, ROOT, data_options, run

# the count rule on the shipped rounds: their calibrations on the dense
# validation split (refreshed teachers, the band) switched off
NO_VALIDATION = dict(refresh_precision=None, band_precision=None)

pytestmark = pytest.mark.timeout(900)


def scalars(work):
    (path, ) = glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_train_saves_checkpoints_and_validates(trained):
    work, log = trained
    assert osp.isfile(osp.join(work, 'epoch_2.pth'))
    rows = scalars(work)
    losses = [r['loss'] for r in rows if 'loss' in r]
    assert len(losses) >= 4 and all(v == v and v < 1e4 for v in losses)
    val = [r for r in rows if 'point/f1' in r]
    assert len(val) == 2  # validated after each epoch
    for key in ('point/precision', 'point/recall', 'point/ap@10', 'point/f1@20',
                'point/count_error', 'point/best_thr'):
        assert key in val[-1]


def test_checkpoint_needs_the_allow_list_and_loads_with_it(trained):
    ckpt = osp.join(trained[0], 'epoch_2.pth')
    code = ('import sys, torch\n'
            'try:\n    torch.load(sys.argv[1])\nexcept Exception as e:\n'
            '    print(type(e).__name__, e); sys.exit(3)\n')
    p = subprocess.run([sys.executable, '-c', code, ckpt], capture_output=True, text=True)
    assert p.returncode == 3 and 'Unsupported global' in p.stdout  # plain torch refuses
    state = torch.load(ckpt)  # weights_only=True; this process imported the plugin
    assert 'message_hub' in state and state['meta']['epoch'] == 2


def test_resume_under_safe_loading(trained, data_root):
    work, _ = trained
    log = run([sys.executable, 'tools/train.py', CONFIG, '--work-dir', work,
               '--resume', '--cfg-options', *data_options(data_root, 3)])
    assert 'resumed epoch: 2' in log
    assert osp.isfile(osp.join(work, 'epoch_3.pth'))
    assert torch.load(osp.join(work, 'epoch_3.pth'))['meta']['epoch'] == 3


def test_test_tool_writes_metrics_and_pictures(trained, data_root, tmp_path):
    work, _ = trained
    out = str(tmp_path / 'metrics.json')
    run([sys.executable, 'tools/test.py', CONFIG, osp.join(work, 'epoch_2.pth'),
         '--work-dir', str(tmp_path), '--out', out, '--show-dir', 'vis',
         '--cfg-options', *data_options(data_root, 2)])
    with open(out) as f:
        metrics = json.load(f)
    for key in ('point/f1', 'point/precision', 'point/recall', 'point/ap'):
        assert 0.0 <= metrics[key] <= 100.0
    assert metrics['point/num_gt'] > 0  # dense test ground truth
    # the generated truth carries salience groups: recall per group, and
    # the groups account for every true point
    assert sum(metrics[f'point/num_gt_{g}'] for g in ('faint', 'medium', 'obvious')) \
        == metrics['point/num_gt']
    assert 0.0 <= metrics['point/recall_faint'] <= 100.0
    # pictures keep the frame's path under images/ (test/v..._f....png)
    assert len(glob.glob(str(tmp_path / 'vis' / 'test' / '*.png'))) == 2


def test_mmpose_stock_train_tool(data_root, tmp_path):
    stock = osp.join(osp.dirname(mmpose.__file__), '.mim', 'tools', 'train.py')
    run([sys.executable, stock, CONFIG, '--work-dir', str(tmp_path),
         '--cfg-options', *data_options(data_root, 1)])
    assert osp.isfile(tmp_path / 'epoch_1.pth')


def test_two_process_gloo_training(data_root, tmp_path):
    port = str(29700 + os.getpid() % 200)
    log = run(['bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir', str(tmp_path),
               '--cfg-options', *data_options(data_root, 1)],
              env=dict(PYTHON=sys.executable, PORT=port))
    assert osp.isfile(tmp_path / 'epoch_1.pth')
    assert 'Distributed training: True' in log and 'GPU number: 2' in log


def _weights(path):
    return torch.load(path)['state_dict']


@pytest.mark.parametrize('workers', [0, 2])
def test_resume_is_exact(data_root, tmp_path, workers):
    # 2 epochs straight against 1 epoch, then --resume to 2: identical
    # weights (EpochSeedHook seeds every epoch and its data-loader workers
    # from seed, epoch, rank and worker id)
    def train(work, epochs, *extra):
        opts = data_options(data_root, epochs) + [
            f'train_dataloader.num_workers={workers}',
            f'train_dataloader.persistent_workers={workers > 0}',
            'randomness.seed=3', 'train_cfg.val_interval=10']
        return run([sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(work),
                    *extra, '--cfg-options', *opts])

    train(tmp_path / 'straight', 2)
    train(tmp_path / 'resumed', 1)
    log = train(tmp_path / 'resumed', 2, '--resume')
    assert 'resumed epoch: 1' in log
    a = _weights(tmp_path / 'straight' / 'epoch_2.pth')
    b = _weights(tmp_path / 'resumed' / 'epoch_2.pth')
    first = _weights(tmp_path / 'resumed' / 'epoch_1.pth')
    assert a.keys() == b.keys()
    diff = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    moved = max(float((a[k].float() - first[k].float()).abs().max()) for k in a)
    assert diff == 0.0 and moved > 0  # the second epoch did change the weights


FAKE_SRUN = r'''#!/usr/bin/env bash
# a stand-in for Slurm's srun: runs --ntasks copies of the command locally
n=1
while [ $# -gt 0 ]; do
  case "$1" in
    -p|-N|-J) shift 2 ;;
    --ntasks=*) n=${1#--ntasks=}; shift ;;
    -*) shift ;;
    *) break ;;
  esac
done
pids=()
for ((i = 0; i < n; i++)); do
  SLURM_PROCID=$i SLURM_LOCALID=$i SLURM_NTASKS=$n SLURM_NODELIST=fake-node "$@" &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
'''


def test_slurm_launcher_on_cpu(data_root, tmp_path):
    # tools/slurm_train.sh with MMPose's conventions, under a fake srun and
    # scontrol: 2 tasks train on the CPU with gloo
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'srun').write_text(FAKE_SRUN)
    (bin_dir / 'scontrol').write_text('#!/usr/bin/env bash\necho 127.0.0.1\n')
    for f in ('srun', 'scontrol'):
        os.chmod(bin_dir / f, 0o755)
    port = str(29500 + os.getpid() % 200)
    work = tmp_path / 'work'
    log = run(['bash', 'tools/slurm_train.sh', 'cpu', 'carcinosis', CONFIG, str(work),
               '--cfg-options', *data_options(data_root, 1)],
              env=dict(PATH=f'{bin_dir}:{os.environ["PATH"]}', PYTHON=sys.executable,
                       GPUS='2', GPUS_PER_NODE='0', MASTER_PORT=port))
    assert osp.isfile(work / 'epoch_1.pth')
    assert 'Distributed training: True' in log and 'GPU number: 2' in log


def test_two_stages_through_the_runner(trained, data_root, tmp_path):
    # stage two from the stage-one checkpoint, a frozen teacher, thresholds
    # calibrated on validation before training, the pseudo label quality
    # logged against the training frames' dense truth, and a resume of
    # stage two that keeps the calibrated thresholds
    stage_one = osp.join(trained[0], 'epoch_2.pth')
    cfg2 = osp.join(ROOT, 'configs', 'selftrain_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py')
    opts = data_options(data_root, 2) + [f'model.init_cfg.checkpoint={stage_one}']
    work = tmp_path / 'stage2'
    log = run([sys.executable, 'tools/train.py', cfg2, '--work-dir', str(work),
               '--cfg-options', *opts])
    assert log.count('pseudo-label thresholds: high_thr') == 1
    assert 'pseudo labels after epoch 2' in log and 'pseudo/precision' in log
    rows = scalars(str(work))
    assert any('pseudo_per_frame' in r for r in rows)
    ckpt = torch.load(work / 'epoch_2.pth')
    state = ckpt['state_dict']
    # the thresholds are the model's buffers, in every checkpoint
    high, low = float(state['high_thr'][0]), float(state['low_thr'][0])
    assert int(state['teacher_version']) == 0 == int(state['calibrated_version'])
    # the band below high_thr is calibrated on validation (band_precision)
    assert 'band at least 0.5 precise' in log
    assert 0 < low <= high and f'low_thr {low:.4f}' in log
    # frame_cap 2: twice the most any validation frame keeps (at least 1)
    cap = int(state['max_pseudo_per_frame'][0])
    assert cap >= 2 and cap % 2 == 0
    assert f'max_pseudo_per_frame {cap} ' in log
    thr = dict(high_thr=high)
    assert any(r.get('pseudo/high_thr') == pytest.approx(thr['high_thr']) for r in rows)
    first = torch.load(stage_one)['state_dict']
    # the frozen teacher is still the stage-one model; the student moved
    key = 'backbone.conv1.weight'
    assert torch.equal(state[f'teacher.{key}'], first[key])
    assert not torch.equal(state[f'student.{key}'], first[key])
    log = run([sys.executable, 'tools/train.py', cfg2, '--work-dir', str(work), '--resume',
               '--cfg-options', *data_options(data_root, 3),
               f'model.init_cfg.checkpoint={stage_one}'])
    assert 'resumed epoch: 2' in log and osp.isfile(work / 'epoch_3.pth')
    assert 'pseudo-label thresholds' not in log  # restored, not recalibrated
    resumed = torch.load(work / 'epoch_3.pth')['state_dict']
    for key in ('high_thr', 'low_thr', 'max_pseudo_per_frame', 'calibrated_version'):
        assert torch.equal(resumed[key], state[key]), key


def test_rounds_of_self_training(trained, data_root, tmp_path):
    # TeacherRefreshHook every epoch from the current student: after epoch 1
    # the teacher is epoch 1's student, and the thresholds are recalibrated,
    # here with the count rule (as many pseudo labels per training frame as
    # the annotators clicked)
    stage_one = osp.join(trained[0], 'epoch_2.pth')
    cfg = tmp_path / 'rounds.py'
    from mmengine.config import Config
    rounds = osp.join(ROOT, 'configs',
                      'selftrain-rounds_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py')
    hooks = Config.fromfile(rounds).custom_hooks
    change = {'TeacherRefreshHook': dict(interval=1, source='student'),
              'PseudoThresholdHook': dict(rule='count', per_frame='clicks')}
    hooks = [dict(h, **change.get(h['type'], {})) for h in hooks]
    assert any(h['type'] == 'TeacherRefreshHook' for h in hooks)
    cfg.write_text(f"_base_ = ['{rounds}']\ncustom_hooks = {hooks!r}\n")
    work = tmp_path / 'rounds'
    log = run([sys.executable, 'tools/train.py', str(cfg), '--work-dir', str(work),
               '--cfg-options', *data_options(data_root, 2),
               f'model.init_cfg.checkpoint={stage_one}',
               'default_hooks.checkpoint.interval=1'])
    assert log.count('teacher refreshed from the student after epoch 1') == 1
    assert log.count('pseudo-label thresholds: high_thr') == 2
    with open(osp.join(data_root, 'annotations', 'train.json')) as f:
        train = json.load(f)
    k = len(train['annotations']) / len(train['images'])
    assert log.count(f'{k:g} pseudo labels per frame') == 2
    assert log.count(f'max_pseudo_per_frame {int(2 * k)} ') == 2  # frame_cap 2 x k
    one, two = (torch.load(work / f'epoch_{e}.pth') for e in (1, 2))
    assert int(two['state_dict']['teacher_version']) == 1
    assert int(two['state_dict']['calibrated_version']) == 1
    for k, v in one['state_dict'].items():
        if k.startswith('student.'):
            assert torch.equal(two['state_dict']['teacher.' + k[len('student.'):]], v), k


def test_easy_to_hard_rounds_freeze_what_two_teachers_agree_on(trained, data_root, tmp_path):
    # the shipped stage-two config: a new teacher every epoch here, each recalibrated
    # (count rule: pseudo labels on every frame) and its pseudo labels
    # handed to the model; those two successive teachers agree on are
    # labels from then on, in the checkpoints, and a resumed run keeps them
    stage_one = osp.join(trained[0], 'epoch_2.pth')
    frozen_cfg = osp.join(ROOT, 'configs',
                          'selftrain_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py')
    from mmengine.config import Config
    change = {'TeacherRefreshHook': dict(interval=1, source='student'),
              'PseudoThresholdHook': dict(rule='count', per_frame=4, score_floor=1e-4,
                                           **NO_VALIDATION)}
    hooks = [dict(h, **change.get(h['type'], {})) for h in Config.fromfile(frozen_cfg).custom_hooks]
    cfg = tmp_path / 'frozen.py'
    cfg.write_text(f"_base_ = ['{frozen_cfg}']\ncustom_hooks = {hooks!r}\n")
    opts = [f'model.init_cfg.checkpoint={stage_one}', 'default_hooks.checkpoint.interval=1']
    work = tmp_path / 'frozen'
    log = run([sys.executable, 'tools/train.py', str(cfg), '--work-dir', str(work),
               '--cfg-options', *data_options(data_root, 3), *opts])
    assert log.count('frozen pseudo labels:') == 3
    assert '0 new, 0 in all' in log  # the first teacher leaves candidates only
    # PseudoLabelQualityHook scores the frozen labels against the dense truth
    frozen_rows = [r for r in scalars(str(work)) if 'frozen/precision' in r]
    assert frozen_rows and all(0 <= r['frozen/precision'] <= 100 for r in frozen_rows)
    states = [torch.load(work / f'epoch_{e}.pth')['state_dict'] for e in (1, 2, 3)]
    assert [int(s['frozen_version']) for s in states] == [0, 1, 2]
    counts = [len(s['frozen_img_ids']) for s in states]
    assert counts[0] == 0 and counts[1] <= counts[2] and counts[2] > 0
    assert len(states[0]['candidate_img_ids']) > 0 and len(states[1]['candidate_img_ids']) > 0
    # frozen points are frame pixels of training frames, once each
    pts = states[2]['frozen_points']
    assert pts.shape == (counts[2], 2) and bool(((pts >= 0) & (pts < 480)).all())
    assert bool((pts[:, 1] < 270).all())
    # resumed after epoch 2: the model's buffers come back, no new freeze
    # until the next teacher
    work2 = tmp_path / 'frozen_resumed'
    log = run([sys.executable, 'tools/train.py', str(cfg), '--work-dir', str(work2), '--resume',
               str(work / 'epoch_2.pth'), '--cfg-options', *data_options(data_root, 3), *opts])
    assert 'resumed epoch: 2' in log and log.count('frozen pseudo labels:') == 1
    resumed = torch.load(work2 / 'epoch_3.pth')['state_dict']
    for key in ('frozen_img_ids', 'frozen_points', 'candidate_img_ids', 'candidate_points',
                'frozen_version'):
        assert torch.equal(resumed[key], states[2][key]), key


def test_frozen_rounds_confirm_weak_peaks_across_video_frames(trained, data_root, tmp_path):
    # FreezePseudoLabelsHook(video=...): every refresh also carries the
    # teacher's confident peaks through each training video and freezes
    # the weak peaks they confirm; the count is logged and the frozen
    # labels stay frame pixels of training frames
    stage_one = osp.join(trained[0], 'epoch_2.pth')
    frozen_cfg = osp.join(ROOT, 'configs',
                          'selftrain_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py')
    from mmengine.config import Config
    change = {'TeacherRefreshHook': dict(interval=1, source='student'),
              'PseudoThresholdHook': dict(rule='count', per_frame=4, score_floor=1e-4,
                                           **NO_VALIDATION),
              'FreezePseudoLabelsHook': dict(video=dict(max_gap=1, min_ncc=0.0))}
    hooks = [dict(h, **change.get(h['type'], {})) for h in Config.fromfile(frozen_cfg).custom_hooks]
    cfg = tmp_path / 'frozen_video.py'
    cfg.write_text(f"_base_ = ['{frozen_cfg}']\ncustom_hooks = {hooks!r}\n")
    work = tmp_path / 'frozen_video'
    log = run([sys.executable, 'tools/train.py', str(cfg), '--work-dir', str(work),
               '--cfg-options', *data_options(data_root, 2),
               f'model.init_cfg.checkpoint={stage_one}', 'default_hooks.checkpoint.interval=1'])
    confirmed = [int(n) for n in re.findall(r'; (\d+) weak peaks confirmed across video', log)]
    assert len(confirmed) == 2
    rows = [r for r in scalars(str(work)) if 'frozen/video_confirmed' in r]
    assert [r['frozen/video_confirmed'] for r in rows][-1] == confirmed[-1]
    state = torch.load(work / 'epoch_2.pth')['state_dict']
    pts = state['frozen_points']
    assert len(pts) >= confirmed[0] + confirmed[1]
    assert bool(((pts[:, 0] >= 0) & (pts[:, 0] < 480) & (pts[:, 1] >= 0) &
                 (pts[:, 1] < 270)).all())


def test_checkpoints_carry_the_validated_threshold(trained):
    # ScoreThresholdHook (shipped configs): a checkpoint saved after a
    # validation holds that validation's point/best_thr
    from mmpose_carcinosis.utils import stored_score_thr
    work, _ = trained
    thr, source = stored_score_thr(osp.join(work, 'epoch_2.pth'))
    # the first run's scalars (other tests resume in this work dir later)
    first_run = sorted(glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json')))[0]
    with open(first_run) as f:
        rows = [json.loads(line) for line in f if 'point/best_thr' in line]
    # epoch_2.pth is saved before epoch 2's validation; the hook then
    # rewrites it with that validation's threshold (before: epoch 1's)
    assert len(rows) == 2
    assert thr == pytest.approx(rows[1]['point/best_thr'])
    assert 'after epoch 2' in source
    assert not glob.glob(osp.join(work, '*.tmp'))
    best = glob.glob(osp.join(work, 'best_point_f1_epoch_*.pth'))
    assert best and stored_score_thr(best[0])[0] is not None

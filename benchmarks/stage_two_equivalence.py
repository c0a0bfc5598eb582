"""Does stage two compute the same thing at two commits? The same stage-one
weights, data and seed go through each commit's stage-two config: the
pseudo-label thresholds ``PseudoThresholdHook`` calibrates, one training
step's losses and every parameter's gradient are compared.

Used to check that a restructuring changed no number (issue 21: the
``SemiBaseDetector`` shape against the flat model before it). Each commit
runs in its own process from its own work tree (``git worktree add``)::

    git worktree add /tmp/old 5388557^
    python benchmarks/stage_two_equivalence.py --old-tree /tmp/old \\
        --data-root work_dirs/benchmark/varied_salient/data_varied_salient_clicks_1-5 \\
        --stage-one work_dirs/benchmark/varied_salient/clicks_1-5/cragtail/epoch_30.pth \\
        [--partner work_dirs/benchmark/varied_salient/clicks_dense/cragtail/epoch_30.pth]

``--partner`` checks cross distillation (the second pair's stage one).
Flips are taken out of the training pipeline (the flip fix changed them
after the restructuring; it is not what is compared). Prints the
differences; exit status 1 when a loss or gradient differs by more than
``--atol``.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import tempfile

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# the flat form (before issue 21) and the SemiBaseDetector form, per option
FORMS = {
    'flat': dict(stage_one='model.stage_one', partner='model.cross',
                 thresholds="[model.thresholds(s) for s in ['', '_b'][:pairs]]"),
    'semi': dict(stage_one='model.init_cfg.checkpoint', partner='model.partner_load_from',
                 thresholds='[model.thresholds(i) for i in range(pairs)]'),
}

WORKER = r'''
import sys, os, torch, numpy as np
tree, form, config, data_root, stage_one, partner, out = sys.argv[1:8]
os.chdir(tree); sys.path.insert(0, tree)
import mmpose_carcinosis
assert mmpose_carcinosis.__file__.startswith(tree), mmpose_carcinosis.__file__
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.runner import Runner
from mmpose.utils import register_all_modules
register_all_modules()
cfg = Config.fromfile(config)
pairs = 2 if partner else 1
if form == 'flat':
    cfg.model.stage_one = stage_one
    if partner:
        cfg.model.cross = dict(stage_one=partner)
else:
    cfg.model.init_cfg.checkpoint = stage_one
    if partner:
        cfg.model.type = 'PointCrossTraining'
        cfg.model.partner_load_from = partner
for k in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
    cfg[k].num_workers, cfg[k].persistent_workers = 0, False
    cfg[k].dataset.data_root = data_root
    cfg[k].dataset.pipeline = [t for t in cfg[k].dataset.pipeline if 'Flip' not in t['type']]
cfg.work_dir = out + '.work'
cfg.randomness = dict(seed=0)
cfg.custom_hooks = [h for h in cfg.custom_hooks if h['type'] == 'PseudoThresholdHook']
cfg.visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
runner = Runner.from_cfg(cfg)
runner._init_model_weights()
model = runner.model
[h for h in runner._hooks if type(h).__name__ == 'PseudoThresholdHook'][0].calibrate(runner)
thresholds = THRESHOLDS
MessageHub.get_current_instance().update_info('iter', 10 ** 6)  # pseudo labels at full weight
torch.manual_seed(0); np.random.seed(0)
batch = next(iter(runner.train_dataloader))
model.train()
data = model.data_preprocessor(batch, True)
torch.manual_seed(1)
losses = model(**data, mode='loss')
sum(v for k, v in losses.items() if k.startswith('loss')).backward()
torch.save(dict(thresholds=[[float(x) if x is not None else None for x in t] for t in thresholds],
                losses={k: float(v) for k, v in losses.items()},
                grads={k: p.grad for k, p in model.named_parameters() if p.grad is not None}),
           out)
'''


def run(tree, form, args, out):
    code = WORKER.replace('THRESHOLDS', FORMS[form]['thresholds'])
    cmd = [sys.executable, '-c', code, tree, form, args.config, osp.abspath(args.data_root),
           osp.abspath(args.stage_one), osp.abspath(args.partner) if args.partner else '', out]
    print(f'=== {form} form: {tree} (log: {out}.log)', flush=True)
    with open(out + '.log', 'w') as log:
        done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT,
                              env=dict(os.environ, PYTHONPATH=tree))
    if done.returncode:
        with open(out + '.log') as log:
            sys.exit(f'{form} form at {tree} failed:\n' + ''.join(log.readlines()[-20:]))
    import torch
    return torch.load(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--old-tree', required=True, help='work tree of the earlier commit')
    p.add_argument('--old-form', choices=sorted(FORMS), default='flat')
    p.add_argument('--new-tree', default=ROOT)
    p.add_argument('--new-form', choices=sorted(FORMS), default='semi')
    p.add_argument('--config', default='configs/demo_cpu_stage2.py',
                   help='a stage-two config present in both trees')
    p.add_argument('--data-root', required=True)
    p.add_argument('--stage-one', required=True)
    p.add_argument('--partner', default=None, help='cross distillation: the second stage one')
    p.add_argument('--atol', type=float, default=0.0)
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix='stage_two_equivalence_')
    old = run(args.old_tree, args.old_form, args, osp.join(tmp, 'old.pt'))
    new = run(args.new_tree, args.new_form, args, osp.join(tmp, 'new.pt'))
    print('thresholds (high, low, frame cap) per pair:')
    print(f'  old {old["thresholds"]}\n  new {new["thresholds"]}')
    # the new form keeps thresholds in float32 buffers: equal to float32 precision
    tdiff = max((abs(a - b) for ta, tb in zip(old['thresholds'], new['thresholds'])
                 for a, b in zip(ta, tb)), default=0.0)
    tsame = len(old['thresholds']) == len(new['thresholds']) and tdiff <= max(args.atol, 1e-6)
    worst = 0.0
    for key in sorted(set(old['losses']) | set(new['losses'])):
        a, b = old['losses'].get(key), new['losses'].get(key)
        diff = float('inf') if a is None or b is None else abs(a - b)
        worst = max(worst, diff)
        print(f'  {key:20s} old {a}  new {b}  |diff| {diff:.3g}')
    keys = set(old['grads']) | set(new['grads'])
    missing = keys - (set(old['grads']) & set(new['grads']))
    gdiff = max((old['grads'][k] - new['grads'][k]).abs().max().item()
                for k in keys - missing)
    gmax = max(g.abs().max().item() for g in old['grads'].values())
    print(f'thresholds: largest |diff| {tdiff:.3g}')
    print(f'gradients: {len(keys)} parameters, {len(missing)} in one only, largest |diff| '
          f'{gdiff:.3g} (largest |grad| {gmax:.3g})')
    same = tsame and not missing and max(worst, gdiff) <= args.atol
    print('SAME' if same else 'DIFFERENT')
    sys.exit(0 if same else 1)


if __name__ == '__main__':
    main()

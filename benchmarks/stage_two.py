#!/usr/bin/env python
"""Stage-two benchmark: does learning from a stage-one model's confident
predictions beat simply training stage one longer?

Per training seed (0 1 2 by default), on the default sparse-to-dense data:

- ``stage1``: the stage-one method ``--teacher`` (default the shipped one,
  Crag and Tail with pasted dimmed copies of the clicks) on the clicks (the
  run of ``benchmarks/sparse_to_dense.py``, reused; trained here if missing);
  the stage-two runs keep the stage-one head of ``--teacher mse`` (scores,
  not logits: ``score_activation=None`` and ``KeypointMSELoss``,
  :func:`stage_one_head`);
- ``control``: stage one continued from its last checkpoint for the same
  schedule as stage two (same epochs, optimiser, learning rate);
- ``splc``: the same continuation with SPLC's online flip
  (``SPLCCragTailLoss``, tau 0.6): the single-network alternative;
- ``stage2``: the shipped stage two,
  ``configs/selftrain_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py``, from
  that checkpoint: easy-to-hard rounds, a new teacher every 3 epochs, the
  first teacher's threshold the lowest at 0.9 validation precision
  (``precision_scan='lowest'``), every refreshed teacher's at 0.95
  (``refresh_precision=0.95``), the ignored band down to where the
  validation peaks below ``high_thr`` stop being half precise
  (``band_precision=0.5``), and the pseudo labels two successive teachers
  agree on frozen as labels (``FreezePseudoLabelsHook``);
  ``stage2_first92``: the shipped rounds with the first teacher at 0.92
  validation precision (a margin: the training frames' pseudo labels of a
  teacher calibrated at 0.9 on validation fell to 0.896 once);
  ``stage2_p90``: the same rounds with the rule shipped before: every
  teacher at 0.9, the band from a third of ``high_thr``; the variants of
  the rounds below change one thing of ``stage2_p90`` (:data:`FORMER_RULE`),
  the rule they were measured against:
  ``stage2_frozen_video``: weak teacher peaks that a confident peak
  of another frame of the video confirms frozen too
  (``FreezePseudoLabelsHook(video=dict())``);
  ``stage2_scan_top``: each teacher's threshold where its
  validation precision scanned from the top first dips below the target
  (``precision_scan='from_top'``, the single teacher's default);
  ``stage2_p95``: every teacher at a validation precision of 0.95 (the
  training frames' pseudo labels can fall below the validation's);
  ``stage2_band50``: the ignored band calibrated
  too: ``low_thr`` the lowest threshold whose validation predictions below
  ``high_thr`` are at least 0.5 precise
  (``PseudoThresholdHook(band_precision=0.5)``) instead of a third of
  ``high_thr``; ``stage2_p95_band50``: both (0.95 and the calibrated
  band); ``stage2_refresh95``: the first teacher at 0.9, every refreshed
  one at 0.95 (``PseudoThresholdHook(refresh_precision=0.95)``);
  ``stage2_refresh95_band50``: that and the calibrated band (the shipped
  rule: the same runs as ``stage2``);
  ``stage2_negw_rounds``: the shipped rounds with unlabeled pixels
  weighted by the teacher, ``(1 - teacher score) ** 2``
  (``semi_train_cfg.negative_gamma``; ``stage2_negw`` below is the same
  with one teacher);
  ``stage2_appearance``: the rounds with the appearance verifier
  (``semi_train_cfg.appearance``): the ignored band's peaks that look more
  like the clicked nodules than like confident background in the
  teacher's features become pseudo labels; ``stage2_appearance95``: the
  same at 0.95 validation precision;
- ``stage2_single``: ``configs/selftrain-single_...``, one frozen flip-test
  teacher for the whole run (the stage two shipped before the rounds); the
  rest change one thing of it: ``stage2_noflip``: the teacher without the
  flip test; ``stage2_ema``: an EMA teacher (MMDetection's
  ``MeanTeacherHook``); ``stage2_rounds``: the teacher replaced by the best
  student every 5 epochs (``TeacherRefreshHook``), no labels frozen;
  ``stage2_noband``: without the ignore
  band (``low_thr = high_thr``: teacher peaks below the pseudo-label
  threshold keep the Crag and Tail tail); ``stage2_count``: thresholds from
  the count rule (``PseudoThresholdHook(rule='count', per_frame='clicks')``:
  as many pseudo labels per training frame as clicks, no dense validation
  needed); ``stage2_lowest``: the precision rule's lowest threshold at the
  target (``PseudoThresholdHook(precision_scan='lowest')``: the largest set
  of validation peaks at 0.9 precision, not the first dip from the top);
  ``stage2_p80``: the same scan at a validation precision of 0.8 (a
  teacher trained on the training frames is more precise there than on
  validation: is 0.8 on validation still 0.9 on the training frames?);
  ``stage2_negw``: unlabeled pixels weighted by the teacher,
  ``(1 - teacher score) ** 2`` (``semi_train_cfg.negative_gamma``);
  ``stage2_cross``: with PA-Seg's
  cross distillation, the second pair from the next seed's stage-one model
  (seed + 1, trained if missing);
- ``dense``: the dense-label ceiling of the sparse-to-dense benchmark.

The pseudo-label thresholds ``high_thr`` and ``low_thr`` are set on the
dense validation split by the config's ``PseudoThresholdHook`` before
training and after each refresh of the teacher. Each run is tested like the sparse-to-dense runs (threshold
chosen on validation, dense test truth). Writes
``benchmarks/results/stage_two.{json,md}``: per run ``method``, ``seed``,
``f1``, ``ap``, ``recall``, ``recall_faint``... and, for stage-two rows,
``pseudo_precision`` / ``pseudo_recall`` of the last epoch (and the lowest
precision over epochs), percent; and a summary with mean ± sample std and
the share of the stage-one-to-dense gap each method closes.

With ``--flip-test`` every run's checkpoint is also tested with MMPose's
flip test (``test_cfg.flip_test``: the mean of the outputs on the frame and
its mirror; threshold again chosen on validation): ``f1_flip``,
``ap_flip``, ``recall_faint_flip``... in each row, cached in the run's
``flip_test.json``. The stage-two teacher uses the flip test, so this is the
comparison with what the teacher itself reaches.

    python benchmarks/stage_two.py [--reuse] [--seeds 0 1 2] [--methods ...] [--flip-test]
    python benchmarks/stage_two.py --teacher cragtail_paste [--stage2-transform cragtail_paste] \
        --tag stage_two_paste   # stage two from the pasted stage one (and pasting in stage two)
    python benchmarks/stage_two.py --data-root data/mine/ --radius 20 --tag mine_stage_two \
        --s2d-tag mine     # after sparse_to_dense.py --data-root data/mine/ --tag mine
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
import sparse_to_dense as s2d  # noqa: E402

STAGE2_CONFIG = 'configs/selftrain_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py'
# the shipped rounds and their variants, then the single teacher and its
METHODS = ('stage1', 'control', 'splc',
           'stage2', 'stage2_first92', 'stage2_p90', 'stage2_frozen_video', 'stage2_scan_top', 'stage2_p95', 'stage2_band50',
           'stage2_p95_band50', 'stage2_refresh95', 'stage2_refresh95_band50',
           'stage2_negw_rounds', 'stage2_appearance', 'stage2_appearance95',
           'stage2_single', 'stage2_noflip', 'stage2_ema', 'stage2_rounds', 'stage2_noband',
           'stage2_count', 'stage2_lowest', 'stage2_p80', 'stage2_negw', 'stage2_cross',
           'dense')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--methods', nargs='+', default=list(METHODS), choices=METHODS)
    p.add_argument('--seeds', type=int, nargs='+', default=list(s2d.DEFAULT_SEEDS))
    p.add_argument('--stage2-config', default=STAGE2_CONFIG)
    p.add_argument('--work-dir',
                   help='the sparse-to-dense benchmark\'s work dir (its stage-one '
                   'and dense runs are reused); default: the one it uses for the '
                   'same data (work_dirs/benchmark/varied_salient, or '
                   'work_dirs/benchmark/<tag> with --data-root)')
    p.add_argument('--data-root', help='your data set (CarcinosisDataset layout; '
                   'with annotations/train_dense.json for the dense ceiling and '
                   'the pseudo-label quality); default: the generated one')
    p.add_argument('--radius', type=float, help='headline matching radius in frame '
                   'pixels (default: the base config\'s metric radius); also the '
                   'pseudo-label quality radius')
    p.add_argument('--cfg-options', nargs='+', default=[],
                   help='extra config overrides for every run (as sparse_to_dense.py)')
    p.add_argument('--topk', type=int, help='most points decoded per frame '
                   '(as sparse_to_dense.py --topk)')
    p.add_argument('--base-config', default='configs/cragtail_hrnet-w18s_1xb4-30e_synthetic-480x288.py',
                   help='stage one\'s config (as sparse_to_dense.py --base-config)')
    p.add_argument('--s2d-tag', default='sparse_to_dense',
                   help='with --data-root: the sparse-to-dense run\'s --tag, whose '
                   'work dir holds the stage-one runs to reuse')
    p.add_argument('--teacher', default=s2d.STAGE_ONE,
                   choices=sorted(set(s2d.METHODS) - {'dense'}),
                   help='the stage-one method (a sparse-to-dense --losses name) every '
                   'stage-two run starts from and ``stage1`` reports; its runs live in '
                   '``stage_two_<teacher>/`` unless it is cragtail (``stage_two/``)')
    p.add_argument('--stage2-transform', choices=sorted(s2d.DATA_METHODS),
                   help='a sparse-to-dense method whose training data change stage two '
                   'and the control also use (cragtail_paste: PasteDimmedNodules; '
                   'cragtail_video: the clicks carried through each video); runs in '
                   '``stage_two[_<teacher>]_<method>/``')
    p.add_argument('--reuse', action='store_true')
    p.add_argument('--out', default='benchmarks/results')
    p.add_argument('--tag', default='stage_two')
    p.add_argument('--preset', choices=('varied', 'classic'), default='varied',
                   help='the generator preset of the data (with its own --work-dir)')
    p.add_argument('--flip-test', action='store_true',
                   help='also test every run with the flip test (cached per run)')
    return p.parse_args(argv)


FLIP_KEYS = ('f1', 'precision', 'recall', 'ap', 'recall_faint', 'recall_medium',
             'recall_obvious')


def flip_test(work, run_cfg, extra_options=()):
    """Test the run's last checkpoint with the flip test: the score
    threshold with the best validation F1, then the test split at it.
    Returns ``{'<key>_flip': ...}`` (percent) and caches it in
    ``<work>/flip_test.json`` (reused while the checkpoint is unchanged)."""
    from mmengine.config import Config
    with open(osp.join(work, 'last_checkpoint')) as f:
        ckpt = osp.abspath(f.read().strip())
    stamp = os.stat(ckpt).st_mtime
    cache = osp.join(work, 'flip_test.json')
    if osp.isfile(cache):
        with open(cache) as f:
            saved = json.load(f)
        if saved.get('checkpoint') == ckpt and saved.get('mtime') == stamp:
            return saved['row']
    from mmpose_carcinosis.utils import point_network_key
    key = point_network_key(Config.fromfile(run_cfg).model, 'test_cfg')
    out = osp.join(work, 'flip_test')
    test = [sys.executable, osp.join(ROOT, 'tools', 'test.py'), run_cfg, ckpt,
            '--work-dir', out]
    opts = [f'{key}.flip_test=True', *extra_options]
    print(f'=== flip test of {work}', flush=True)
    subprocess.run(test + ['--out', osp.join(out, 'val.json'), '--cfg-options',
                           'test_dataloader.dataset.ann_file=annotations/val.json',
                           f'test_evaluator.curve_file={out}/val_pr_curve.json', *opts],
                   check=True)
    with open(osp.join(out, 'val.json')) as f:
        thr = json.load(f)['point/best_thr']
    subprocess.run(test + ['--out', osp.join(out, 'test.json'), '--cfg-options',
                           f'test_evaluator.score_thr={thr}',
                           f'test_evaluator.curve_file={out}/pr_curve.json', *opts], check=True)
    with open(osp.join(out, 'test.json')) as f:
        m = json.load(f)
    row = {f'{k}_flip': m[f'point/{k}'] for k in FLIP_KEYS if f'point/{k}' in m}
    row['val_thr_flip'] = thr
    with open(cache, 'w') as f:
        json.dump(dict(checkpoint=ckpt, mtime=stamp, row=row), f)
    return row


def flip_markdown(rows):
    """Mean ± sample std over seeds of the flip-test figures per method."""
    lines = ['| method | seeds | ' + ' | '.join(FLIP_KEYS) + ' |',
             '|---|---|' + '---|' * len(FLIP_KEYS)]
    for m in dict.fromkeys(r['method'] for r in rows if 'f1_flip' in r):
        sel = [r for r in rows if r['method'] == m and 'f1_flip' in r]
        cells = []
        for k in FLIP_KEYS:
            vals = [r[f'{k}_flip'] for r in sel if f'{k}_flip' in r]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            cells.append(f'{statistics.fmean(vals):.1f} ± {sd:.1f}' if vals else '-')
        lines.append(f'| {m} | {" ".join(str(r["seed"]) for r in sel)} | ' +
                     ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


#: the rule the shipped rounds had before refreshed teachers were
#: calibrated for 0.95 and the band for 0.5: every teacher at 0.9, the band
#: from a third of ``high_thr``. The variants of the rounds measured against
#: that rule keep it, so that their committed results stay theirs.
FORMER_RULE = dict(refresh_precision=None, band_precision=None)
#: methods that change hooks of their config: {method: {hook type: arguments}}
HOOK_CHANGES = {
    'stage2_noband': {'PseudoThresholdHook': dict(low_ratio=1.0)},
    'stage2_count': {'PseudoThresholdHook': dict(rule='count', per_frame='clicks')},
    'stage2_lowest': {'PseudoThresholdHook': dict(precision_scan='lowest')},
    'stage2_p80': {'PseudoThresholdHook': dict(precision_scan='lowest', precision=0.8)},
    'stage2_first92': {'PseudoThresholdHook': dict(precision=0.92)},
    'stage2_p90': {'PseudoThresholdHook': FORMER_RULE},
    'stage2_frozen_video': {'PseudoThresholdHook': FORMER_RULE,
                            'FreezePseudoLabelsHook': dict(video=dict())},
    'stage2_scan_top': {'PseudoThresholdHook': dict(FORMER_RULE, precision_scan='from_top')},
    'stage2_p95': {'PseudoThresholdHook': dict(FORMER_RULE, precision=0.95)},
    'stage2_band50': {'PseudoThresholdHook': dict(FORMER_RULE, band_precision=0.5)},
    'stage2_p95_band50': {'PseudoThresholdHook': dict(FORMER_RULE, precision=0.95,
                                                      band_precision=0.5)},
    'stage2_refresh95': {'PseudoThresholdHook': dict(FORMER_RULE, refresh_precision=0.95)},
    'stage2_refresh95_band50': {'PseudoThresholdHook': dict(refresh_precision=0.95,
                                                            band_precision=0.5)},
    'stage2_appearance': {'PseudoThresholdHook': FORMER_RULE},
    'stage2_appearance95': {'PseudoThresholdHook': dict(FORMER_RULE, precision=0.95)},
}
#: each method's changes to the model's ``semi_train_cfg``
MODEL_CHANGES = {
    'stage2_noflip': dict(teacher_flip=False),
    'stage2_negw': dict(negative_gamma=2.0),
    'stage2_negw_rounds': dict(negative_gamma=2.0),
    'stage2_appearance': dict(appearance=dict(accept=0.5)),
    'stage2_appearance95': dict(appearance=dict(accept=0.5)),
}

#: methods trained from their own config: the stage-two config's name with
#: this prefix instead of ``selftrain_`` (configs/selftrain-single_...); the
#: rest train from the stage-two config itself
SINGLE = 'selftrain-single_'
VARIANT_PREFIX = {'stage2_single': SINGLE, 'stage2_noflip': SINGLE, 'stage2_noband': SINGLE,
                  'stage2_count': SINGLE, 'stage2_lowest': SINGLE, 'stage2_p80': SINGLE,
                  'stage2_negw': SINGLE, 'stage2_ema': 'selftrain-ema_',
                  'stage2_rounds': 'selftrain-rounds_', 'stage2_cross': 'crosstrain_'}


def stage_one_checkpoint(work, row):
    """The absolute path of the checkpoint the stage-two runs start from:
    the one that gave stage one's result ``row`` (the checkpoint of its last
    epoch, ``row['epoch']``, for a result tested at the last checkpoint),
    else the run's ``last_checkpoint`` in ``work``; None when neither tells.
    The result comes first: the marker may be an interrupted later run's
    (a retraining killed half way leaves its own ``last_checkpoint``)."""
    if row.get('select', 'last') == 'last' and 'epoch' in row:
        return osp.abspath(osp.join(work, f'epoch_{row["epoch"]}.pth'))
    marker = osp.join(work, 'last_checkpoint')
    if osp.isfile(marker):
        with open(marker) as f:
            return osp.abspath(f.read().strip())
    return None


def variant_config(stage2_config: str, method: str) -> str:
    """The config of ``method``: ``stage2_config`` itself, or its
    ``selftrain-single_`` / ``selftrain-ema_`` / ``selftrain-rounds_`` /
    ``crosstrain_`` sibling (:data:`VARIANT_PREFIX`)."""
    prefix = VARIANT_PREFIX.get(method)
    if prefix is None:
        return stage2_config
    name = osp.basename(stage2_config)
    path = osp.join(osp.dirname(stage2_config), name.replace('selftrain_', prefix, 1))
    if not name.startswith('selftrain_') or not osp.isfile(path):
        raise SystemExit(f'{method} trains from {path}, the {prefix} sibling of '
                         f'{stage2_config}: no such file')
    return path


def pseudo_quality(work, suffix=''):
    """Pseudo-label precision and recall of the last epoch, and the lowest
    precision over epochs, from the scalars (PseudoLabelQualityHook) of the
    newest run in ``work`` that logged them (older runs of other configs
    may share the directory); ``suffix='_b'``: the second teacher's (cross
    distillation), as keys ending in ``_b``."""
    key = f'pseudo{suffix}'
    runs = {}
    for root, _, files in os.walk(work):
        if 'scalars.json' in files and root.endswith('vis_data'):
            with open(osp.join(root, 'scalars.json')) as f:
                rows = [json.loads(line) for line in f if f'{key}/precision' in line]
            if rows:
                runs[osp.basename(osp.dirname(root))] = rows  # the run's timestamp
    if not runs:
        return {}
    rows = sorted(runs[max(runs)], key=lambda r: r.get('step', 0))
    out = dict(pseudo_precision=rows[-1][f'{key}/precision'],
               pseudo_recall=rows[-1][f'{key}/recall'],
               pseudo_per_frame=rows[-1][f'{key}/per_frame'],
               pseudo_precision_min=min(r[f'{key}/precision'] for r in rows),
               high_thr=rows[-1].get(f'{key}/high_thr'),
               high_thr_first=rows[0].get(f'{key}/high_thr'),
               doubtful_frames=rows[-1].get(f'{key}/doubtful_frames'))
    if not suffix and 'frozen/precision' in rows[-1]:  # FreezePseudoLabelsHook
        out.update(frozen_precision=rows[-1]['frozen/precision'],
                   frozen_recall=rows[-1]['frozen/recall'],
                   frozen_per_frame=rows[-1]['frozen/per_frame'])
    return {k + suffix: v for k, v in out.items()}


def benchmark_args(args):
    """The sparse-to-dense benchmark's settings for this one's ``args``:
    its data, work dir (whose stage-one and dense runs are reused),
    radius and fixed threshold."""
    from mmengine.config import Config
    bench = s2d.parse_args(['--preset', args.preset, '--base-config', args.base_config] +
                           (['--reuse'] if args.reuse else []) +
                           (['--cfg-options', *args.cfg_options] if args.cfg_options else []) +
                           (['--data-root', args.data_root] if args.data_root else []) +
                           (['--radius', str(args.radius)] if args.radius else []) +
                           (['--topk', str(args.topk)] if args.topk else []))
    base = Config.fromfile(bench.base_config)
    bench.radius_used = args.radius or base.test_evaluator.radius
    bench.fixed_thr = base.model.head.decoder.decode_thr
    bench.work_dir = args.work_dir or osp.join(
        'work_dirs', 'benchmark', args.s2d_tag if args.data_root else
        f"{args.preset}_{'salient' if args.preset == 'varied' else 'uniform'}")
    bench.out = args.out
    return bench


def stage_one_head(teacher_loss, stage2):
    """Overrides of a stage-two config ``stage2`` for a stage one trained
    with ``teacher_loss``: none if its outputs are read like stage two's
    (Hill, Crag and Tail: logits through a sigmoid); else (MSE: scores,
    ``score_activation=None``) stage two keeps that stage one's head, its
    activation and loss, for the student and the teacher alike (the
    stage-two loss takes logits; the model refuses a checkpoint read
    through another activation)."""
    from mmengine.config import Config
    head = Config.fromfile(osp.join(ROOT, s2d.LOSS_CONFIGS[teacher_loss])).model.head
    default = 'sigmoid'  # PointHeatmapHead's
    if head.get('score_activation', default) == s2d.head_cfg(stage2).get(
            'score_activation', default):
        return {}
    return {'model.detector.head.score_activation': head.get('score_activation', default),
            'model.detector.head.loss': dict(head.loss.to_dict(), _delete_=True)}


def fine_tune_schedule(stage2_config):
    """Stage two's schedule as overrides of a stage-one config (the
    control: the same epochs and learning rates without pseudo labels)."""
    from mmengine.config import Config
    stage2 = Config.fromfile(stage2_config)
    return {'train_cfg': stage2.train_cfg.to_dict(),
            'optim_wrapper': stage2.optim_wrapper.to_dict(),
            'param_scheduler': [dict(s) for s in stage2.param_scheduler]}


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)
    from mmengine.config import Config
    bench = benchmark_args(args)
    radius = bench.radius_used
    schedule = fine_tune_schedule(args.stage2_config)
    data_root = s2d.method_data(bench, bench.clicks)[0]
    rows, curves, first = [], [], {}

    teacher_loss, _, _, teacher_overrides = s2d.method_run(bench, args.teacher, bench.clicks)
    # the runs of other teachers and stage-two transforms in their own folders
    stage_two_dir = '_'.join(['stage_two'] + [args.teacher] * (args.teacher != 'cragtail') +
                             [args.stage2_transform] * bool(args.stage2_transform))

    # the stage-two runs start from stage one's checkpoint; with --reuse it
    # is trained (when only its committed result is left) only once a
    # stage-two run of the seed cannot be reused either
    trains_from_it = bool(set(args.methods) - {'stage1', 'dense'})

    def stage_one(seed, need_model=trains_from_it and not args.reuse):
        """Stage one of ``seed`` (the sparse-to-dense run of ``--teacher``,
        reused): its row, curve, checkpoint path and work dir; with
        ``need_model`` the checkpoint is trained here if only the committed
        result is left."""
        have = first.get(seed)
        if have is None or (need_model and not osp.isfile(have[2])):
            one = osp.join(s2d.seed_work_dir(bench, seed), f'clicks_{bench.clicks}',
                           args.teacher)
            row1, curve1 = s2d.train_and_test(bench, teacher_loss, data_root, one,
                                              teacher_overrides, seed=seed,
                                              need_model=need_model)
            ckpt = stage_one_checkpoint(one, row1)
            if ckpt is None:  # a result that does not name its checkpoint
                if need_model:
                    raise RuntimeError(f'{one}: trained, but no last_checkpoint')
                return stage_one(seed, need_model=True)
            first[seed] = (row1, curve1, ckpt, one)
        return first[seed]

    def train_stage_one(seed, ckpt):
        """What a stage-two run of ``seed`` needs before it trains: its
        stage-one checkpoint ``ckpt`` (trained here if only the committed
        result is left)."""
        def train():
            trained = stage_one(seed, need_model=True)[2]
            if trained != ckpt:
                raise RuntimeError(f'stage one of seed {seed} trained to {trained}, '
                                   f'not to {ckpt} as its result said')
        return train

    def finish(row, method, seed, run_dir, name):
        """A method's row as the table shows it (and its flip test)."""
        row.update(loss=method, method=method, seed=seed)
        if args.flip_test:
            row.update(flip_test(run_dir, osp.join(run_dir, 'run_config', f'{name}.py')))
        return row

    for seed in args.seeds:
        seed_dir = s2d.seed_work_dir(bench, seed)
        row1, curve1, ckpt, one = stage_one(seed)
        at_stage1 = None  # where the stage1 row is in rows
        # cross pairs: the partner is the next seed's stage-one model (seed
        # 0 with 1, 1 with 2, 2 with 3...), whichever seeds are listed
        partner = (stage_one(seed + 1, need_model=True)[2] if 'stage2_cross' in args.methods
                   else None)
        print(f'=== seed {seed}: stage one {ckpt}', flush=True)
        for method in args.methods:
            work = osp.join(seed_dir, stage_two_dir, method)
            if method == 'stage1':
                row, curve = dict(row1), curve1
            elif method == 'dense':
                dense_data = s2d.method_data(bench, 'dense')
                if dense_data is None:
                    print(f'note: no dense ceiling: {data_root} has no {s2d.DENSE_TRAIN}')
                    continue
                row, curve = s2d.train_and_test(
                    bench, 'cragtail', dense_data[0],
                    osp.join(seed_dir, 'clicks_dense', 'cragtail'), dense_data[1],
                    seed=seed)
            elif method in ('control', 'splc'):
                # the teacher's own training transform, or stage two's
                transform = args.stage2_transform or args.teacher
                over = dict(schedule, load_from=ckpt,
                            **s2d.method_overrides(bench, transform, data_root=data_root))
                if method == 'splc':
                    over.update({'model.head.loss.type': 'SPLCCragTailLoss',
                                 'model.head.loss.tau': 0.6})
                row, curve = s2d.train_and_test(bench, teacher_loss, data_root, work, over,
                                                label=method, seed=seed,
                                                before_training=train_stage_one(seed, ckpt))
            else:
                config = variant_config(args.stage2_config, method)
                variant = Config.fromfile(config)
                over = {'model.init_cfg.checkpoint': ckpt,
                        **stage_one_head(teacher_loss, variant),
                        **s2d.method_overrides(bench, args.stage2_transform, config,
                                               data_root)}
                change = HOOK_CHANGES.get(method, {})
                hooks = [dict(h, **change.get(h['type'], {})) for h in variant.custom_hooks]
                if not s2d.has_dense_train(data_root):
                    # no dense truth of the training frames to score pseudo labels
                    hooks = [h for h in hooks if h['type'] != 'PseudoLabelQualityHook']
                elif args.radius:
                    hooks = [dict(h, radius=args.radius) if h['type'] == 'PseudoLabelQualityHook'
                             else h for h in hooks]
                if hooks != variant.custom_hooks:
                    over['custom_hooks'] = [dict(h) for h in hooks]
                over.update({f'model.semi_train_cfg.{k}': v
                             for k, v in MODEL_CHANGES.get(method, {}).items()})
                if method == 'stage2_cross':
                    over['model.partner_load_from'] = partner
                row, curve = s2d.train_and_test(bench, method, data_root, work, over,
                                                seed=seed, config=config,
                                                before_training=train_stage_one(seed, ckpt))
                quality = pseudo_quality(work)
                if method == 'stage2_cross':
                    quality.update(pseudo_quality(work, '_b'))
                row.update(quality)
                s2d.add_to_result(bench, work, quality)
            run_dir = {'stage1': one,
                       'dense': osp.join(seed_dir, 'clicks_dense', 'cragtail')}.get(method, work)
            name = (method if method.startswith('stage2') else
                    'cragtail' if method == 'dense' else teacher_loss)
            if method == 'stage1':
                at_stage1 = len(rows)
            rows.append(finish(row, method, seed, run_dir, name))
            curves.append((method, curve))
        retrained = first[seed]
        if at_stage1 is not None and retrained[0] is not row1:
            # stage one was trained here for a stage-two run (only its
            # committed result was left, and CPU training is not bit-identical
            # across machines): the stage1 row is the model stage two started from
            print(f'=== seed {seed}: stage one retrained for stage two: F1 {row1["f1"]:.1f} '
                  f'(committed) -> {retrained[0]["f1"]:.1f}', flush=True)
            rows[at_stage1] = finish(dict(retrained[0]), 'stage1', seed, one, teacher_loss)
            curves[at_stage1] = ('stage1', retrained[1])
    summary = s2d.summarize(rows, s2d.SUMMARY_KEYS)
    by = s2d.summary_by_method(summary)
    f1 = {m: s['f1_mean'] for m, s in by.items()}
    if 'stage1' in f1 and 'dense' in f1 and f1['dense'] > f1['stage1']:
        for m, s in by.items():
            s['gap_closed'] = 100 * (f1[m] - f1['stage1']) / (f1['dense'] - f1['stage1'])
    for m, s in by.items():
        vals = [r['pseudo_precision'] for r in rows if r['method'] == m and 'pseudo_precision' in r]
        if vals:
            s['pseudo_precision_mean'] = statistics.fmean(vals)
            s['pseudo_precision_min'] = min(r['pseudo_precision_min'] for r in rows
                                            if r['method'] == m)
    table = s2d.summary_markdown(summary) + '\nGap closed (percent of the stage-one to ' \
        'dense F1 gap): ' + ', '.join(f'{m} {s["gap_closed"]:.0f}%' for m, s in by.items()
                                      if 'gap_closed' in s) + '\n\nPer seed:\n\n' + \
        s2d.markdown(rows, radius, extra=('seed', ))
    if args.flip_test:
        table += ('\nWith the flip test at validation and test (mean ± sample std, '
                  'percent):\n\n' + flip_markdown(rows))
    payload = dict(radius=radius, stage2_config=args.stage2_config, seeds=args.seeds,
                   teacher=args.teacher, stage2_transform=args.stage2_transform,
                   runs=rows, summary=by)
    s2d.write(bench, args.tag, payload, table, curves, radius, 'Stage two: test precision-recall')


if __name__ == '__main__':
    s2d.exit_on_sigterm()
    main()

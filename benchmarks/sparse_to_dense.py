#!/usr/bin/env python
"""Sparse-to-dense benchmark: MSE vs Hill vs Crag and Tail, and the
dense-label ceiling.

Trains the same network (backbone, schedule, data) with each loss on
training frames that carry only a few clicks, once per training seed (0 1 2
by default), tests each on the dense test split, and writes a table
(markdown + JSON, mean and sample standard deviation over seeds) and a
precision-recall plot. ``dense`` is the ceiling: Crag and Tail trained on
the same frames with every nodule labelled. The generated data is the
``varied`` preset with clicks biased to salient nodules (the annotators'
bias); ``--preset classic`` gives the first generator (uniform clicks).

    python benchmarks/sparse_to_dense.py                       # default run
    python benchmarks/sparse_to_dense.py --reuse               # finish it
    python benchmarks/sparse_to_dense.py --sweep-clicks 1 3 5 dense
    python benchmarks/sparse_to_dense.py --sweep-lambda 0.5 1.0 1.5 2.0
    python benchmarks/sparse_to_dense.py --ablation             # loss design
    python benchmarks/sparse_to_dense.py --seeds 0 1 2          # seed spread
    python benchmarks/sparse_to_dense.py --data-root data/carcinosis/ \\
        --base-config configs/cragtail_hrnet-w32_1xb4-100e_carcinosis-1280x736.py --radius 20 --tag mydata

With ``--data-root`` the generator is skipped and your data (the
CarcinosisDataset layout) is used as it is; the dense ceiling is trained on
``annotations/train_dense.json`` when the data root has it (every nodule of
the training frames; ``tools/masks_to_points.py`` writes one). Every run decodes with a low score
floor, picks the threshold with the best F1 on the validation split, and
reports the test split at that threshold (plus AP, which needs no threshold).
Figures are in percent.
"""
import argparse
import copy
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
LOSS_CONFIGS = dict(mse='configs/mse_hrnet-w32_1xb4-100e_carcinosis-1280x736.py', hill='configs/hill_hrnet-w32_1xb4-100e_carcinosis-1280x736.py',
                    cragtail='configs/cragtail_hrnet-w32_1xb4-100e_carcinosis-1280x736.py')
# methods of the comparison: (loss config, click budget; None: --clicks).
# "dense" is the ceiling: Crag and Tail with every nodule labelled.
METHODS = dict(mse=('mse', None), hill=('hill', None),
               cragtail=('cragtail', None), dense=('cragtail', 'dense'),
               cragtail_dim=('cragtail', None), cragtail_paste=('cragtail', None),
               cragtail_video=('cragtail', None), cragtail_paste_video=('cragtail', None),
               cragtail_paste_context=('cragtail', None),
               cragtail_paste_variance=('cragtail', None),
               cragtail_paste_crf=('cragtail', None))
# methods that add a training transform after LoadImage (``radius``: the
# nodule radius in frame pixels, --dim-radius)
_PASTE = dict(type='PasteDimmedNodules', prob=0.5, factor=(0.2, 0.6), scale=(0.6, 1.0),
              blur=(0.0, 1.0))
TRAIN_TRANSFORMS = dict(cragtail_dim=dict(type='DimClickedNodules', prob=0.5,
                                          factor=(0.2, 0.6)),
                        cragtail_paste=_PASTE, cragtail_paste_video=_PASTE,
                        cragtail_paste_context=_PASTE, cragtail_paste_variance=_PASTE,
                        cragtail_paste_crf=_PASTE)
# methods that add PA-Seg's contextual regularisation to the head
# (``context_loss``; AppearanceMap before PackPoseInputs packs the frame's
# look at heatmap size): both terms, the variance term alone, the CRF term
# alone
CONTEXT_LOSSES = dict(
    cragtail_paste_context=dict(type='ContextualRegularisationLoss'),
    cragtail_paste_variance=dict(type='ContextualRegularisationLoss', crf_weight=0.0),
    cragtail_paste_crf=dict(type='ContextualRegularisationLoss', variance_weight=0.0))
# methods that train on the clicks carried through each video
# (tools/propagate_clicks.py, its defaults, --radius as the benchmark's)
PROPAGATED = ('cragtail_video', 'cragtail_paste_video')
#: methods that change the training data (a transform, the clicks, both)
#: and nothing else (stage two can train on them: ``--stage2-transform``)
DATA_METHODS = tuple(m for m in dict.fromkeys([*TRAIN_TRANSFORMS, *PROPAGATED])
                     if m not in CONTEXT_LOSSES)
#: the shipped stage one (configs/cragtail-paste_*): what stage two, the
#: review loop and the demo start from
STAGE_ONE = 'cragtail_paste'
DEFAULT_LOSSES = ('mse', 'hill', 'cragtail', STAGE_ONE, 'dense')
DEFAULT_SEEDS = (0, 1, 2)
# generated frames are 480x270; nodule radius range per preset at that size
# (varied: 2 to 8 px, i.e. 5 to 21 px at 1280x720: the generator's own 2 to
# 12 px at 1280 would put the smallest nodules below one heatmap pixel of
# the demo network)
PRESET_RADIUS = dict(varied=('2', '8'), classic=('3', '7'))
KEYS = ('f1', 'precision', 'recall', 'ap', 'best_f1', 'best_thr', 'count_error',
        'num_gt', 'num_pred')


def exit_on_sigterm():
    """Turn SIGTERM into ``SystemExit`` in a benchmark's process, so that
    killing it (``kill PID``, a job scheduler's stop) also stops the training
    or test it is waiting for: ``subprocess.run`` kills its child on any
    exception, and the child's data loader workers exit with it. Without
    this, SIGTERM ends the benchmark and leaves the training running."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--losses', nargs='+', default=list(DEFAULT_LOSSES),
                   choices=sorted(METHODS),
                   help='methods; "dense" = Crag and Tail on every nodule (ceiling); '
                   'cragtail_dim / cragtail_paste: with DimClickedNodules / '
                   'PasteDimmedNodules; cragtail_video: on the clicks carried through '
                   'each video (tools/propagate_clicks.py); cragtail_paste_video: both; '
                   'cragtail_paste_context / cragtail_paste_variance / cragtail_paste_crf: '
                   'pasted, with PA-Seg\'s contextual regularisation '
                   '(ContextualRegularisationLoss) / its variance term alone / its CRF '
                   'term alone')
    p.add_argument('--preset', choices=('varied', 'classic'), default='varied',
                   help='generator preset (ignored with --data-root)')
    p.add_argument('--click-bias', choices=('salient', 'uniform'),
                   help='annotator model of the generated clicks (default: '
                   'the preset\'s: varied salient, classic uniform)')
    p.add_argument('--base-config', default='configs/cragtail_hrnet-w18s_1xb4-30e_synthetic-480x288.py',
                   help='network, schedule and data pipeline for every run')
    p.add_argument('--data-root', help='your data set; default: generate one')
    p.add_argument('--clicks', default='1-5',
                   help='train clicks per frame of the generated set')
    p.add_argument('--sweep-clicks', nargs='+', metavar='CLICKS',
                   help='repeat for several click budgets, e.g. 1 3 5 dense')
    p.add_argument('--sweep-lambda', nargs='+', type=float, metavar='LAMBDA',
                   help='Crag and Tail only, one run per lambda')
    p.add_argument('--ablation', action='store_true',
                   help='Crag and Tail only: change one design choice at a '
                   'time (positives, normalisation, margin, focal, tail, prior)')
    p.add_argument('--epochs', type=int, help='override train_cfg.max_epochs')
    p.add_argument('--radius', type=float, help='headline matching radius '
                   '(default: the base config metric radius)')
    p.add_argument('--seed', type=int,
                   help='one training seed instead of --seeds (outputs get a '
                   '_seedS suffix); seed S > 0 runs under WORK_DIR/seed_S')
    p.add_argument('--seeds', type=int, nargs='+', metavar='SEED',
                   help='training seeds of the comparison (same data); mean and '
                   'sample standard deviation per method (default: 0 1 2)')
    p.add_argument('--select', choices=('last', 'best-val'), default='last',
                   help='checkpoint to test: the last one, or the kept '
                   'checkpoint (epoch_*.pth) with the best validation AP')
    p.add_argument('--fixed-thr', type=float,
                   help='also report F1 at this threshold (default: the base '
                   'config decode_thr)')
    p.add_argument('--decode-floor', type=float, default=0.001,
                   help='lowest score decoded (keep it below every loss\'s '
                   'useful scores: 0.02 cut MSE\'s recall at 68%%); the F1 '
                   'threshold is then picked on the validation split')
    p.add_argument('--topk', type=int,
                   help='most points decoded per frame (the decoder\'s decode_topk; '
                   'default: the base config\'s, 30). Set it above the most points '
                   'a test frame holds, or recall is capped at k / points')
    p.add_argument('--dim-radius', type=float,
                   help='nodule radius (frame pixels) of the augmentations of cragtail_dim '
                   '(DimClickedNodules) and cragtail_paste (PasteDimmedNodules); '
                   'default 0.7 x the headline matching radius')
    p.add_argument('--data-seed', type=int, default=0)
    p.add_argument('--videos', type=int, nargs=3, default=(6, 2, 4))
    p.add_argument('--frames-per-video', type=int, default=8)
    p.add_argument('--work-dir', help='default: work_dirs/benchmark/<preset>_'
                   '<click bias> (generated data) or work_dirs/benchmark/<tag>')
    p.add_argument('--out', default='benchmarks/results')
    p.add_argument('--tag', default='sparse_to_dense',
                   help='file name stem of the outputs')
    p.add_argument('--cfg-options', nargs='+', default=[],
                   help='extra config overrides for every run')
    p.add_argument('--reuse', action='store_true',
                   help='reuse finished runs whose merged config is unchanged (in '
                   'the work dir, or committed under --run-results), and trained '
                   'models whose training config is unchanged')
    p.add_argument('--run-results', default='benchmarks/results/runs',
                   help='where each finished run\'s result is kept for --reuse in a '
                   'later sitting (commit it); empty: nowhere')
    return p.parse_args(argv)


def generated_data(args, clicks):
    bias = args.click_bias or ('salient' if args.preset == 'varied' else 'uniform')
    root = osp.join(args.work_dir, f'data_{args.preset}_{bias}_clicks_{clicks}') + '/'
    if not osp.isfile(osp.join(root, 'annotations', 'test.json')):
        subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'make_synthetic_dataset.py'),
                        root, '--seed', str(args.data_seed), '--clicks', clicks,
                        '--preset', args.preset, '--click-bias', bias,
                        '--size', '480', '270',
                        '--nodule-radius', *PRESET_RADIUS[args.preset],
                        '--videos', *map(str, args.videos),
                        '--frames-per-video', str(args.frames_per_video)], check=True)
    return root


DENSE_TRAIN = 'annotations/train_dense.json'


def has_dense_train(data_root):
    """Whether a data root carries the dense truth of its training frames."""
    return osp.isfile(osp.join(data_root, DENSE_TRAIN))


def method_data(args, budget):
    """Data root and config overrides of a run with a click budget: the
    generated set of that budget, or ``--data-root`` as it is, its training
    frames with every nodule (``DENSE_TRAIN``) for ``'dense'``; None for
    ``'dense'`` on a data root without them."""
    if not args.data_root:
        return generated_data(args, budget), None
    if budget == 'dense':
        if not has_dense_train(args.data_root):
            return None
        return args.data_root, {'train_dataloader.dataset.ann_file': DENSE_TRAIN}
    return args.data_root, None


# Crag and Tail design ablation (--ablation): each open choice of the loss
# changed alone from the shipped config, as config overrides of the run.
# Round 2 (varied preset): the weak push of the tail on low-P background
# (docs/research_log.md) and the choices round 1 settled on the classic preset
# (round 1's list and results: benchmarks/results/classic/design_round1/).
ABLATION = (
    ('shipped', {}),
    ('negative cross-entropy, beta = 0.05', {'model.head.loss.neg_weight': 0.05}),
    ('negative cross-entropy, beta = 0.2', {'model.head.loss.neg_weight': 0.2}),
    ('lambda = 2.0', {'model.head.loss.lam': 2.0}),
    ('core positives (H > 0.5), unweighted',
     {'model.head.loss.pos_thr': 0.5, 'model.head.loss.pos_weight': 'none'}),
    ('per-frame normalisation', {'model.head.loss.normalize': 'sum'}),
)


def method_overrides(args, method, config=None, data_root=None):
    """Config overrides of ``method`` beyond its loss: the training pipeline
    of ``config`` (default: the base config) with the method's transform
    (:data:`TRAIN_TRANSFORMS`) after ``LoadImage``, or the training
    annotations of ``data_root`` with the clicks carried through each video
    (:data:`PROPAGATED`, :func:`propagated_clicks`); the head's
    ``context_loss`` and ``AppearanceMap`` before ``PackPoseInputs``
    (:data:`CONTEXT_LOSSES`)."""
    over = {}
    if method in PROPAGATED:
        over['train_dataloader.dataset.ann_file'] = propagated_clicks(args, data_root)
    if method in TRAIN_TRANSFORMS or method in CONTEXT_LOSSES:
        from mmengine.config import Config
        pipeline = [dict(t) for t in Config.fromfile(
            osp.join(ROOT, config or args.base_config)).train_dataloader.dataset.pipeline]
        if method in TRAIN_TRANSFORMS:
            radius = args.dim_radius or 0.7 * args.radius_used
            at = [t['type'] for t in pipeline].index('LoadImage') + 1
            pipeline.insert(at, dict(TRAIN_TRANSFORMS[method], radius=radius))
        if method in CONTEXT_LOSSES:
            pipeline.insert([t['type'] for t in pipeline].index('PackPoseInputs'),
                            dict(type='AppearanceMap'))
            over['model.head.context_loss'] = dict(CONTEXT_LOSSES[method])
        over['train_dataloader.dataset.pipeline'] = pipeline
    return over


def method_run(args, method, clicks):
    """What a run of ``method`` at click budget ``clicks`` trains with:
    ``(loss, budget, data_root, overrides)`` (the loss config's name, the
    method's own budget or ``clicks``, :func:`method_data` and
    :func:`method_overrides` merged; None without overrides)."""
    loss, budget = METHODS[method]
    budget = budget or clicks
    data_root, overrides = method_data(args, budget)
    overrides = {**(overrides or {}),
                 **method_overrides(args, method, data_root=data_root)} or None
    return loss, budget, data_root, overrides


def propagated_clicks(args, data_root):
    """Absolute path of ``data_root``'s training clicks carried through
    each video (``tools/propagate_clicks.py``, written once into
    ``<work dir>/propagated/``; the data root is left as it is)."""
    if data_root is None:
        raise ValueError('the propagated clicks need the data root')
    name = osp.basename(osp.normpath(data_root))
    out = osp.abspath(osp.join(args.work_dir, 'propagated', f'{name}_train.json'))
    if not osp.isfile(out):
        subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'propagate_clicks.py'),
                        data_root, '--radius', f'{args.radius_used:g}', '--out', out],
                       check=True)
    return out


def seed_work_dir(args, seed):
    """Runs of seed 0 live in ``--work-dir``, of seed S in ``seed_S/``."""
    return args.work_dir if seed == 0 else osp.join(args.work_dir, f'seed_{seed}')


def head_cfg(cfg):
    """The point head's config, also inside a stage-two wrapper."""
    from mmpose_carcinosis.utils import point_network_cfg
    return point_network_cfg(cfg.model).head


def run_config(args, loss, data_root, work, overrides=None, seed=0, config=None):
    """Write the merged config of one run (what tools/train.py is given);
    return its path and the merged config itself (:func:`finished_status`
    compares it with a finished run's).
    ``overrides``: flat ``{'a.b.c': value}`` changes of this run only.
    ``config``: a whole config for this run (e.g. stage two) instead of
    ``--base-config`` with the head of ``LOSS_CONFIGS[loss]``."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, config or args.base_config))
    if config is None:
        variant = Config.fromfile(osp.join(ROOT, LOSS_CONFIGS[loss]))
        for key in ('loss', 'score_activation', 'init_cfg'):
            cfg.model.head[key] = variant.model.head[key]
    if overrides:
        cfg.merge_from_dict(overrides)
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = data_root
    if args.epochs:
        # shorten the whole schedule, not just the loop: epoch-based
        # schedulers that ended with training end with it again
        old = cfg.train_cfg.max_epochs
        for sched in cfg.param_scheduler:
            if sched.get('by_epoch', True):
                for key in ('end', 'T_max'):
                    if sched.get(key) == old:
                        sched[key] = args.epochs
        cfg.train_cfg.max_epochs = args.epochs
        cfg.train_cfg.val_interval = args.epochs
    if args.radius:
        radii = sorted(set(cfg.test_evaluator.radii) | {args.radius})
        for ev in ('val_evaluator', 'test_evaluator'):
            cfg[ev].update(radii=radii, radius=args.radius)
    # decode with a low floor; the operating threshold is chosen on val
    head_cfg(cfg).decoder.decode_thr = args.decode_floor
    if args.topk:
        head_cfg(cfg).decoder.decode_topk = args.topk
    cfg.randomness = dict(seed=seed)
    cfg.test_evaluator.curve_file = osp.join(work, 'pr_curve.json')
    # not directly in ``work``: MMEngine's Runner dumps its own merged config
    # there under the same base name, which would overwrite this one
    os.makedirs(osp.join(work, 'run_config'), exist_ok=True)
    path = osp.join(work, 'run_config', f'{loss}.py')
    with open(path, 'w') as f:
        f.write(cfg.pretty_text)
    return path, cfg


# hooks that change neither the trained weights nor any test figure (they
# only add to checkpoints' meta): a config that differs from a finished
# run's by them alone is the same run
NEUTRAL_HOOKS = ('ScoreThresholdHook', )


# top-level names the Runner does not read (variables of the config files,
# imports), which changed when the configs were split into ``_base_/``
CONFIG_ONLY_KEYS = ('data_mode', 'semi_train_cfg', 'semi_test_cfg', 'self_training',
                    'stage_two_hooks', 'rounds_threshold',
                    'custom_hooks_ema', 'custom_hooks_rounds', 'custom_imports')


def _drop_default_scope(node):
    """Remove ``_scope_='mmpose'`` markers (MMPose is the default scope;
    configs inheriting ``mmpose::`` files carry them) in place."""
    if isinstance(node, dict):
        if node.get('_scope_') == 'mmpose':
            node.pop('_scope_')
        for value in node.values():
            _drop_default_scope(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _drop_default_scope(value)


def semi_form(model):
    """A stage-two model config in today's form (``semi_train_cfg`` with
    every option, ``init_cfg`` for the stage-one checkpoint), also from the
    former flat form (``stage_one``, ``click_radius`` in heatmap pixels,
    ``cross``), so that committed runs of either form compare equal when
    they train the same model."""
    from mmpose_carcinosis.models.pose_estimators.point_self_training import (
        SEMI_TEST_DEFAULTS, SEMI_TRAIN_DEFAULTS)
    from mmpose_carcinosis.utils import point_network_cfg
    model = copy.deepcopy(model)
    train = dict(copy.deepcopy(SEMI_TRAIN_DEFAULTS), **model.pop('semi_train_cfg', {}))
    test = dict(SEMI_TEST_DEFAULTS, **model.pop('semi_test_cfg', {}))
    codec = point_network_cfg(model).head.decoder
    stride = codec.input_size[0] / codec.heatmap_size[0]
    flat = [key for key in SEMI_TRAIN_DEFAULTS if key in model]
    for key in flat:
        train[key] = model.pop(key)
    if 'click_radius' in flat:  # the flat form's radius was in heatmap pixels
        train['click_radius'] = train['click_radius'] * stride
    if 'predict_on' in model:
        test['predict_on'] = model.pop('predict_on')
    if 'stage_one' in model:
        model.init_cfg = dict(type='Pretrained', checkpoint=model.pop('stage_one'))
    cross = model.pop('cross', None)
    if cross is not None:
        model.type = 'PointCrossTraining'
        model.partner_load_from = cross.get('stage_one')
        train.update(cross_weight=cross.get('weight', 0.5),
                     cross_temperature=cross.get('temperature', 4.0))
    if model.type == 'PointCrossTraining':
        train.setdefault('cross_weight', 0.5)
        train.setdefault('cross_temperature', 4.0)
    model.semi_train_cfg, model.semi_test_cfg = train, test
    return model


def without_defaults(hook):
    """``hook`` (a config dict) without the arguments equal to its class's
    defaults: a config that spells out a default builds the same hook.
    Hooks the registry does not know are returned as they are."""
    import inspect

    import mmpose_carcinosis  # noqa: F401  (registers the package's hooks)
    from mmpose.registry import HOOKS
    try:
        cls = HOOKS.get(hook['type'])
    except Exception:  # a scope that is not imported here
        cls = None
    if cls is None:
        return hook
    params = inspect.signature(cls.__init__).parameters
    return {k: v for k, v in hook.items()
            if not (k in params and params[k].default is not inspect.Parameter.empty
                    and params[k].default == v)}


def neutral(cfg):
    """A copy of ``cfg`` without the hooks of ``NEUTRAL_HOOKS`` and the
    settings that do not change what a CPU run trains or how it is tested:
    cuDNN's kernel choice, the (disabled) learning-rate scaling rule, the
    path the test curve is written to, the config files' own variables and
    the default scope; hook arguments at their defaults
    (:func:`without_defaults`); stage-two models in one form
    (:func:`semi_form`)."""
    cfg = copy.deepcopy(cfg)
    for key in CONFIG_ONLY_KEYS:
        cfg.pop(key, None)
    _drop_default_scope(cfg)
    if cfg.get('model', {}).get('type') in ('PointSelfTraining', 'PointCrossTraining'):
        cfg.model = semi_form(cfg.model)
    if cfg.get('custom_hooks'):
        cfg.custom_hooks = [without_defaults(h) for h in cfg.custom_hooks
                            if h.get('type') not in NEUTRAL_HOOKS]
    cfg.get('env_cfg', {}).pop('cudnn_benchmark', None)
    cfg.get('test_evaluator', {}).pop('curve_file', None)  # where the curve is written
    if not cfg.get('auto_scale_lr', {}).get('enable', False):
        cfg.pop('auto_scale_lr', None)
    return cfg


def training_signature(cfg):
    """The config text without the evaluation-only decoding settings (the
    score floor and top-k; a stage-one model is trained without decoding)
    and the neutral hooks: runs with equal signatures train the same model.
    Stage two decodes its teacher while it trains: there both count."""
    cfg = neutral(cfg)
    head_cfg(cfg).decoder.decode_thr = None
    if 'detector' not in cfg.model:
        head_cfg(cfg).decoder.decode_topk = None
    return cfg.pretty_text


def committed_result(args, work):
    """Where the finished run in ``work`` keeps its result in the
    repository: ``<--run-results>/<work dir name>/<work relative to it>.json``
    (None without ``--run-results``), so that a table can be finished in
    another sitting, on another machine, with ``--reuse``."""
    if not args.run_results:
        return None
    rel = osp.relpath(work, args.work_dir)
    suffix = '' if args.select == 'last' else f'_{args.select}'
    return osp.join(args.run_results, osp.basename(osp.normpath(args.work_dir)),
                    rel + suffix + '.json')


def save_result(args, work, merged, row, curve):
    """Keep a finished run's row and its test curve at the headline radius
    (the one the tables and plots read) with its config text
    (:func:`committed_result`)."""
    path = committed_result(args, work)
    if path:
        os.makedirs(osp.dirname(path), exist_ok=True)
        key = f'{args.radius_used:g}'
        with open(path, 'w') as f:
            json.dump(dict(config=merged.pretty_text, row=row, curve={key: curve[key]}), f)


def add_to_result(args, work, extra):
    """Add figures measured outside the test (e.g. stage two's pseudo-label
    quality, read from the run's logs) to the committed result."""
    path = committed_result(args, work)
    if not (extra and path and osp.isfile(path)):
        return
    with open(path) as f:
        saved = json.load(f)
    saved['row'].update(extra)
    with open(path, 'w') as f:
        json.dump(saved, f)


def same_run(config_text, merged) -> bool:
    """Whether a result saved with ``config_text`` (None: saved without
    one) is of the run ``merged`` describes (up to :func:`neutral`
    settings)."""
    from mmengine.config import Config
    return bool(config_text) and config_status(
        Config.fromstring(config_text, '.py'), merged) == 'same'


def load_result(args, work, merged):
    """The committed result of the run in ``work`` if its config was the
    same (up to :func:`neutral` settings), else None."""
    path = committed_result(args, work)
    if not (args.reuse and path and osp.isfile(path)):
        return None
    with open(path) as f:
        saved = json.load(f)
    return saved if same_run(saved.get('config'), merged) else None


def train_and_test(args, loss, data_root, work, overrides=None, label=None,
                   seed=0, config=None, need_model=False, before_training=None):
    """Train (unless reusable) and test one run; returns its row and test
    curve. With ``--reuse``: the result in ``work`` when the config is the
    same and the model trained, else the committed result
    (:func:`load_result`) unless ``need_model`` (the caller needs the
    trained checkpoint in ``work``). ``before_training``: called (no
    arguments) only when the run is trained here, e.g. to train the
    checkpoint it starts from."""
    cfg, merged = run_config(args, loss, data_root, work, overrides,
                                     seed, config)
    opts = ['--cfg-options', *args.cfg_options] if args.cfg_options else []
    # one result per checkpoint choice, so that both can be reused
    done = osp.join(work, 'result.json' if args.select == 'last'
                    else f'result_{args.select}.json')
    name = f'{loss} {label}' if label else loss
    train_time = training_time(work, merged.train_cfg.max_epochs)
    saved = None
    if osp.isfile(done):
        with open(done) as f:
            saved = json.load(f)
    # what the work dir's model was trained with is what its saved result
    # says: the run config is written before training, so a failed or
    # interrupted run leaves a new config beside an older run's model
    status = finished_status(work, merged)
    local = args.reuse and status == 'same' and saved and train_time is not None
    committed = None if local or need_model else load_result(args, work, merged)
    if local or committed:
        if committed:
            print(f'=== {name}: reusing {committed_result(args, work)} (same config)',
                  flush=True)
            saved = committed
        else:
            print(f'=== {name}: reusing {done} (same config)', flush=True)
            if not osp.isfile(committed_result(args, work) or ''):
                save_result(args, work, merged, saved['row'], saved['curve'])
        row, curve = saved['row'], saved['curve']
        row.update(at_threshold(curve, args.radius_used, args.fixed_thr),
                   fixed_thr=args.fixed_thr)
        return row, curve
    if (args.reuse and status in ('same', 'same_training')
            and train_time is not None):
        # only evaluation settings or the checkpoint choice changed: test the
        # trained model again
        print(f'=== {name}: re-testing the trained model ({work})', flush=True)
    else:
        if before_training is not None:
            before_training()
        print(f'\n=== {name}: training ({work})', flush=True)
        t0 = time.time()
        subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'train.py'), cfg,
                        '--work-dir', work, *opts], check=True)
        train_time = time.time() - t0
    test = [sys.executable, osp.join(ROOT, 'tools', 'test.py'), cfg]
    # 1) pick the checkpoint (--select) and the score threshold with the best
    # F1 on the validation split
    ckpt, val = select_checkpoint(args, test, work)
    thr = val['point/best_thr']
    # 2) test on the dense test split at that threshold
    metrics_file = osp.join(work, 'test_metrics.json')
    subprocess.run(test + [ckpt, '--work-dir', work, '--out', metrics_file,
                           '--dump', osp.join(work, 'test_predictions.pkl'),
                           '--cfg-options', f'test_evaluator.score_thr={thr}',
                           *args.cfg_options], check=True)
    with open(metrics_file) as f:
        m = json.load(f)
    with open(osp.join(work, 'pr_curve.json')) as f:
        curve = json.load(f)
    row = dict(loss=loss, seed=seed, **{k: m[f'point/{k}'] for k in KEYS})
    # per radius, and recall per annotation group (salience tercile)
    row.update({k[len('point/'):]: v for k, v in m.items()
                if '@' in k or k.startswith(('point/recall_', 'point/num_gt_'))})
    row['val_thr'] = thr
    row['select'] = args.select
    row['epoch'] = checkpoint_epoch(ckpt)
    row['val_ap'] = val['point/ap']
    row['fixed_thr'] = args.fixed_thr
    # the shipped configs' fixed threshold, like the study's single t
    row.update(at_threshold(curve, args.radius_used, args.fixed_thr))
    row['train_time_s'] = round(train_time, 1)
    with open(done, 'w') as f:
        json.dump(dict(row=row, curve=curve, config=merged.pretty_text), f)
    save_result(args, work, merged, row, curve)
    return row, curve


def config_status(old, cfg) -> str:
    """How config ``cfg`` compares with ``old``: ``'same'`` (up to
    :func:`neutral` settings), ``'same_training'`` (only evaluation settings
    differ: re-test the model) or ``'changed'``."""
    if neutral(old).pretty_text == neutral(cfg).pretty_text:
        return 'same'
    if training_signature(old) == training_signature(cfg):
        return 'same_training'
    return 'changed'


def finished_status(work, merged) -> str:
    """:func:`config_status` of ``merged`` against the config of the
    finished run in ``work`` (saved with its result, either checkpoint
    choice); ``'changed'`` when no result holds one (results saved before
    they did)."""
    from mmengine.config import Config
    names = sorted(n for n in os.listdir(work) if n.startswith('result') and
                   n.endswith('.json')) if osp.isdir(work) else []
    for name in names:
        with open(osp.join(work, name)) as f:
            text = json.load(f).get('config')
        if text:
            return config_status(Config.fromstring(text, '.py'), merged)
    return 'changed'


def training_time(work, max_epochs):
    """Seconds the finished training in ``work`` took, read from any result
    saved there (with either checkpoint choice); None if not trained, or if
    the last checkpoint is not that of epoch ``max_epochs`` (a training of
    the current config was interrupted after an earlier one had finished)."""
    if not osp.isfile(osp.join(work, 'last_checkpoint')):
        return None
    with open(osp.join(work, 'last_checkpoint')) as f:
        if checkpoint_epoch(f.read().strip()) != max_epochs:
            return None
    for name in sorted(os.listdir(work)):
        if name.startswith('result') and name.endswith('.json'):
            with open(osp.join(work, name)) as f:
                return json.load(f)['row']['train_time_s']
    return None


def checkpoint_epoch(path):
    """``.../epoch_20.pth`` -> 20 (None for other names)."""
    stem = osp.splitext(osp.basename(path))[0]
    return int(stem[len('epoch_'):]) if stem.startswith('epoch_') else None


def output_stem(args, seeds):
    """File stem of a table: ``<tag>[_clicks][_best-val][_<losses>][_seed<S>]``,
    so that a run of other seeds, a subset of the losses or another
    checkpoint choice never overwrites the default table that other tools
    read."""
    stem = f'{args.tag}_clicks' if args.sweep_clicks else args.tag
    if args.select != 'last':
        stem += f'_{args.select}'
    if sorted(args.losses) != sorted(DEFAULT_LOSSES):
        stem += '_' + '-'.join(args.losses)
    if sorted(seeds) != sorted(DEFAULT_SEEDS):
        stem += '_seed' + '-'.join(map(str, seeds))
    return stem


def select_checkpoint(args, test, work):
    """Evaluate the candidate checkpoints on the validation split; return
    the chosen one and its validation metrics. ``last``: the final
    checkpoint; ``best-val``: the kept ``epoch_*.pth`` with the highest
    validation AP (the later one on a tie)."""
    with open(osp.join(work, 'last_checkpoint')) as f:
        # the Runner writes an absolute path
        last = osp.abspath(f.read().strip())
    candidates = [last]
    if args.select == 'best-val':
        kept = [osp.abspath(osp.join(work, n)) for n in os.listdir(work)
                if checkpoint_epoch(n) is not None]
        candidates = sorted(set(kept) | {last}, key=checkpoint_epoch)
    best = None
    for ckpt in candidates:
        epoch = checkpoint_epoch(ckpt)
        suffix = '' if ckpt == last else f'_epoch_{epoch}'
        val_file = osp.join(work, f'val_metrics{suffix}.json')
        subprocess.run(test + [ckpt, '--work-dir', work, '--out', val_file,
                               '--cfg-options',
                               'test_dataloader.dataset.ann_file=annotations/val.json',
                               f'test_evaluator.curve_file={work}/val_pr_curve{suffix}.json',
                               *args.cfg_options], check=True)
        with open(val_file) as f:
            val = json.load(f)
        print(f'    {osp.basename(ckpt)}: validation AP {val["point/ap"]:.1f}',
              flush=True)
        if best is None or val['point/ap'] >= best[1]['point/ap']:
            best = (ckpt, val)
    return best


def at_threshold(curve, radius, thr):
    """Precision, recall and F1 (percent) at a fixed score threshold, read
    off a test precision-recall curve (the lowest swept threshold >= thr)."""
    c = curve[f'{radius:g}']
    idx = [i for i, t in enumerate(c['thresholds']) if t >= thr]
    if not idx:
        return dict(f1_fixed=0.0, precision_fixed=0.0, recall_fixed=0.0)
    p, r = c['precision'][idx[-1]], c['recall'][idx[-1]]
    f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return dict(f1_fixed=100 * f1, precision_fixed=100 * p, recall_fixed=100 * r)


GROUP_ORDER = ('faint', 'medium', 'obvious')


def group_keys(rows):
    """``recall_<group>`` keys present in every row (salience terciles in
    their natural order first, then other groups alphabetically)."""
    common = set.intersection(*(set(r) for r in rows)) if rows else set()
    names = [k[len('recall_'):] for k in common
             if k.startswith('recall_') and not k.endswith(('_fixed', '_flip'))]
    names.sort(key=lambda g: (GROUP_ORDER.index(g) if g in GROUP_ORDER
                              else len(GROUP_ORDER), g))
    return [f'recall_{g}' for g in names]


def markdown(rows, radius, extra=()):
    radii = sorted({float(k.split('@')[1]) for k in rows[0] if k.startswith('f1@')})
    groups = group_keys(rows)
    cols = list(extra) + ['loss', 'F1', 'precision', 'recall', 'AP', 'val thr',
                          'count err.', 'F1 / P / R at t'] + [
        f'R {g[len("recall_"):]}' for g in groups] + [
        f'F1@{r:g}' for r in radii] + ['train s']
    lines = ['| ' + ' | '.join(cols) + ' |', '|' + '---|' * len(cols)]
    for r in rows:
        vals = [str(r[e]) for e in extra] + [
            r['loss'], f"{r['f1']:.1f}", f"{r['precision']:.1f}",
            f"{r['recall']:.1f}", f"{r['ap']:.1f}",
            f"{r['val_thr']:.2f}", f"{r['count_error']:.1f}",
            f"{r['f1_fixed']:.1f} / {r['precision_fixed']:.1f} / {r['recall_fixed']:.1f}"
        ] + [f"{r[g]:.1f}" for g in groups] + [
            f"{r[f'f1@{x:g}']:.1f}" for x in radii] + [f"{r['train_time_s']:.0f}"]
        lines.append('| ' + ' | '.join(vals) + ' |')
    return (f'Test split, dense ground truth. Matching radius {radius:g} px '
            '(original frame pixels); F1, precision, recall at the score '
            'threshold with the best F1 on the validation split (val thr); AP '
            'over all thresholds; count err. = mean |#pred - #true| per frame; '
            f'F1 / P / R at t: at the fixed threshold t = {rows[0]["fixed_thr"]:g} of '
            'the shipped configs, like the study\'s single t; figures in '
            'percent.\n\n' + '\n'.join(lines) + '\n')


SUMMARY_KEYS = ('f1', 'precision', 'recall', 'ap', 'f1_fixed', 'recall_fixed',
                'count_error')


def summarize(rows, keys=SUMMARY_KEYS):
    """Mean and sample standard deviation over seeds of each (clicks, loss):
    ``[{'loss', 'clicks', 'seeds', 'f1', 'f1_std', ...}]`` in row order.
    Besides ``keys``: the per-group recalls every row has, and, when a
    ``dense`` method is among the rows, ``of_dense``: the method's mean F1
    as a percentage of the dense ceiling's mean F1."""
    import statistics
    groups = {}
    for r in rows:
        groups.setdefault((r.get('clicks'), r['loss']), []).append(r)
    keys = tuple(keys) + tuple(group_keys(rows))
    out = []
    for (clicks, loss), rs in groups.items():
        s = dict(loss=loss, clicks=clicks, seeds=[r['seed'] for r in rs])
        for k in keys:
            vals = [r[k] for r in rs]
            s[k] = statistics.fmean(vals)
            s[f'{k}_std'] = statistics.stdev(vals) if len(vals) > 1 else 0.0
        out.append(s)
    ceiling = [s['f1'] for s in out if s['loss'] == 'dense']
    if len(ceiling) == 1 and ceiling[0] > 0:
        for s in out:
            s['of_dense'] = 100 * s['f1'] / ceiling[0]
    return out


def summary_by_method(summary):
    """The summary as ``{method: {'f1_mean', 'f1_std', ...}}`` (the JSON
    format other tools read); methods of click sweeps are keyed
    ``'<loss> (<clicks> clicks)'``."""
    budgets = {s['clicks'] for s in summary}
    out = {}
    for s in summary:
        name = s['loss'] if len(budgets) == 1 else f"{s['loss']} ({s['clicks']} clicks)"
        entry = dict(seeds=s['seeds'])
        for k, v in s.items():
            if k in ('loss', 'clicks', 'seeds') or k.endswith('_std'):
                continue
            entry[k if k == 'of_dense' else f'{k}_mean'] = v
            if f'{k}_std' in s:
                entry[f'{k}_std'] = s[f'{k}_std']
        out[name] = entry
    return out


def summary_markdown(summary):
    groups = [k for k in summary[0] if k.startswith('recall_') and
              not k.endswith(('_std', '_fixed', '_flip'))] if summary else []
    keys = list(SUMMARY_KEYS) + groups
    cols = ['clicks', 'loss', 'seeds', 'F1', 'precision', 'recall', 'AP',
            'F1 at t', 'recall at t', 'count err.'] + [
        f'recall {g[len("recall_"):]}' for g in groups]
    ceiling = 'of_dense' in summary[0] if summary else False
    if ceiling:
        cols.append('F1 / dense F1')
    lines = ['| ' + ' | '.join(cols) + ' |', '|' + '---|' * len(cols)]
    for s in summary:
        vals = ([str(s['clicks'] or '-'), s['loss'], ' '.join(map(str, s['seeds']))] +
                [f"{s[k]:.1f} ± {s[f'{k}_std']:.1f}" for k in keys])
        if ceiling:
            vals.append(f"{s['of_dense']:.0f}%")
        lines.append('| ' + ' | '.join(vals) + ' |')
    return ('Mean ± sample standard deviation over training seeds (same '
            'data); columns as in the per-seed table below; recall per '
            'salience group at the validation-chosen threshold; F1 / dense '
            'F1: the fraction of the dense-label ceiling reached.\n\n' +
            '\n'.join(lines) + '\n')


def plot(curves, radius, path, title):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 4))
    colors = {}  # runs with the same label (seeds of one loss): one colour
    for label, curve in curves:
        first = label not in colors
        color = colors.setdefault(label, f'C{len(colors) % 10}')
        c = curve[f'{radius:g}']
        ax.plot(c['recall'], c['precision'], marker='.', color=color,
                label=label if first else None, alpha=1.0 if first else 0.6)
    ax.set_xlabel('recall')
    ax.set_ylabel('precision')
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(args, stem, payload, table, curves, radius, title):
    os.makedirs(args.out, exist_ok=True)
    with open(osp.join(args.out, f'{stem}.json'), 'w') as f:
        json.dump(payload, f, indent=1)
    with open(osp.join(args.out, f'{stem}.md'), 'w') as f:
        f.write(table)
    plot(curves, radius, osp.join(args.out, f'{stem}_pr.png'), title)
    print(f'\n{table}\nwritten: {args.out}/{stem}.json, .md, _pr.png')


def variant_sweep(args, common, column, variants, stem, title):
    """Crag and Tail runs that differ by config overrides, on one data set.
    ``variants``: ``(value of column, work subdir, overrides)`` per run."""
    data_root = args.data_root or generated_data(args, args.clicks)
    rows, curves = [], []
    for value, subdir, overrides in variants:
        label = value if column == 'variant' else f'{column}={value:g}'
        row, curve = train_and_test(
            args, 'cragtail', data_root,
            osp.join(seed_work_dir(args, args.seed or 0), subdir), overrides, label,
            args.seed or 0)
        row[column] = value
        rows.append(row)
        curves.append((label, curve))
    radius = common['radius']
    write(args, f'{args.tag}_{stem}', dict(common, clicks=args.clicks, runs=rows),
          markdown(rows, radius, extra=(column, )), curves, radius, title)


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)
    from mmengine.config import Config
    base = Config.fromfile(args.base_config)
    radius = args.radius or base.test_evaluator.radius
    args.radius_used = radius
    if args.fixed_thr is None:
        args.fixed_thr = base.model.head.decoder.decode_thr
    bias = args.click_bias or ('salient' if args.preset == 'varied' else 'uniform')
    if args.work_dir is None:
        args.work_dir = osp.join('work_dirs', 'benchmark', args.tag if args.data_root
                                 else f'{args.preset}_{bias}')
    common = dict(radius=radius, preset=None if args.data_root else args.preset,
                  click_bias=None if args.data_root else bias,
                  base_config=args.base_config, seed=args.seed or 0,
                  select=args.select, data=args.data_root or 'generated')

    if args.ablation:
        variant_sweep(args, common, 'variant', [
            (name, f'ablation_{i}', overrides) for i, (name, overrides) in enumerate(ABLATION)],
            'ablation', 'Crag and Tail, one choice changed at a time')
        return
    if args.sweep_lambda:
        variant_sweep(args, common, 'lambda', [
            (lam, f'lambda_{lam:g}', {'model.head.loss.lam': lam}) for lam in args.sweep_lambda],
            'lambda', 'Crag and Tail, lambda sweep')
        return
    budgets = args.sweep_clicks or [args.clicks]
    seeds = args.seeds or ([args.seed] if args.seed is not None else list(DEFAULT_SEEDS))
    methods = list(args.losses)
    if 'dense' in methods and args.sweep_clicks:
        # a sweep has its own dense budget
        print('note: "dense" is left out (click sweep)', flush=True)
        methods.remove('dense')
    if 'dense' in methods and method_data(args, 'dense') is None:
        print(f'note: "dense" is left out: {args.data_root} has no '
              f'{DENSE_TRAIN} (every nodule of the training frames)', flush=True)
        methods.remove('dense')
    all_rows, curves = [], []
    for clicks in budgets:
        for seed in seeds:
            for method in methods:
                loss, budget, data_root, overrides = method_run(args, method, clicks)
                row, curve = train_and_test(
                    args, loss, data_root,
                    osp.join(seed_work_dir(args, seed), f'clicks_{budget}',
                             loss if method == 'dense' else method),
                    overrides, seed=seed)
                row.update(loss=method, clicks=clicks, seed=seed)
                all_rows.append(row)
                curves.append((f'{method} ({clicks} clicks)' if args.sweep_clicks
                               else method, curve))
    stem = output_stem(args, seeds)
    extra = ('clicks', ) if args.sweep_clicks else ()
    payload = dict(common, seed=None, seeds=seeds,
                   clicks=budgets if args.sweep_clicks else args.clicks,
                   runs=all_rows)
    if len(seeds) > 1:
        extra += ('seed', )
    if args.select != 'last':
        extra += ('epoch', )  # of the chosen checkpoint
    summary = summarize(all_rows)
    payload['summary'] = summary_by_method(summary)
    table = (summary_markdown(summary) + '\nPer seed:\n\n' +
             markdown(all_rows, radius, extra=extra))
    write(args, stem, payload, table, curves, radius,
          'Sparse-to-dense: test precision-recall')


if __name__ == '__main__':
    exit_on_sigterm()
    main()

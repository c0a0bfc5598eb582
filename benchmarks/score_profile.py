#!/usr/bin/env python
"""Where a run's test scores sit: the score each true point gets, per
salience group, and the peaks the run puts on background.

A missed nodule is either not a peak at all (the network does not see it)
or a peak below the validation-chosen threshold (it ranks below false
peaks); and a raised background (many false peaks at middling scores)
pushes that threshold up. This tells them apart for the runs the
benchmarks keep (``<run>/test_predictions.pkl``, the threshold chosen on
validation in ``<run>/result.json``):

    python benchmarks/score_profile.py RUN_DIR [RUN_DIR ...] [--radius 14]
        [--bands 0.05 0.2 0.5] [--draw FRAME] [--out benchmarks/results/score_profile]

- per true point, the highest score of a prediction within ``--radius``
  (0 where none, i.e. no peak above the decoder's floor): per group, the
  median and the share below the run's threshold and below the lowest band
  edge;
- background peaks: predictions farther than ``--radius`` from every true
  point, per frame, in the score bands ``[b_i, b_i+1)`` (the last up to 1),
  and their median distance to the nearest true point (pixels; frames
  without truth count in the number, not in the distance).

With ``--draw FRAME`` (a test frame's file name), ``<out>.jpg``: that frame
as each run predicts it, side by side (truth as green rings, predictions
scoring at least the lowest band edge as dots coloured by score).
"""
import os.path as osp
import sys

import numpy as np

ROOT = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, ROOT)
from common import GROUPS, load_run, runs_parser, write_outputs  # noqa: E402


def parse_args(argv=None):
    p = runs_parser(__doc__)
    p.add_argument('--bands', type=float, nargs='+', default=[0.05, 0.2, 0.5],
                   help='lower edges of the background peaks\' score bands, increasing')
    p.add_argument('--draw', metavar='FRAME', help='a test frame to draw (its file name)')
    p.add_argument('--out', default='benchmarks/results/score_profile')
    args = p.parse_args(argv)
    if any(b >= c for b, c in zip(args.bands, args.bands[1:])) or not 0 <= args.bands[0]:
        p.error(f'--bands must be increasing and >= 0, got {args.bands}')
    return args


def score_profile(samples, radius):
    """Per true point its group and best score within ``radius`` (0 if no
    prediction is that near), and per background peak (farther than
    ``radius`` from every true point) its score and distance to the
    nearest true point (inf in a frame without truth).

    Args:
        samples (list[dict]): ``pred_instances`` (``keypoints`` (M, 1, 2),
            ``keypoint_scores`` (M, 1)), ``gt_instances`` (``keypoints``
            (N, 1, 2)) in frame pixels and ``group`` (N,).

    Returns:
        tuple: groups (N,) str, best scores (N,), background scores (B,),
        background distances (B,), all frames together.
    """
    groups, best, bg_score, bg_dist = [], [], [], []
    for s in samples:
        pts = np.asarray(s['pred_instances']['keypoints'], np.float64).reshape(-1, 2)
        scores = np.asarray(s['pred_instances']['keypoint_scores'], np.float64).reshape(-1)
        gt = np.asarray(s['gt_instances']['keypoints'], np.float64).reshape(-1, 2)
        d = np.linalg.norm(pts[:, None] - gt[None], axis=-1)  # (M, N)
        near = d < radius
        best.append(np.where(near, scores[:, None], 0.0).max(0) if len(pts)
                    else np.zeros(len(gt)))
        groups.append(np.asarray(s.get('group', ['all'] * len(gt)), str).reshape(-1))
        nearest = d.min(1) if len(gt) else np.full(len(pts), np.inf)
        bg = nearest >= radius
        bg_score.append(scores[bg])
        bg_dist.append(nearest[bg])
    return (np.concatenate(groups + [np.zeros(0, str)]), np.concatenate(best + [np.zeros(0)]),
            np.concatenate(bg_score + [np.zeros(0)]), np.concatenate(bg_dist + [np.zeros(0)]))


def summarize(samples, thr, radius, bands):
    """A run's row: per group ``{n, median, below_thr, below_low}`` (shares
    in percent) and per band ``{per_frame, median_distance}``."""
    groups, best, bg_score, bg_dist = score_profile(samples, radius)
    row = dict(thr=thr, groups={}, background={})
    for g in [g for g in GROUPS if g in set(groups)] + sorted(set(groups) - set(GROUPS)):
        v = best[groups == g]
        row['groups'][g] = dict(n=int(len(v)), median=float(np.median(v)),
                                below_thr=100 * float(np.mean(v < thr)),
                                below_low=100 * float(np.mean(v < bands[0])))
    edges = list(bands) + [np.inf]
    for lo, hi in zip(edges, edges[1:]):
        m = (bg_score >= lo) & (bg_score < hi)
        d = bg_dist[m & np.isfinite(bg_dist)]  # frames without truth have no nearest
        row['background'][f'{lo:g}-{"1" if hi == np.inf else f"{hi:g}"}'] = dict(
            per_frame=float(m.sum() / max(len(samples), 1)),
            median_distance=float(np.median(d)) if len(d) else None)
    return row


def draw(runs_samples, name, radius, low, path):
    """Frame ``name`` (a file name) as each run predicts it, side by side,
    written to ``path``."""
    import cv2

    from mmpose_carcinosis.visualization import draw_points
    tiles = []
    for samples in runs_samples:
        hits = [s for s in samples if osp.basename(s['img_path']) == name]
        if not hits:
            raise SystemExit(f'--draw: no test frame {name!r} among the run\'s predictions')
        s = hits[0]
        img = cv2.imread(s['img_path'])
        if img is None:
            raise SystemExit(f'--draw: cannot read {s["img_path"]}')
        pts = np.asarray(s['pred_instances']['keypoints'], np.float64).reshape(-1, 2)
        scores = np.asarray(s['pred_instances']['keypoint_scores'], np.float64).reshape(-1)
        keep = scores >= low
        tiles.append(draw_points(img, pts[keep], scores[keep],
                                 np.asarray(s['gt_instances']['keypoints']).reshape(-1, 2),
                                 radius))
    cv2.imwrite(path, np.hstack(tiles))
    print('drawn:', path)


def main(argv=None):
    args = parse_args(argv)
    rows, runs_samples = [], []
    for run in args.runs:
        samples, thr = load_run(run)
        runs_samples.append(samples)
        rows.append(dict(run=run, frames=len(samples),
                         **summarize(samples, thr, args.radius, args.bands)))
    groups = list(rows[0]['groups']) if rows else []
    bands = list(rows[0]['background']) if rows else []
    head = ([f'{g}: median / < thr / < {args.bands[0]:g}' for g in groups] +
            [f'background {b} per frame (px to truth)' for b in bands])
    lines = [f'Test scores: per true point the best prediction within {args.radius:g} px '
             f'(median score; percent below the run\'s validation-chosen threshold and below '
             f'{args.bands[0]:g}); background peaks (farther than {args.radius:g} px from every '
             'true point) per frame by score, with their median distance to the nearest true '
             'point.\n',
             '| run | thr | ' + ' | '.join(head) + ' |', '|---' * (len(head) + 2) + '|']
    for r in rows:
        cells = [f'{v["median"]:.3f} / {v["below_thr"]:.0f}% / {v["below_low"]:.0f}%'
                 for v in r['groups'].values()]
        cells += [f'{v["per_frame"]:.1f}' + (f' ({v["median_distance"]:.0f})'
                                             if v['median_distance'] is not None else '')
                  for v in r['background'].values()]
        lines.append(f'| {r["run"]} | {r["thr"]:.3f} | ' + ' | '.join(cells) + ' |')
    table = '\n'.join(lines) + '\n'
    write_outputs(args.out, dict(radius=args.radius, bands=args.bands, runs=rows), table)
    print(table)
    if args.draw:
        draw(runs_samples, args.draw, args.radius, args.bands[0], args.out + '.jpg')


if __name__ == '__main__':
    main()

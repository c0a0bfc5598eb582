#!/usr/bin/env python
"""Recall per salience group, near the frame edge and inside it.

A nucleus or nodule cut by the frame's edge shows a fragment: small, so in
the least salient group, and found (or missed) for other reasons than a
faint one inside the frame. This splits each run's test recall per group
by the true point's distance to the nearest frame edge.

Reads what the sparse-to-dense benchmark keeps of a run
(``<run>/test_predictions.pkl``, the threshold chosen on validation in
``<run>/result.json``):

    python benchmarks/recall_by_edge.py RUN_DIR [RUN_DIR ...] [--radius 14] [--edge 15]
        [--out benchmarks/results/recall_by_edge]

A true point is found when a prediction at or above the run's threshold is
matched to it (one to one within ``--radius``, as the metric does); "near"
means within ``--edge`` pixels of the frame's edge.
"""
import os.path as osp
import sys

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
from common import GROUPS, edge_distance, load_run, runs_parser, write_outputs  # noqa: E402


def parse_args(argv=None):
    p = runs_parser(__doc__)
    p.add_argument('--edge', type=float, default=15.0, help='"near the edge": pixels')
    p.add_argument('--out', default='benchmarks/results/recall_by_edge')
    return p.parse_args(argv)


def found_by_edge(samples, thr, radius, edge):
    """``{(group, near): [found, total]}`` over a run's test samples (dicts
    with ``pred_instances``, ``gt_instances``, ``group``, ``ori_shape``)."""
    from mmpose_carcinosis.evaluation import match_pairs
    counts = {}
    for s in samples:
        pts = np.asarray(s['pred_instances']['keypoints'], np.float64).reshape(-1, 2)
        scores = np.asarray(s['pred_instances']['keypoint_scores']).reshape(-1)
        gt = np.asarray(s['gt_instances']['keypoints'], np.float64).reshape(-1, 2)
        h, w = s['ori_shape'][:2]
        hit = np.zeros(len(gt), bool)
        hit[match_pairs(pts[scores >= thr], gt, radius)[1]] = True
        near = edge_distance(gt, h, w) < edge
        for g, n, f in zip(s['group'], near, hit):
            c = counts.setdefault((str(g), bool(n)), [0, 0])
            c[0] += int(f)
            c[1] += 1
    return counts


def main(argv=None):
    args = parse_args(argv)
    rows = []
    for run in args.runs:
        samples, thr = load_run(run)
        counts = found_by_edge(samples, thr, args.radius, args.edge)
        rows.append(dict(run=run, thr=thr,
                         counts={f'{g}/{"near" if n else "inside"}': c
                                 for (g, n), c in sorted(counts.items())}))
    head = [f'{g} {where}' for g in GROUPS for where in ('near', 'inside')]
    lines = [f'Test recall per salience group, within {args.edge:g} px of the frame edge '
             f'("near") and farther ("inside"), at each run\'s validation-chosen threshold, '
             f'radius {args.radius:g} px; percent (found / true).\n',
             '| run | ' + ' | '.join(head) + ' |', '|---' * (len(head) + 1) + '|']
    for r in rows:
        cells = []
        for g in GROUPS:
            for where in ('near', 'inside'):
                f, n = r['counts'].get(f'{g}/{where}', (0, 0))
                cells.append(f'{100 * f / n:.1f} ({f}/{n})' if n else '-')
        lines.append(f'| {r["run"]} | ' + ' | '.join(cells) + ' |')
    table = '\n'.join(lines) + '\n'
    write_outputs(args.out, dict(radius=args.radius, edge=args.edge, runs=rows), table)
    print(table)


if __name__ == '__main__':
    main()

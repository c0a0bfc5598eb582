#!/usr/bin/env python
"""Where do a teacher's false pseudo labels lie? By distance to the frame
edge, with and without the head's padding rule (``frame_margin``).

Runs a trained model on the training frames (test pipeline), takes its
pseudo labels at ``--thr`` (:func:`score_pseudo_labels`: predictions at or
above the threshold farther than the click radius from every click),
matches them one-to-one to the unclicked dense truth within ``--radius``
and counts them per band of distance to the nearest frame edge (frame
pixels from the nearest pixel centre row or column; negative: outside the
frame, in the padding of a fitted input). Twice: with the head's
``frame_margin`` off (``None``: every decoded point kept) and at its
configured value (points more than a heatmap pixel outside dropped, the
rest clipped into the frame).

    python benchmarks/pseudo_label_edges.py CONFIG CKPT --data-root ROOT \\
        [--thr T] [--radius 14] [--click-radius R] [--draw FRAME ...]
        [--out benchmarks/results/pseudo_label_edges]

``--thr``: default the threshold stored with the checkpoint. Writes
``<out>.json`` and ``<out>.md``; with ``--draw``, the named training frames
(file names as in the annotation file) as ``<out>_<frame>.jpg``: the dense
truth as green rings of the matching radius, the pseudo labels as dots
coloured by score.
"""
import argparse
import json
import os.path as osp
import sys

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
from common import edge_distance, write_outputs  # noqa: E402

BANDS = (-np.inf, 0.0, 5.0, 10.0, 15.0, 20.0, np.inf)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--data-root', required=True)
    p.add_argument('--ann-file', default='annotations/train.json')
    p.add_argument('--dense-file', default='annotations/train_dense.json')
    p.add_argument('--thr', type=float, help='pseudo-label threshold (default: the stored one)')
    p.add_argument('--radius', type=float, default=14.0, help='matching radius, frame pixels')
    p.add_argument('--click-radius', type=float,
                   help='frame pixels (default: the matching radius)')
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--draw', nargs='*', default=[], metavar='FRAME',
                   help='training frames to draw (file names of the annotation file)')
    p.add_argument('--out', default='benchmarks/results/pseudo_label_edges')
    return p.parse_args(argv)


def points_by_image(path):
    """``{file name: (N, 2)}`` of a point file (the dataset's parser: its
    checks, negatives and points outside the frame left out) and the
    frames' ``(height, width)``."""
    from mmpose_carcinosis.datasets import parse_carcinosis_annotations
    with open(path) as f:
        infos = parse_carcinosis_annotations(json.load(f), path)
    return ({i['img_path']: np.asarray(i['keypoints'], np.float64).reshape(-1, 2)
             for i in infos}, {i['img_path']: (i['height'], i['width']) for i in infos})


def tally(frames, clicks, truth, sizes, thr, click_radius, radius):
    """Per band: pseudo labels and false ones, over the frames'
    predictions ``{name: (points (M, 2), scores (M,))}``."""
    from mmpose_carcinosis.models.utils.pseudo_labels import score_pseudo_labels
    from mmpose_carcinosis.evaluation import match_pairs
    n, false = np.zeros(len(BANDS) - 1, int), np.zeros(len(BANDS) - 1, int)
    for name, (pts, scores) in frames.items():
        keep, unclicked, _, _ = score_pseudo_labels(pts, scores, truth[name], clicks[name], thr,
                                                    click_radius, radius)
        pseudo = pts[keep]
        hit = np.zeros(len(pseudo), bool)
        hit[match_pairs(pseudo, truth[name][unclicked], radius)[0]] = True
        band = np.digitize(edge_distance(pseudo, *sizes[name]), BANDS[1:-1])
        n += np.bincount(band, minlength=len(n))
        false += np.bincount(band[~hit], minlength=len(n))
    return n, false


def main(argv=None):
    args = parse_args(argv)
    import cv2
    from mmpose_carcinosis.apis import inference_point_frames, init_point_model
    model, thr, source = init_point_model(args.config, args.checkpoint, device='cpu',
                                          score_thr=args.thr)
    clicks, sizes = points_by_image(osp.join(args.data_root, args.ann_file))
    truth, _ = points_by_image(osp.join(args.data_root, args.dense_file))
    click_radius = args.radius if args.click_radius is None else args.click_radius
    names = sorted(truth)
    configured = model.head.frame_margin
    rows = {}
    for label, margin in (('frame_margin None', None), (f'frame_margin {configured}',
                                                         configured)):
        model.head.frame_margin = margin
        frames = {}
        for i in range(0, len(names), args.batch_size):
            batch = names[i:i + args.batch_size]
            imgs = [cv2.imread(osp.join(args.data_root, 'images', n)) for n in batch]
            frames.update(zip(batch, inference_point_frames(model, imgs)))
            print(f'{label}: {min(i + args.batch_size, len(names))}/{len(names)} frames',
                  flush=True)
        n, false = tally(frames, clicks, truth, sizes, thr, click_radius, args.radius)
        rows[label] = dict(pseudo=n.tolist(), false=false.tolist())
    for name in args.draw:  # at the configured margin
        from mmpose_carcinosis.models.utils.pseudo_labels import select_pseudo_labels
        from mmpose_carcinosis.visualization import draw_points
        pts, scores = frames[name]
        keep, _ = select_pseudo_labels(pts, scores, clicks[name], thr, click_radius)
        img = cv2.imread(osp.join(args.data_root, 'images', name))
        path = f'{args.out}_{osp.splitext(osp.basename(name))[0]}.jpg'
        cv2.imwrite(path, draw_points(img, pts[keep], scores[keep], truth[name], args.radius))
        print('drawn:', path)
    bands = [f'[{lo:g}, {hi:g})' for lo, hi in zip(BANDS[:-1], BANDS[1:])]
    lines = [f'Pseudo labels of `{args.checkpoint}` on the training frames at threshold '
             f'{thr:.4g} ({source}), matched to the unclicked dense truth within '
             f'{args.radius:g} px, by distance to the nearest frame edge (frame pixels; '
             'negative: in the padding outside the frame). Cells: pseudo labels / false ones '
             '(precision %).\n',
             '| setting | ' + ' | '.join(bands) + ' | all |',
             '|---' * (len(bands) + 2) + '|']
    for label, r in rows.items():
        n, f = np.array(r['pseudo']), np.array(r['false'])
        cells = [f'{a} / {b} ({100 * (a - b) / a:.0f})' if a else '0' for a, b in zip(n, f)]
        cells.append(f'{n.sum()} / {f.sum()} ({100 * (n.sum() - f.sum()) / max(n.sum(), 1):.1f})')
        lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
    table = '\n'.join(lines) + '\n'
    write_outputs(args.out, dict(checkpoint=args.checkpoint, thr=thr, radius=args.radius,
                                 bands=bands, rows=rows), table)
    print(table)


if __name__ == '__main__':
    main()

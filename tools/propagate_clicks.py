#!/usr/bin/env python
"""Carry the clicks of each frame to the other frames of its video.

    python tools/propagate_clicks.py DATA_ROOT --radius 10 \\
        [--ann-file annotations/train.json] [--out annotations/train_propagated.json] \\
        [--max-gap 8] [--min-ncc 0.5] [--patch P] [--search S] [--overwrite] \
        [--truth annotations/train_dense.json]

Frames are grouped by ``video_id`` and ordered by ``frame_id``; each click
is moved to every frame at most ``--max-gap`` frames away by the frames'
global shift (phase correlation), matched locally by normalised
cross-correlation of the patch around it (``--patch`` half size, within
``--search`` pixels) and kept where the match is at least ``--min-ncc``
and no labelled point or confirmed negative of that frame is within
``--radius`` (frame pixels: about a nodule's radius, the metric's matching
radius). Points carried to one place from several frames are merged. See
:mod:`mmpose_carcinosis.datasets.propagation`.

The output is the input with the carried points added as annotations with
``"propagated": {"image_id": <source frame>, "ncc": <score>}``; it is
checked by the dataset's parser and never written over an existing file
without ``--overwrite``. Frames without ``video_id`` and frames marked
``dense`` receive nothing (counted). Train on it with
``--cfg-options train_dataloader.dataset.ann_file=annotations/train_propagated.json``.

With ``--truth`` (every nodule of some or all of these frames, e.g. a few
frames annotated densely) the carried points on those frames are checked:
the share within ``--radius`` of a true nodule is printed (and per group,
when the truth has groups).
"""
import argparse
import json
import os
import os.path as osp
import sys
from collections import Counter, defaultdict

import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('data_root')
    p.add_argument('--radius', type=float, required=True,
                   help='frame pixels within which two points are one nodule')
    p.add_argument('--ann-file', default='annotations/train.json',
                   help='relative to DATA_ROOT (or absolute)')
    p.add_argument('--out', default='annotations/train_propagated.json',
                   help='relative to DATA_ROOT (or absolute)')
    p.add_argument('--img-prefix', default='images/', help='relative to DATA_ROOT')
    p.add_argument('--max-gap', type=int, default=8, help='most frames between source and target')
    p.add_argument('--min-ncc', type=float, default=0.5, help='least local match (NCC, -1 to 1)')
    p.add_argument('--patch', type=int, help='patch half size, pixels (default 0.7 x radius)')
    p.add_argument('--search', type=int, help='search half size, pixels (default 0.6 x radius)')
    p.add_argument('--overwrite', action='store_true', help='replace an existing --out')
    p.add_argument('--truth', help='annotation file with every nodule of (some of) these '
                   'frames, relative to DATA_ROOT: the carried points are checked on it')
    return p.parse_args(argv)


def propagate_file(data_root, radius, ann_file='annotations/train.json',
                   out='annotations/train_propagated.json', img_prefix='images/',
                   max_gap=8, min_ncc=0.5, patch=None, search=None, overwrite=False,
                   truth=None, log=lambda msg: print(msg, flush=True)):
    """Read ``ann_file``, carry its clicks within each video, write ``out``.
    Returns ``(data, counts)``: the written COCO dict and a Counter
    (``clicks``, ``carried``, ``frames``, skipped frames by reason; with
    ``truth``: ``checked`` carried points on its frames, ``correct`` of
    them, ``correct <group>`` per group of the matched true nodule)."""
    from mmpose_carcinosis.datasets import parse_carcinosis_annotations
    from mmpose_carcinosis.datasets.propagation import propagate_video, read_frames, videos_of
    src_file = ann_file if osp.isabs(ann_file) else osp.join(data_root, ann_file)
    dst_file = out if osp.isabs(out) else osp.join(data_root, out)
    if osp.exists(dst_file) and not overwrite:
        raise SystemExit(f'error: {dst_file} exists (--overwrite to replace it)')
    with open(src_file) as f:
        data = json.load(f)
    # the dataset's own reading: errors name the file and the record
    infos = parse_carcinosis_annotations(data, src_file, osp.join(data_root, img_prefix))
    counts = Counter(frames=len(infos), clicks=sum(len(i['keypoints']) for i in infos))
    videos, alone = videos_of(infos)
    counts['skipped: no video_id'] = alone
    next_id = max((a['id'] for a in data['annotations']), default=0) + 1
    added = []
    for n, video in enumerate(videos):
        try:
            frames = read_frames(video)
        except FileNotFoundError as e:
            raise SystemExit(f'error: {src_file}: {e}')
        if frames is None:
            counts['skipped: video with frames of several sizes'] += len(video)
            continue
        counts['skipped: dense frame'] += sum(i['dense'] for i in video)
        carried = propagate_video(
            frames, [i['keypoints'].reshape(-1, 2) for i in video], radius,
            negatives=[i['negative_keypoints'] for i in video],
            targets=[not i['dense'] for i in video], max_gap=max_gap, min_ncc=min_ncc,
            half=patch, search=search)
        for info, got in zip(video, carried):
            for (x, y), j, s in zip(got['points'], got['source'], got['ncc']):
                added.append(dict(id=next_id, image_id=info['img_id'], category_id=1,
                                  keypoints=[round(float(x), 2), round(float(y), 2), 2],
                                  num_keypoints=1, iscrowd=0,
                                  propagated=dict(image_id=video[j]['img_id'],
                                                  ncc=round(float(s), 4))))
                next_id += 1
        log(f'video {video[0]["video_id"]} ({n + 1}/{len(videos)}): {len(video)} frames, '
            f'{sum(len(g["points"]) for g in carried)} points carried')
    counts['carried'] = len(added)
    data = dict(data, annotations=data['annotations'] + added)
    parse_carcinosis_annotations(data, dst_file)
    os.makedirs(osp.dirname(osp.abspath(dst_file)), exist_ok=True)
    tmp = dst_file + '.part'
    with open(tmp, 'w') as f:
        json.dump(data, f)
    os.replace(tmp, dst_file)
    if truth:
        counts.update(check_carried(added, osp.join(data_root, truth), radius))
        log(f'checked on {truth}: {counts["correct"]} of {counts["checked"]} carried points '
            f'within {radius:g} px of a nodule ({100 * counts["correct"] / max(counts["checked"], 1):.1f}%)'
            + ''.join(f', {k} {v}' for k, v in sorted(counts.items())
                      if k.startswith('correct ')))
    log(f'{dst_file}: {counts["clicks"]} clicks, {counts["carried"]} carried points on '
        f'{counts["frames"]} frames' + ''.join(f'; {k} {v}' for k, v in sorted(counts.items())
                                              if k.startswith('skipped') and v))
    return data, counts


def check_carried(added, truth_file, radius) -> Counter:
    """How many carried points lie within ``radius`` of a nodule of
    ``truth_file`` (frames it holds only), per group of that nodule."""
    from mmpose_carcinosis.datasets import parse_carcinosis_annotations
    from mmpose_carcinosis.models.utils.pseudo_labels import near
    with open(truth_file) as f:
        truth = {i['img_id']: i for i in parse_carcinosis_annotations(json.load(f), truth_file)}
    by_frame = defaultdict(list)
    for ann in added:
        if ann['image_id'] in truth:
            by_frame[ann['image_id']].append(ann['keypoints'][:2])
    counts = Counter()
    for img_id, carried in by_frame.items():
        carried = np.array(carried, dtype=np.float64)
        true = truth[img_id]['keypoints'].reshape(-1, 2)
        hit = near(carried, true, radius)
        counts.update(checked=len(carried), correct=int(hit.sum()))
        if hit.any():
            nearest = np.linalg.norm(carried[hit][:, None] - true[None], axis=-1).argmin(1)
            counts.update(f'correct {truth[img_id]["group"][k]}' for k in nearest
                          if truth[img_id]['group'][k] is not None)
    return counts


def main(argv=None):
    args = parse_args(argv)
    propagate_file(args.data_root, args.radius, args.ann_file, args.out, args.img_prefix,
                   args.max_gap, args.min_ncc, args.patch, args.search, args.overwrite,
                   args.truth)


if __name__ == '__main__':
    sys.exit(main())

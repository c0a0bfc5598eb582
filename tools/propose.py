#!/usr/bin/env python
"""Export a model's proposals for review in CVAT or LabelMe.

    python tools/propose.py CONFIG CKPT --data-root DATA --ann-file annotations/train.json \\
        --format cvat labelme --out DIR [--thr T] [--budget N] [--click-radius R] \\
        [--rank threshold flip previous] [--previous CKPT] [--per-video]

For each frame of the annotation file the model's points inside the frame at
or above the review threshold (``--thr``; default the threshold stored with
the checkpoint) farther than the click radius from every annotated point and
every confirmed negative become
``proposal`` points carrying their score; the frame's annotated points are
exported as ``carcinosis``, confirmed negatives as ``not-carcinosis``, a
dense frame as ``reviewed`` (the convention of
:mod:`mmpose_carcinosis.datasets.review`, docs/review.md). With
``--budget N`` only the N frames most worth a review are exported, listed
with their value in ``DIR/ranking.csv``. ``--rank`` says what a frame is
worth (the values are added): ``threshold``, its proposals near the review
threshold (:func:`~mmpose_carcinosis.datasets.review.review_value`);
``flip``, how much the model's proposals on the frame and on its mirror
disagree; ``previous``, how much they disagree with the last round's model
(``--previous CKPT``) (:func:`~mmpose_carcinosis.datasets.review.disagreement`).
With ``--per-video`` the videos take turns, so that a budget covers as many
videos as it can.

``--draw N`` also draws the first N exported frames as a reviewer sees them
(``DIR/drawn/``: nodules green crosses, proposals yellow circles with their
score, rejections red). Outputs: ``DIR/review.xml`` (CVAT for images 1.1: import it into a CVAT
task holding the same images) and, for LabelMe, one JSON file per image next
to the image (LabelMe opens them with the image folder); an existing JSON
file is not overwritten (error) unless ``--overwrite``. After the review,
``tools/import_clicks.py --update`` reads the answers back.
"""
import argparse
import csv
import json
import os
import os.path as osp
import sys


RANKS = ('threshold', 'flip', 'previous')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--data-root', required=True)
    p.add_argument('--ann-file', default='annotations/train.json',
                   help='relative to --data-root')
    p.add_argument('--img-prefix', default='images/', help='relative to --data-root')
    p.add_argument('--format', nargs='+', choices=('cvat', 'labelme'), default=['cvat'])
    p.add_argument('--out', required=True, help='folder of review.xml and ranking.csv')
    p.add_argument('--thr', type=float, help='review threshold (default: the stored one)')
    p.add_argument('--budget', type=int, help='export only the N frames most worth a review')
    p.add_argument('--rank', nargs='+', choices=RANKS, default=['threshold'],
                   help='what makes a frame worth a review (values added): threshold, '
                   'proposals near the review threshold; flip, disagreement between the '
                   'frame and its mirror; previous, disagreement with --previous')
    p.add_argument('--previous', metavar='CKPT',
                   help='the last round\'s checkpoint (same config), for --rank previous')
    p.add_argument('--per-video', action='store_true',
                   help='videos take turns in the ranking (video_id of the annotation '
                   'file): the budget covers as many videos as it can')
    p.add_argument('--click-radius', type=float,
                   help='frame pixels; default the config\'s semi_train_cfg.click_radius, '
                   'else its test metric radius')
    p.add_argument('--batch-size', type=int, default=4)
    p.add_argument('--device', default=None)
    p.add_argument('--overwrite', action='store_true', help='replace existing LabelMe files')
    p.add_argument('--draw', type=int, default=0, metavar='N',
                   help='also draw the first N exported frames as the reviewer sees them '
                   '(DIR/drawn/)')
    args = p.parse_args(argv)
    if ('previous' in args.rank) != bool(args.previous):
        p.error('--rank previous and --previous CKPT go together')
    return args


def click_radius(cfg) -> float:
    """The radius within which a prediction is an annotated point's own:
    a stage-two model's (``semi_train_cfg``, default included), else the
    test metric's matching radius."""
    if 'detector' in cfg.model:
        from mmpose_carcinosis.models.pose_estimators.point_self_training import \
            SEMI_TRAIN_DEFAULTS
        return float(dict(SEMI_TRAIN_DEFAULTS, **(cfg.model.get('semi_train_cfg') or {}))[
            'click_radius'])
    return float(cfg.test_evaluator.get('radius', 10.0))


def proposals(pts, scores, answered, thr, radius):
    """A frame's proposals among its predictions (M, 2) with ``scores``
    (M,): the pseudo-label rule away from the ``answered`` points (the
    head keeps every prediction inside the frame: ``frame_margin``)."""
    from mmpose_carcinosis.models.utils import select_pseudo_labels
    keep, _ = select_pseudo_labels(pts, scores, answered, thr, radius)
    return pts[keep], scores[keep]


def unflip(pts, width, height):
    """Points (M, 2) predicted on a horizontally mirrored frame, back in
    the frame (MMPose's ``flip_keypoints``)."""
    import numpy as np
    from mmpose.structures.keypoint import flip_keypoints
    flipped, _ = flip_keypoints(pts[:, None], np.ones((len(pts), 1), np.float32),
                                image_size=(width, height),
                                flip_indices=[0], direction='horizontal')
    return flipped[:, 0]


def main(argv=None):
    args = parse_args(argv)
    import cv2
    import mmcv
    import numpy as np
    from mmengine.config import Config

    from mmpose_carcinosis.apis import inference_point_frames, init_point_model
    from mmpose_carcinosis.datasets import AnnotationError, parse_carcinosis_annotations
    from mmpose_carcinosis.datasets.review import (REJECTED, disagreement, proposals_frame,
                                                  rank_frames, review_value, write_cvat,
                                                  write_labelme)
    ann_path = osp.join(args.data_root, args.ann_file)
    img_root = osp.join(args.data_root, args.img_prefix)
    try:
        with open(ann_path, encoding='utf-8') as f:
            raw = json.load(f)
        infos = parse_carcinosis_annotations(raw, ann_path, img_root)
    except (OSError, json.JSONDecodeError, AnnotationError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    cfg = Config.fromfile(args.config)
    radius = args.click_radius if args.click_radius is not None else click_radius(cfg)
    model, thr, source = init_point_model(args.config, args.checkpoint, args.device)
    if args.thr is not None:
        thr, source = args.thr, 'command line'
    model.head.decoder.decode_thr = float(thr)
    previous = None
    if args.previous:
        previous = init_point_model(args.config, args.previous, args.device)[0]
        previous.head.decoder.decode_thr = float(thr)
    print(f'review threshold {thr:g} ({source}); click radius {radius:g} px; '
          f'{len(infos)} frames of {ann_path}', flush=True)
    frames, values, parts, videos = {}, {}, {}, {}
    for start in range(0, len(infos), args.batch_size):
        batch = infos[start:start + args.batch_size]
        images = [cv2.imread(info['img_path']) for info in batch]
        for info, image in zip(batch, images):
            if image is None:
                print(f'error: {ann_path}: image id {info["img_id"]}: cannot read '
                      f'{info["img_path"]}', file=sys.stderr)
                return 1
        views = dict(threshold=inference_point_frames(model, images))
        if 'flip' in args.rank:
            mirrored = inference_point_frames(model, [mmcv.imflip(im) for im in images])
            views['flip'] = [(unflip(p, im.shape[1], im.shape[0]), s)
                             for im, (p, s) in zip(images, mirrored)]
        if previous is not None:
            views['previous'] = inference_point_frames(previous, images)
        for i, info in enumerate(batch):
            clicks = info['keypoints'].reshape(-1, 2)
            # a spot the reviewer rejected is not proposed again
            answered = np.concatenate([clicks, info['negative_keypoints'].reshape(-1, 2)])
            own = {k: proposals(*v[i], answered, thr, radius) for k, v in views.items()}
            pts, scores = own['threshold']
            name = osp.relpath(info['img_path'], img_root)
            fr = proposals_frame(info['width'], info['height'], clicks, pts, scores, name)
            fr['points'] += [(float(x), float(y), REJECTED, None)
                             for x, y in info['negative_keypoints']]
            fr['reviewed'] = info['dense']
            frames[name] = fr
            parts[name] = dict(threshold=review_value(scores, thr))
            parts[name].update({k: disagreement(pts, scores, *own[k], radius)
                                for k in own if k != 'threshold'})
            values[name] = sum(parts[name][k] for k in args.rank)
            videos[name] = info.get('video_id')
        print(f'  {min(start + args.batch_size, len(infos))}/{len(infos)} frames', flush=True)
    chosen = rank_frames(values, args.budget, videos if args.per_video else None)
    os.makedirs(args.out, exist_ok=True)
    with open(osp.join(args.out, 'ranking.csv'), 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['image', 'video_id', 'review_value', *(parts[chosen[0]] if chosen else []),
                    'proposals'])
        for name in chosen:
            w.writerow([name, videos[name], f'{values[name]:.4f}',
                        *(f'{v:.4f}' for v in parts[name].values()),
                        sum(p[2] == 'proposal' for p in frames[name]['points'])])
    exported = {n: frames[n] for n in chosen}
    n_prop = sum(p[2] == 'proposal' for fr in exported.values() for p in fr['points'])
    if 'cvat' in args.format:
        path = osp.join(args.out, 'review.xml')
        write_cvat(exported, path)
        print(f'{path}: {len(exported)} frames, {n_prop} proposals')
    if args.draw:
        from mmpose_carcinosis.visualization import draw_review_frame
        os.makedirs(osp.join(args.out, 'drawn'), exist_ok=True)
        for name in chosen[:args.draw]:
            target = osp.join(args.out, 'drawn', name.replace('/', '__'))
            cv2.imwrite(osp.splitext(target)[0] + '.png', draw_review_frame(
                cv2.imread(osp.join(img_root, name)), exported[name]))
        print(f'drawn: {min(args.draw, len(chosen))} frames in {args.out}/drawn/')
    if 'labelme' in args.format:
        targets = {n: osp.splitext(osp.join(img_root, n))[0] + '.json' for n in exported}
        existing = [t for t in targets.values() if osp.exists(t)]
        if existing and not args.overwrite:
            print(f'error: {existing[0]} exists ({len(existing)} LabelMe files in all); '
                  'give --overwrite to replace them', file=sys.stderr)
            return 1
        for n, target in targets.items():
            write_labelme(exported[n], target, osp.join(img_root, n))
        print(f'LabelMe: {len(targets)} JSON files next to the images in {img_root}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

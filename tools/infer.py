#!/usr/bin/env python
"""Run a trained point model on images, folders and videos.

    python tools/infer.py CONFIG CHECKPOINT INPUT... --out-dir DIR \\
        [--fps F] [--score-thr T] [--batch-size 8] [--device cuda|cpu] [--no-draw]

INPUT: image files, folders (searched recursively, natural order; files
that are neither images nor videos are skipped with a count) and videos
(anything OpenCV reads). ``--fps F`` samples videos at F frames per second
(HRNet-w32 at 1280x736 runs at about 0.4 frames/s on a 2-core CPU).
The score threshold is the one chosen on the dense validation split and
stored in the checkpoint, unless ``--score-thr`` overrides it (the
config's ``decode_thr`` if the checkpoint has none). Writes into DIR:

- ``points.csv``: source, frame_index, time_s (videos), x, y, score; one row
  per point, in frame pixels;
- ``predictions/<source>.json``: MMPose's ``pred_out_dir`` layout (images:
  a list of instances; videos: ``[{frame_id, instances}]``);
- ``vis/<source>.jpg`` or ``vis/<source>.mp4``: the frames with the points,
  coloured and labelled by score (not with ``--no-draw``);
- per video, ``counts/<source>.csv`` (frame_index, time_s, count) and
  ``counts/<source>.png``: nodules per frame over time.

Unreadable images and video frames are skipped with a counted warning that
names them. Output names keep each input's relative path, so frames that
share a file name in different folders do not overwrite each other.
"""
import argparse
import csv
import json
import os
import os.path as osp
import sys
import time
from collections import defaultdict

import cv2
import numpy as np
from mmengine.config import DictAction

from mmpose_carcinosis.visualization import draw_points
from mmpose_carcinosis.utils import natural_key

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
VIDEO_EXTS = ('.mp4', '.avi', '.mov', '.mkv', '.mpg', '.mpeg', '.m4v', '.webm', '.wmv')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('inputs', nargs='+', metavar='INPUT')
    p.add_argument('--out-dir', required=True)
    p.add_argument('--fps', type=float, help='sample videos at this rate')
    p.add_argument('--score-thr', type=float,
                   help='override the threshold stored in the checkpoint')
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--device', help='e.g. cuda:1 (default: cuda where a GPU is visible, '
                   'else cpu)')
    p.add_argument('--no-draw', action='store_true', help='no drawn frames or videos')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args(argv)


def collect_sources(inputs):
    """[(kind, path, name)] and the number of skipped files. ``name`` is the
    output stem: a folder's files keep their path below the folder."""
    sources, skipped, names = [], [], set()

    def add(kind, path, name):
        stem, n = name, 1
        while stem in names:  # two inputs with the same name
            n += 1
            stem = f'{name}_{n}'
        names.add(stem)
        sources.append((kind, path, stem))

    for item in inputs:
        if osp.isdir(item):
            base = osp.basename(osp.normpath(item))
            files = []
            for root, _, fnames in os.walk(item):
                files += [osp.join(root, f) for f in fnames]
            for path in sorted(files, key=lambda p: natural_key(osp.relpath(p, item))):
                ext = osp.splitext(path)[1].lower()
                rel = osp.splitext(osp.join(base, osp.relpath(path, item)))[0]
                if ext in IMAGE_EXTS:
                    add('image', path, rel)
                elif ext in VIDEO_EXTS:
                    add('video', path, rel)
                else:
                    skipped.append(path)
        elif osp.isfile(item):
            ext = osp.splitext(item)[1].lower()
            stem = osp.splitext(osp.basename(item))[0]
            add('image' if ext in IMAGE_EXTS else 'video', item, stem)
        else:
            raise FileNotFoundError(f'{item}: no such file or folder')
    return sources, skipped


def video_frames(path, fps, warn):
    """(frame index, time in s, frame or None) of a video, sampled at
    ``fps`` frames per second (all frames if None), and the video's rate."""
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        warn(f'{path}: OpenCV cannot open it as a video; skipped')
        return iter(()), 0.0, 0
    rate = cap.get(cv2.CAP_PROP_FPS) or 0.0
    if rate <= 0:
        warn(f'{path}: no frame rate in the file; 25 frames/s assumed')
        rate = 25.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    step = max(1.0, rate / fps) if fps else 1.0
    wanted = max(1, int(np.ceil(total / step))) if total else 0

    def gen():
        index, next_pick = 0, 0.0
        try:
            while True:
                if index + 0.5 >= next_pick:
                    ok, frame = cap.read()
                    if not ok:
                        if total and index < total:
                            warn(f'{path}: frame {index} cannot be decoded; the '
                                 f'video ends there ({total} frames announced)')
                        return
                    yield index, index / rate, frame
                    next_pick += step
                elif not cap.grab():
                    return
                index += 1
        finally:
            cap.release()
    return gen(), rate, wanted


def image_frames(path, warn):
    img = cv2.imread(path)
    if img is None:
        warn(f'{path}: cannot be read as an image; skipped')
        return
    yield 0, None, img


class Outputs:
    """Everything written for the sources, as their frames arrive."""

    def __init__(self, out_dir, draw, topk):
        self.out_dir, self.draw, self.topk = out_dir, draw, topk
        os.makedirs(out_dir, exist_ok=True)
        self.csv_file = open(osp.join(out_dir, 'points.csv'), 'w', newline='')
        self.csv = csv.writer(self.csv_file)
        self.csv.writerow(['source', 'frame_index', 'time_s', 'x', 'y', 'score'])
        self.preds = defaultdict(list)
        self.counts = defaultdict(list)
        self.writers = {}

    def path(self, sub, name, ext):
        path = osp.join(self.out_dir, sub, name + ext)
        os.makedirs(osp.dirname(path), exist_ok=True)
        return path

    def add(self, kind, source, name, index, t, frame, pts, scores, rate):
        for (x, y), s in zip(pts, scores):
            self.csv.writerow([source, index, '' if t is None else f'{t:.3f}',
                               f'{x:.2f}', f'{y:.2f}', f'{s:.4f}'])
        instances = [dict(keypoints=[[float(x), float(y)]], keypoint_scores=[float(s)])
                     for (x, y), s in zip(pts, scores)]
        if kind == 'video':
            self.preds[name].append(dict(frame_id=index, instances=instances))
            self.counts[name].append((index, t, len(pts)))
        else:
            self.preds[name] = instances
        if not self.draw:
            return
        drawn = draw_points(frame, pts, scores, np.zeros((0, 2)))
        if kind == 'image':
            cv2.imwrite(self.path('vis', name, '.jpg'), drawn)
            return
        if name not in self.writers:
            h, w = drawn.shape[:2]
            self.writers[name] = cv2.VideoWriter(
                self.path('vis', name, '.mp4'), cv2.VideoWriter_fourcc(*'mp4v'), rate, (w, h))
        self.writers[name].write(drawn)

    def close(self):
        self.csv_file.close()
        for w in self.writers.values():
            w.release()
        for name, preds in self.preds.items():
            with open(self.path('predictions', name, '.json'), 'w') as f:
                json.dump(preds, f, indent=1)
        for name, rows in self.counts.items():
            with open(self.path('counts', name, '.csv'), 'w', newline='') as f:
                w = csv.writer(f)
                w.writerow(['frame_index', 'time_s', 'count'])
                w.writerows([(i, f'{t:.3f}', c) for i, t, c in rows])
            plot_counts(rows, self.path('counts', name, '.png'), name, self.topk)


def plot_counts(rows, path, title, topk=None):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    t = [r[1] for r in rows]
    c = [r[2] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 2.6))
    ax.plot(t, c, marker='.' if len(t) < 200 else None, lw=1)
    if topk:  # counts at this line are capped by the decoder's top-k
        ax.axhline(topk, color='0.5', ls='--', lw=0.8, label=f'top-k cap ({topk})')
        ax.legend(loc='lower right', fontsize=7)
    ax.set_xlabel('time (s)')
    ax.set_ylabel('nodules per frame')
    ax.set_title(title, fontsize=9)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    import mmpose_carcinosis  # noqa: F401  (registers the plugin, safe loading)
    from mmengine.dataset import Compose
    from mmengine.logging import MMLogger
    from mmengine.utils import ProgressBar

    from mmpose_carcinosis.apis import inference_point_frames, init_point_model
    logger = MMLogger.get_instance('infer', log_level='INFO')
    warnings = []

    def warn(msg):
        warnings.append(msg)
        logger.warning(msg)

    try:
        sources, skipped = collect_sources(args.inputs)
    except FileNotFoundError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if skipped:
        warn(f'skipped {len(skipped)} file(s) that are neither images nor videos '
             f'(first: {skipped[0]})')
    # open every video before the model loads: a file OpenCV cannot open
    # fails here, not after the work
    streams, total = [], 0
    for kind, path, name in sources:
        if kind == 'video':
            frames, rate, n = video_frames(path, args.fps, warn)
        else:
            frames, rate, n = image_frames(path, warn), 0.0, 1
        streams.append((kind, path, name, frames, rate))
        total += n
    if not total and all(kind == 'video' for kind, *_ in streams):
        print(f'error: no readable frame in {len(streams)} source(s) (first: '
              f'{streams[0][1] if streams else args.inputs[0]}); see the warnings above',
              file=sys.stderr)
        return 1
    model, thr, origin = init_point_model(args.config, args.checkpoint, args.device,
                                          args.score_thr, args.cfg_options)
    logger.info(f'{len(sources)} source(s); score threshold {thr:g} ({origin})')
    pipeline = Compose(model.cfg.test_dataloader.dataset.pipeline)
    out = Outputs(args.out_dir, not args.no_draw, int(model.head.decoder.decode_topk))
    bar = ProgressBar(total)  # shows the rate and the time left
    batch, t0, done = [], time.time(), 0

    def flush():
        results = inference_point_frames(model, [b[5] for b in batch], pipeline)
        for (kind, path, name, index, t, frame, rate), (pts, scores) in zip(batch, results):
            out.add(kind, path, name, index, t, frame, pts, scores,
                    args.fps or rate)
            bar.update()
        batch.clear()

    empty = []
    for kind, path, name, frames, rate in streams:
        n = 0
        for index, t, frame in frames:
            batch.append((kind, path, name, index, t, frame, rate))
            n += 1
            if len(batch) == args.batch_size:
                flush()
        if kind == 'image' and not n:
            bar.update()  # unreadable: counted in the warnings
        if not n:
            empty.append(path)
        done += n
    if batch:
        flush()
    out.close()
    print()
    elapsed = time.time() - t0
    logger.info(f'{done} frame(s) in {elapsed:.1f} s ({done / max(elapsed, 1e-9):.2f} '
                f'frames/s); {len(warnings)} warning(s); outputs in {args.out_dir}')
    if not done:
        print(f'error: no readable frame in {len(streams)} source(s) (first: '
              f'{empty[0] if empty else args.inputs[0]}); see the warnings above',
              file=sys.stderr)
        return 1
    if empty:  # the others are written; each unreadable one was warned about
        logger.warning(f'{len(empty)} of {len(streams)} source(s) gave no frame '
                       f'(first: {empty[0]})')
    return 0


if __name__ == '__main__':
    sys.exit(main())

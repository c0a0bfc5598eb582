#!/usr/bin/env python
"""Generate a laparoscopy-like carcinosis data set with dense ground truth.

Each video is a tissue scene (reddish texture, vessels, whitish nodules);
its frames are camera crops of the scene with small motion, specular
highlights (bright distractors) and an endoscope vignette. Test and val
annotations hold every visible nodule; train annotations hold only a few
"clicks" per frame (1 to 5 by default, some frames none), like the clinical
labels. Splits are by video. Output (the CarcinosisDataset format)::

    OUT/images/<split>/v<video>_f<frame>.jpg
    OUT/annotations/{train,val,test}.json

Example::

    python tools/make_synthetic_dataset.py data/synthetic --seed 0
"""
import argparse
import json
import os
import os.path as osp
import sys

import cv2
import numpy as np

DEFAULT_CLICKS = (1, 5)
CATEGORIES = [dict(id=1, name='carcinosis', supercategory='lesion',
                   keypoints=['carcinosis'], skeleton=[])]


def parse_clicks(text):
    """'1-5' -> (1, 5); '3' -> (3, 3); 'dense' -> None."""
    if text == 'dense':
        return None
    lo, _, hi = text.partition('-')
    lo, hi = int(lo), int(hi or lo)
    if not 0 <= lo <= hi:
        raise argparse.ArgumentTypeError(f'bad --clicks {text!r}')
    return lo, hi


def smooth_noise(rng, h, w, scale, channels=1):
    """Low-frequency noise in [0, 1] of shape (h, w, channels)."""
    small = rng.random((max(2, h // scale), max(2, w // scale), channels))
    big = cv2.resize(small.astype(np.float32), (w, h),
                     interpolation=cv2.INTER_CUBIC)
    big = big.reshape(h, w, channels)
    return (big - big.min()) / max(1e-6, np.ptp(big))


def make_scene(rng, h, w, n_nodules, nodule_radius):
    """A tissue canvas (h, w, 3) float32 BGR in [0, 1] and nodule centres
    (n, 2) (x, y) with radii (n,)."""
    base = np.array([0.32, 0.30, 0.72], np.float32)  # BGR pinkish red
    tex = smooth_noise(rng, h, w, 48, 3) - 0.5
    fine = smooth_noise(rng, h, w, 6, 1) - 0.5
    img = base + 0.25 * tex + 0.10 * fine
    # vessels: dark red smooth curves
    for _ in range(rng.integers(3, 7)):
        p = rng.random((4, 2)) * [w, h]
        t = np.linspace(0, 1, 60)[:, None]
        curve = ((1 - t)**3 * p[0] + 3 * (1 - t)**2 * t * p[1] +
                 3 * (1 - t) * t**2 * p[2] + t**3 * p[3]).astype(np.int32)
        cv2.polylines(img, [curve], False, (0.10, 0.08, 0.45),
                      int(rng.integers(2, 6)), cv2.LINE_AA)
    # nodules: whitish-yellow bumps with shading, different sizes
    xy = rng.random((n_nodules, 2)) * [w, h]
    r = rng.uniform(*nodule_radius, size=n_nodules)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for (x, y), rad in zip(xy, r):
        x0, x1 = int(max(0, x - 2 * rad)), int(min(w, x + 2 * rad + 1))
        y0, y1 = int(max(0, y - 2 * rad)), int(min(h, y + 2 * rad + 1))
        d2 = ((xx[y0:y1, x0:x1] - x)**2 + (yy[y0:y1, x0:x1] - y)**2) / rad**2
        a = np.clip(1.0 - d2, 0, 1)[..., None]**0.7
        color = np.array([0.55, 0.78, 0.88], np.float32) + rng.normal(0, 0.04, 3)
        shade = 0.85 + 0.15 * np.clip(1 - d2, 0, 1)[..., None]
        img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1 - a) + a * color * shade
    return img, xy, r


def render_frame(rng, scene, xy, ox, oy, w, h, n_specular):
    """Crop the scene at (ox, oy), add highlights and the vignette.

    Returns the uint8 BGR frame and the visible nodule centres (n, 2)."""
    img = scene[oy:oy + h, ox:ox + w].copy()
    for _ in range(n_specular):  # sharp saturated white blobs
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(2, 10)), int(rng.integers(1, 5)))
        cv2.ellipse(img, c, axes, float(rng.uniform(0, 180)), 0, 360,
                    (1.0, 1.0, 1.0), -1, cv2.LINE_AA)
    img = cv2.GaussianBlur(img, (3, 3), 0.8)
    # endoscope vignette: circular field of view, dark outside
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    R = 0.62 * w
    d = np.sqrt((xx - w / 2)**2 + (yy - h / 2)**2) / R
    vignette = np.clip(1.25 - d**2 * 1.1, 0, 1)[..., None]
    img = img * vignette * rng.uniform(0.85, 1.1)
    img = img + rng.normal(0, 0.015, img.shape).astype(np.float32)
    pts = xy - [ox, oy]
    inside = ((pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0)
              & (pts[:, 1] < h))
    pts = pts[inside]
    # only nodules in the lit field of view count as ground truth
    dd = np.sqrt((pts[:, 0] - w / 2)**2 + (pts[:, 1] - h / 2)**2) / R
    pts = pts[np.clip(1.25 - dd**2 * 1.1, 0, 1) > 0.35]
    return (np.clip(img, 0, 1) * 255).astype(np.uint8), pts


def generate(out, num_videos=(6, 2, 2), frames_per_video=8, size=(640, 360),
             nodules=(20, 45), nodule_radius=(4.0, 9.0), clicks=DEFAULT_CLICKS,
             empty_prob=0.1, seed=0, log=print):
    """Write the data set; returns {split: (num_frames, num_points)}."""
    rng = np.random.default_rng(seed)
    click_rng = np.random.default_rng([seed, 1])
    w, h = size
    margin = max(16, w // 8)
    summary = {}
    img_id = ann_id = 0
    video_id = 0
    for split, nv in zip(('train', 'val', 'test'), num_videos):
        os.makedirs(osp.join(out, 'images', split), exist_ok=True)
        images, anns = [], []
        for _ in range(nv):
            video_id += 1
            n_nod = int(rng.integers(nodules[0], nodules[1] + 1))
            scene, xy, _ = make_scene(rng, h + 2 * margin, w + 2 * margin,
                                      n_nod, nodule_radius)
            ox, oy = margin, margin
            for f in range(frames_per_video):
                ox = int(np.clip(ox + rng.integers(-12, 13), 0, 2 * margin))
                oy = int(np.clip(oy + rng.integers(-8, 9), 0, 2 * margin))
                frame, pts = render_frame(rng, scene, xy, ox, oy, w, h,
                                          int(rng.integers(3, 10)))
                img_id += 1
                name = f'{split}/v{video_id:03d}_f{f:04d}.jpg'
                cv2.imwrite(osp.join(out, 'images', name), frame,
                            [cv2.IMWRITE_JPEG_QUALITY, 92])
                images.append(dict(id=img_id, file_name=name, width=w, height=h,
                                   video_id=video_id, frame_id=f))
                if split == 'train':
                    # the same draws for every click budget, so that all
                    # budgets get the same frames (rendered from this stream)
                    # and nested clicks (prefixes of one order); other
                    # budgets draw their count from click_rng, which keeps
                    # the default set (and its committed results) as it was
                    empty = rng.random() < empty_prob
                    n = 0 if empty else int(
                        rng.integers(DEFAULT_CLICKS[0], DEFAULT_CLICKS[1] + 1))
                    order = rng.permutation(len(pts))
                    if clicks is not None:
                        if not empty and tuple(clicks) != DEFAULT_CLICKS:
                            n = int(click_rng.integers(clicks[0], clicks[1] + 1))
                        pts = pts[order[:n]]
                for x, y in pts:
                    ann_id += 1
                    anns.append(dict(id=ann_id, image_id=img_id, category_id=1,
                                     keypoints=[round(float(x), 2),
                                                round(float(y), 2), 2],
                                     num_keypoints=1, iscrowd=0))
        os.makedirs(osp.join(out, 'annotations'), exist_ok=True)
        with open(osp.join(out, 'annotations', f'{split}.json'), 'w') as fh:
            json.dump(dict(images=images, annotations=anns,
                           categories=CATEGORIES), fh)
        summary[split] = (len(images), len(anns))
        log(f'{split}: {len(images)} frames, {len(anns)} points '
            f'({len(anns) / max(1, len(images)):.1f} per frame)')
    return summary


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('out', help='output directory, e.g. data/synthetic')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--videos', type=int, nargs=3, default=(6, 2, 2),
                   metavar=('TRAIN', 'VAL', 'TEST'))
    p.add_argument('--frames-per-video', type=int, default=8)
    p.add_argument('--size', type=int, nargs=2, default=(640, 360),
                   metavar=('W', 'H'))
    p.add_argument('--nodules', type=int, nargs=2, default=(20, 45),
                   metavar=('MIN', 'MAX'), help='nodules per video scene')
    p.add_argument('--nodule-radius', type=float, nargs=2, default=(4.0, 9.0),
                   metavar=('MIN', 'MAX'), help='nodule radius in pixels')
    p.add_argument('--clicks', type=parse_clicks, default=DEFAULT_CLICKS,
                   help='train clicks per frame: "1-5", "3" or "dense"')
    p.add_argument('--empty-prob', type=float, default=0.1,
                   help='fraction of train frames with no click')
    args = p.parse_args(argv)
    generate(args.out, tuple(args.videos), args.frames_per_video,
             tuple(args.size), tuple(args.nodules), tuple(args.nodule_radius),
             clicks=args.clicks,
             empty_prob=args.empty_prob, seed=args.seed)
    return 0


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/env python
"""Generate a laparoscopy-like carcinosis data set with dense ground truth.

Two presets (``--preset``):

``varied`` (default)
    Each video is a "patient": its own tissue palette, texture and
    illumination. Nodules vary within a frame and across videos: radius
    (2 to 12 px at 1280x720, scaled to ``--size``), contrast from barely
    visible to strong, colour (white, yellow, pink), shape (round,
    elliptical, lobulated), sharp or soft edges, clusters of touching
    nodules. Look-alike distractors: specular glints and streaks, bubbles,
    fat, instrument shafts that hide nodules, smoke or haze patches, motion
    blur. Faint nodules are dimmer, smaller, blurrier versions of the same
    lesions.

    The annotator model (``--click-bias salient``, default) clicks what is
    obvious: every visible nodule gets a salience in [0, 1] from its size,
    contrast (after vignette and haze), sharpness (edge softness and motion
    blur) and distance from the view centre; a frame's clicks are drawn
    without replacement with probability proportional to
    ``exp(CLICK_BETA * salience)``. ``--click-bias uniform`` draws them
    uniformly. Every annotation carries ``group``: the nodule's salience
    tercile (``faint``, ``medium``, ``obvious``; cut points from all
    nodules of the data set), so the metric reports recall per group.
    ``annotations/train_dense.json`` holds the dense truth of the training
    frames (for pseudo-label checks; never used for training), and
    ``annotations/distractors.json`` the bright look-alikes of every frame
    (``{image id: [[x, y, kind], ...]}``, kind glint, streak or bubble), to
    tell where confident false positives lie.

``classic``
    The first generator (all nodules alike, uniform clicks), kept so that
    earlier results can be reproduced: with the same arguments its output
    is byte for byte what it was.

Test and val annotations hold every visible nodule; train annotations hold
only a few clicks per frame (1 to 5 by default, some frames none), like the
clinical labels. Splits are by video. Output (the CarcinosisDataset
format)::

    OUT/images/<split>/v<video>_f<frame>.jpg
    OUT/annotations/{train,val,test}.json  (+ train_dense.json for varied)

Example::

    python tools/make_synthetic_dataset.py data/synthetic --seed 0
    python tools/make_synthetic_dataset.py data/classic --preset classic \\
        --size 480 270 --nodule-radius 3 7
"""
import argparse
import json
import os
import os.path as osp
import sys

import cv2
import numpy as np

from mmpose_carcinosis.datasets.annotator import (CLICK_BIASES, DEFAULT_CLICKS,
                                                  GROUPS, draw_clicks, parse_clicks,
                                                  salience, salience_groups,
                                                  tercile_cuts)

PRESETS = ('varied', 'classic')
# varied preset: radius range at 1280 px width (scaled to the frame width,
# never below MIN_RADIUS px); the annotator model (salience, clicks, groups)
# is mmpose_carcinosis/datasets/annotator.py
VARIED_RADIUS_1280 = (2.0, 12.0)
VARIED_NODULES = (30, 60)
MIN_RADIUS = 1.5
CATEGORIES = [dict(id=1, name='carcinosis', supercategory='lesion',
                   keypoints=['carcinosis'], skeleton=[])]


def smooth_noise(rng, h, w, scale, channels=1):
    """Low-frequency noise in [0, 1] of shape (h, w, channels)."""
    small = rng.random((max(2, h // scale), max(2, w // scale), channels))
    big = cv2.resize(small.astype(np.float32), (w, h),
                     interpolation=cv2.INTER_CUBIC)
    big = big.reshape(h, w, channels)
    return (big - big.min()) / max(1e-6, np.ptp(big))


# ----------------------------------------------------------------- varied
# Colours are BGR in [0, 1]; sizes are given at 1280 px frame width and
# scaled with the frame.
NODULE_COLOURS = np.array([[0.84, 0.88, 0.92],    # white
                           [0.48, 0.80, 0.92],    # yellow
                           [0.70, 0.68, 0.96]],   # pink
                          np.float32)
TISSUE_PALETTES = np.array([  # (tissue, vessel) per patient look
    [[0.32, 0.30, 0.72], [0.10, 0.08, 0.45]],     # pink-red
    [[0.20, 0.22, 0.60], [0.08, 0.06, 0.35]],     # dark red
    [[0.30, 0.42, 0.80], [0.12, 0.14, 0.50]],     # peach
    [[0.42, 0.44, 0.76], [0.16, 0.14, 0.52]],     # pale pink
    [[0.26, 0.34, 0.66], [0.10, 0.10, 0.40]]],    # brownish
    np.float32)
HAZE_COLOUR = np.array([0.78, 0.78, 0.80], np.float32)
VIS_FIELD = 0.62  # lit field of view: radius VIS_FIELD * width


def patient_look(rng):
    """Per-video appearance: palette, texture, illumination, nodule colours."""
    pal = TISSUE_PALETTES[rng.integers(len(TISSUE_PALETTES))]
    return dict(
        base=np.clip(pal[0] + rng.normal(0, 0.03, 3), 0.05, 0.95).astype(np.float32),
        vessel=tuple(float(v) for v in pal[1]),
        tex_scale=rng.uniform(0.5, 1.5),
        tex_amp=rng.uniform(0.15, 0.4),
        fine_amp=rng.uniform(0.04, 0.10),
        light_dir=rng.uniform(0, 2 * np.pi),
        light_amp=rng.uniform(0.0, 0.35),
        colour_p=rng.dirichlet([1.0, 1.0, 1.0]),
        contrast_scale=rng.uniform(0.8, 1.1))


def sample_nodules(rng, n, w, h, radius, look):
    """Attributes of ``n`` nodules in a (h, w) scene, as arrays of length n:
    ``xy`` (n, 2), ``r`` radius, ``c`` contrast (opacity), ``soft`` edge
    blur (px), ``aspect``, ``angle``, ``lobes``, ``lobe_amp``, ``phase``,
    ``colour`` (n, 3)."""
    lo, hi = radius
    r = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    xy = rng.random((n, 2)) * [w, h]
    # clusters: about a quarter of the nodules touch a non-member nodule
    member = rng.random(n) < 0.25
    member[0] = False
    seeds = np.flatnonzero(~member)
    parent = seeds[rng.integers(len(seeds), size=n)]
    ang = rng.uniform(0, 2 * np.pi, n)
    offset = (r + r[parent])[:, None] * 0.95 * np.stack([np.cos(ang), np.sin(ang)], 1)
    xy = np.where(member[:, None], xy[parent] + offset, xy)
    c = np.clip((0.1 + 0.9 * rng.beta(1.2, 1.2, n)) * look['contrast_scale'], 0, 1)
    soft = rng.uniform(0.0, 0.5, n) * r + 0.3
    kind = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])  # round, ellipse, lobulated
    aspect = np.where(kind == 1, rng.uniform(0.55, 0.9, n), 1.0)
    lobes = rng.integers(3, 6, n)
    lobe_amp = np.where(kind == 2, rng.uniform(0.12, 0.28, n), 0.0)
    colour = NODULE_COLOURS[rng.choice(3, size=n, p=look['colour_p'])]
    colour = np.clip(colour + rng.normal(0, 0.03, (n, 3)), 0, 1).astype(np.float32)
    return dict(xy=xy, r=r, c=c, soft=soft, aspect=aspect,
                angle=rng.uniform(0, np.pi, n), lobes=lobes, lobe_amp=lobe_amp,
                phase=rng.uniform(0, 2 * np.pi, n), colour=colour)


def draw_nodules(img, nod):
    """Blend the nodules into ``img`` (h, w, 3) in place: a shaded dome per
    nodule, its outline elliptical or lobulated, its edge blurred by
    ``soft``, its opacity ``c``. One vectorised patch per nodule."""
    h, w = img.shape[:2]
    for i in range(len(nod['r'])):
        x, y = nod['xy'][i]
        r, s = nod['r'][i], nod['soft'][i]
        half = int(np.ceil(1.3 * r * (1 + nod['lobe_amp'][i]) + 3 * s + 2))
        x0, x1 = max(0, int(x) - half), min(w, int(x) + half + 1)
        y0, y1 = max(0, int(y) - half), min(h, int(y) + half + 1)
        if x0 >= x1 or y0 >= y1:
            continue
        dy, dx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        dx, dy = dx - x, dy - y
        ca, sa = np.cos(nod['angle'][i]), np.sin(nod['angle'][i])
        u, v = ca * dx + sa * dy, (-sa * dx + ca * dy) / nod['aspect'][i]
        rho = np.sqrt(u**2 + v**2) / r
        rho /= 1 + nod['lobe_amp'][i] * np.cos(
            nod['lobes'][i] * np.arctan2(v, u) + nod['phase'][i])
        dome = np.clip(1 - rho**2, 0, 1)
        alpha = dome**0.35
        if s > 0.35:
            alpha = cv2.GaussianBlur(alpha, (0, 0), float(s))
        alpha = (nod['c'][i] * alpha)[..., None]
        shade = (0.78 + 0.22 * dome)[..., None]
        img[y0:y1, x0:x1] = (img[y0:y1, x0:x1] * (1 - alpha)
                             + alpha * nod['colour'][i] * shade)


def make_varied_scene(rng, h, w, n_nodules, radius, look, k):
    """A patient's tissue canvas (h, w, 3) float32 with vessels, fat,
    bubbles and nodules; ``k`` = frame width / 1280. Returns the canvas and
    the nodule attributes (:func:`sample_nodules`, plus ``bubbles``: their
    centres)."""
    # texture: mostly brightness, a little hue
    scale = max(4, int(64 * k * look['tex_scale']))
    lum = smooth_noise(rng, h, w, scale, 1) - 0.5
    hue = smooth_noise(rng, h, w, scale, 3) - 0.5
    fine = smooth_noise(rng, h, w, max(2, int(8 * k)), 1) - 0.5
    img = (look['base'] * (1 + look['tex_amp'] * 1.6 * lum) + 0.08 * hue
           + look['fine_amp'] * fine)
    img = img.astype(np.float32)
    for _ in range(rng.integers(3, 8)):  # vessels
        p = rng.random((4, 2)) * [w, h]
        t = np.linspace(0, 1, 60)[:, None]
        curve = ((1 - t)**3 * p[0] + 3 * (1 - t)**2 * t * p[1] +
                 3 * (1 - t) * t**2 * p[2] + t**3 * p[3]).astype(np.int32)
        cv2.polylines(img, [curve], False, look['vessel'],
                      max(1, int(rng.uniform(3, 12) * k)), cv2.LINE_AA)
    for _ in range(rng.integers(0, 4)):  # fat: soft yellowish lobes
        mask = np.zeros((h, w), np.float32)
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (max(2, int(rng.uniform(30, 90) * k)), max(2, int(rng.uniform(20, 60) * k)))
        cv2.ellipse(mask, c, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, 10 * k))[..., None]
        fat = np.array([0.45, 0.76, 0.90], np.float32) + rng.normal(0, 0.03, 3)
        img = img * (1 - 0.45 * mask) + 0.45 * mask * fat.astype(np.float32)
    nod = sample_nodules(rng, n_nodules, w, h, radius, look)
    draw_nodules(img, nod)
    nod['bubbles'] = []
    for _ in range(rng.integers(0, 6)):  # bubbles: bright thin rings
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        nod['bubbles'].append(c)
        rad = max(1, int(rng.uniform(4, 14) * k))
        cv2.circle(img, c, rad, (0.92, 0.93, 0.96), max(1, int(2 * k)), cv2.LINE_AA)
        cv2.circle(img, (c[0] - rad // 2, c[1] - rad // 2), max(1, rad // 4),
                   (1.0, 1.0, 1.0), -1, cv2.LINE_AA)
    return img, nod


def _field(h, w):
    """Vignette of the circular endoscope field (h, w) and the distance of
    every pixel from the centre in units of VIS_FIELD * w."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = np.sqrt((xx - w / 2)**2 + (yy - h / 2)**2) / (VIS_FIELD * w)
    return np.clip(1.25 - d**2 * 1.1, 0, 1), d


def render_varied_frame(rng, scene, nod, ox, oy, w, h, look, k, radius):
    """Crop the scene at (ox, oy) and add the frame's distractors (glints,
    streaks, an instrument shaft, haze, motion blur), illumination,
    vignette and noise.

    Returns the uint8 BGR frame, the visible nodules' points (m, 2), their
    salience (m,) in [0, 1] and the bright distractors' points as
    ``[x, y, kind]`` (glint and bubble centres, five points along each
    streak). A nodule is visible when it lies in the
    lit field, is not hidden by the instrument and keeps an effective
    contrast of at least 0.08 after vignette and haze."""
    img = scene[oy:oy + h, ox:ox + w].copy()
    distractors = [[x - ox, y - oy, 'bubble'] for x, y in nod['bubbles']
                   if 0 <= x - ox < w and 0 <= y - oy < h]
    for _ in range(rng.integers(3, 11)):  # specular glints
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        distractors.append([c[0], c[1], 'glint'])
        axes = (max(1, int(rng.uniform(2, 10) * k)), max(1, int(rng.uniform(1, 5) * k)))
        cv2.ellipse(img, c, axes, float(rng.uniform(0, 180)), 0, 360,
                    (1.0, 1.0, 1.0), -1, cv2.LINE_AA)
    for _ in range(rng.integers(0, 4)):  # specular streaks along folds
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (max(2, int(rng.uniform(16, 60) * k)), max(1, int(rng.uniform(1, 3) * k)))
        angle = float(rng.uniform(0, 180))
        cv2.ellipse(img, c, axes, angle, 0, 360, (0.97, 0.98, 1.0), -1, cv2.LINE_AA)
        for t in np.linspace(-0.8, 0.8, 5):
            distractors.append([c[0] + t * axes[0] * np.cos(np.radians(angle)),
                                c[1] + t * axes[0] * np.sin(np.radians(angle)), 'streak'])
    hidden = np.zeros((h, w), np.uint8)
    if rng.random() < 0.35:  # instrument shaft from a border
        side = rng.integers(4)
        t = rng.uniform(0.1, 0.9)
        start = [(t * w, -5), (t * w, h + 5), (-5, t * h), (w + 5, t * h)][side]
        end = (rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h)
        width = max(3, int(rng.uniform(60, 120) * k))
        p0, p1 = tuple(map(int, start)), tuple(map(int, end))
        cv2.line(hidden, p0, p1, 1, width)
        metal = rng.uniform(0.3, 0.45)
        m = hidden[..., None].astype(np.float32)
        img = img * (1 - m) + m * np.float32(metal)
        cv2.line(img, p0, p1, (0.75, 0.76, 0.78), max(1, width // 6), cv2.LINE_AA)
    haze = np.zeros((h, w), np.float32)
    if rng.random() < 0.3:  # smoke or haze patch
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        sig = rng.uniform(120, 300) * k
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        haze = rng.uniform(0.35, 0.7) * np.exp(-((xx - cx)**2 + (yy - cy)**2) / (2 * sig**2))
        img = img * (1 - haze[..., None]) + haze[..., None] * HAZE_COLOUR
    motion = 0.0
    if rng.random() < 0.2:  # camera motion blur
        motion = rng.uniform(6, 20) * k
        L = max(3, int(round(motion)) | 1)
        kern = np.zeros((L, L), np.float32)
        kern[L // 2] = 1.0 / L
        rot = cv2.getRotationMatrix2D((L / 2 - 0.5, L / 2 - 0.5), float(rng.uniform(0, 180)), 1)
        kern = cv2.warpAffine(kern, rot, (L, L))
        img = cv2.filter2D(img, -1, kern / max(kern.sum(), 1e-6))
    img = cv2.GaussianBlur(img, (3, 3), 0.8)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = look['light_dir']
    proj = ((xx - w / 2) * np.cos(ang) + (yy - h / 2) * np.sin(ang)) / w
    light = 1 + look['light_amp'] * proj
    vignette, dist = _field(h, w)
    img = img * (vignette * light)[..., None] * rng.uniform(0.85, 1.1)
    img = img + rng.normal(0, 0.015, img.shape).astype(np.float32)

    pts = nod['xy'] - [ox, oy]
    idx = np.flatnonzero((pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0)
                         & (pts[:, 1] < h))
    pts = pts[idx]
    ix, iy = pts[:, 0].astype(int), pts[:, 1].astype(int)
    c_eff = nod['c'][idx] * vignette[iy, ix] * (1 - haze[iy, ix])
    visible = (vignette[iy, ix] > 0.35) & (hidden[iy, ix] == 0) & (c_eff >= 0.08)
    idx, pts, c_eff = idx[visible], pts[visible], c_eff[visible]
    r = nod['r'][idx]
    lo, hi = radius
    size = np.clip(np.log(r / lo) / np.log(hi / lo), 0, 1)
    blur = np.sqrt(nod['soft'][idx]**2 + (motion / 3)**2 + 0.8**2)
    sharp = r / (r + 2 * blur)
    central = 1 - np.clip(dist[iy[visible], ix[visible]], 0, 1)
    sal = salience(size=size, contrast=np.clip(c_eff, 0, 1), sharp=sharp,
                   central=central)
    distractors = [[round(float(x), 1), round(float(y), 1), kind]
                   for x, y, kind in distractors if 0 <= x < w and 0 <= y < h]
    return (np.clip(img, 0, 1) * 255).astype(np.uint8), pts, sal, distractors


def _generate_varied(out, num_videos, frames_per_video, size, nodules, radius,
                     clicks, empty_prob, seed, click_bias, log, video_fps=0):
    rng = np.random.default_rng(seed)
    # clicks come from their own stream: every click budget and bias gets
    # the same frames and val/test truth, and fewer clicks of one order are
    # a prefix of more clicks
    click_rng = np.random.default_rng([seed, 1])
    w, h = size
    k = w / 1280
    margin = max(16, w // 8)
    records = {s: [] for s in ('train', 'val', 'test')}
    img_id = video_id = 0
    for split, nv in zip(('train', 'val', 'test'), num_videos):
        os.makedirs(osp.join(out, 'images', split), exist_ok=True)
        for _ in range(nv):
            video_id += 1
            look = patient_look(rng)
            n_nod = int(rng.integers(nodules[0], nodules[1] + 1))
            scene, nod = make_varied_scene(rng, h + 2 * margin, w + 2 * margin,
                                           n_nod, radius, look, k)
            ox, oy = margin, margin
            writer = None
            if video_fps:
                os.makedirs(osp.join(out, 'videos', split), exist_ok=True)
                writer = cv2.VideoWriter(
                    osp.join(out, 'videos', split, f'v{video_id:03d}.mp4'),
                    cv2.VideoWriter_fourcc(*'mp4v'), video_fps, (w, h))
            for f in range(frames_per_video):
                ox = int(np.clip(ox + rng.integers(-12, 13), 0, 2 * margin))
                oy = int(np.clip(oy + rng.integers(-8, 9), 0, 2 * margin))
                frame, pts, sal, distractors = render_varied_frame(
                    rng, scene, nod, ox, oy, w, h, look, k, radius)
                if writer is not None:
                    writer.write(frame)
                img_id += 1
                name = f'{split}/v{video_id:03d}_f{f:04d}.jpg'
                cv2.imwrite(osp.join(out, 'images', name), frame,
                            [cv2.IMWRITE_JPEG_QUALITY, 92])
                rec = dict(image=dict(id=img_id, file_name=name, width=w, height=h,
                                      video_id=video_id, frame_id=f),
                           pts=pts, sal=sal, clicked=None, distractors=distractors)
                if split == 'train':
                    rec['clicked'] = draw_clicks(click_rng, sal, clicks, empty_prob,
                                                 click_bias)
                records[split].append(rec)
            if writer is not None:
                writer.release()
    all_sal = np.concatenate([r['sal'] for rs in records.values() for r in rs])
    cuts = tercile_cuts(all_sal)
    summary = {}
    ann_id = 0

    def dump(name, recs, use_clicks):
        nonlocal ann_id
        anns = []
        for rec in recs:
            sel = rec['clicked'] if use_clicks else np.arange(len(rec['pts']))
            groups = salience_groups(rec['sal'], cuts)
            for j in sel:
                ann_id += 1
                x, y = rec['pts'][j]
                anns.append(dict(id=ann_id, image_id=rec['image']['id'], category_id=1,
                                 keypoints=[round(float(x), 2), round(float(y), 2), 2],
                                 num_keypoints=1, iscrowd=0, group=str(groups[j]),
                                 salience=round(float(rec['sal'][j]), 4)))
        with open(osp.join(out, 'annotations', f'{name}.json'), 'w') as fh:
            json.dump(dict(images=[r['image'] for r in recs], annotations=anns,
                           categories=CATEGORIES), fh)
        return anns

    os.makedirs(osp.join(out, 'annotations'), exist_ok=True)
    for split, recs in records.items():
        anns = dump(split, recs, use_clicks=split == 'train')
        summary[split] = (len(recs), len(anns))
        log(f'{split}: {len(recs)} frames, {len(anns)} points '
            f'({len(anns) / max(1, len(recs)):.1f} per frame)')
    dense = dump('train_dense', records['train'], use_clicks=False)
    with open(osp.join(out, 'annotations', 'distractors.json'), 'w') as fh:
        json.dump({str(r['image']['id']): r['distractors']
                   for rs in records.values() for r in rs}, fh)
    log(f'train_dense (side file, not for training): {len(dense)} points; '
        f'salience terciles {cuts[0]:.3f} {cuts[1]:.3f}')
    return summary


# ---------------------------------------------------------------- classic
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


def _generate_classic(out, num_videos, frames_per_video, size, nodules,
                      nodule_radius, clicks, empty_prob, seed, log):
    """The first generator (preset ``classic``), unchanged: uniform clicks,
    all nodules alike."""
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


def generate(out, num_videos=(6, 2, 2), frames_per_video=8, size=(640, 360),
             nodules=None, nodule_radius=None, clicks=DEFAULT_CLICKS,
             empty_prob=0.1, seed=0, log=print, preset='varied', click_bias=None,
             video_fps=0):
    """Write the data set; returns {split: (num_frames, num_points)}.

    ``nodules``: (min, max) nodules per video scene; default: the preset's
    (varied: 30 to 60, about 22 visible per frame; classic: 20 to 45).
    ``nodule_radius``: (min, max) in pixels of the written frames; default:
    the preset's (varied: 2 to 12 px at 1280 px width, scaled, at least
    MIN_RADIUS; classic: 4 to 9 px). ``click_bias``: 'salient' or
    'uniform'; default: the preset's (varied: salient; classic: uniform,
    the only one it has). ``video_fps`` > 0 also writes each video as
    ``OUT/videos/<split>/v<id>.mp4`` at that rate (varied preset)."""
    if preset not in PRESETS:
        raise ValueError(f'preset must be one of {PRESETS}, got {preset!r}')
    if preset == 'classic':
        if click_bias not in (None, 'uniform'):
            raise ValueError('the classic preset has uniform clicks only '
                             f'(got click_bias={click_bias!r})')
        return _generate_classic(out, num_videos, frames_per_video, size,
                                 nodules or (20, 45),
                                 nodule_radius or (4.0, 9.0), clicks, empty_prob,
                                 seed, log)
    click_bias = click_bias or 'salient'
    if click_bias not in CLICK_BIASES:
        raise ValueError(f'click_bias must be one of {CLICK_BIASES}, got {click_bias!r}')
    if nodule_radius is None:
        k = size[0] / 1280
        lo, hi = (v * k for v in VARIED_RADIUS_1280)
        nodule_radius = (max(MIN_RADIUS, lo), max(2 * MIN_RADIUS, hi))
    if not 0 < nodule_radius[0] < nodule_radius[1]:
        raise ValueError(f'nodule radius must satisfy 0 < min < max, got {nodule_radius}')
    return _generate_varied(out, num_videos, frames_per_video, size,
                            nodules or VARIED_NODULES,
                            nodule_radius, clicks, empty_prob, seed, click_bias, log,
                            video_fps)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('out', help='output directory, e.g. data/synthetic')
    p.add_argument('--preset', choices=PRESETS, default='varied',
                   help='varied (default): varied nodules, patients and '
                   'distractors; classic: the first generator')
    p.add_argument('--click-bias', choices=CLICK_BIASES,
                   help='annotator model of the train clicks (default: salient '
                   'for varied; classic has uniform only)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--videos', type=int, nargs=3, default=(6, 2, 2),
                   metavar=('TRAIN', 'VAL', 'TEST'))
    p.add_argument('--frames-per-video', type=int, default=8)
    p.add_argument('--size', type=int, nargs=2, default=(640, 360),
                   metavar=('W', 'H'))
    p.add_argument('--nodules', type=int, nargs=2, metavar=('MIN', 'MAX'),
                   help='nodules per video scene (default: varied 30-60, '
                   'classic 20-45)')
    p.add_argument('--nodule-radius', type=float, nargs=2, metavar=('MIN', 'MAX'),
                   help='nodule radius in pixels (default: varied 2-12 at 1280 '
                   'px width, scaled to --size; classic 4-9)')
    p.add_argument('--clicks', type=parse_clicks, default=DEFAULT_CLICKS,
                   help='train clicks per frame: "1-5", "3" or "dense"')
    p.add_argument('--empty-prob', type=float, default=0.1,
                   help='fraction of train frames with no click')
    p.add_argument('--write-videos', type=float, default=0, metavar='FPS',
                   help='also write every video as an mp4 at FPS frames/s '
                   '(varied preset), e.g. to try tools/infer.py')
    args = p.parse_args(argv)
    generate(args.out, tuple(args.videos), args.frames_per_video,
             tuple(args.size), tuple(args.nodules) if args.nodules else None,
             tuple(args.nodule_radius) if args.nodule_radius else None,
             clicks=args.clicks, empty_prob=args.empty_prob, seed=args.seed,
             preset=args.preset, click_bias=args.click_bias,
             video_fps=args.write_videos)
    return 0


if __name__ == '__main__':
    sys.exit(main())

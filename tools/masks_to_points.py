#!/usr/bin/env python
"""Instance label images + their images -> this project's point data set.

Each ``--images`` / ``--labels`` pair is one video: a TIFF stack (T, H, W),
one image (TIFF or PNG: one frame) or a folder of per-frame images (sorted
by name). A label image holds an integer instance id per pixel (0:
background). Every instance becomes one point at its centre of mass, with
the simulated annotator of the synthetic generator
(``mmpose_carcinosis/datasets/annotator.py``) clicking a few per training
frame. Output (the CarcinosisDataset layout)::

    OUT/images/<split>/v<video>_t<frame>[_x<x0>_y<y0>].png   8-bit PNG
    OUT/annotations/{train,val,test}.json   train: clicks; val, test: every instance
    OUT/annotations/train_dense.json        every instance of the training frames

- ``--tile W H`` cuts every frame into crops of W x H (as few as cover the
  frame; the last row and column aligned to its edge, overlapping only
  when the frame is not a multiple of the tile). Each crop is a frame of
  its own: its points are the centres of mass of the instances' parts
  inside it. ``video_id`` is one per (input video, tile position), so a
  ``video_id`` is one field of view over time; ``frame_id`` is the time
  index; ``source_video`` (the input pair's index) and ``tile`` ([x0, y0])
  say where the crop comes from.
- ``--crop-border B`` first removes B pixels from every side of every
  frame (before the tiles are cut): a reference segmentation often leaves
  out the objects the frame's edge cuts (the HeLa labels of the real-image
  benchmark leave out 89% of the bright pixels within 3 px of the edge,
  none beyond 30 px), and such objects, visible but unlabeled, would count
  as false positives. ``tile`` keeps the crop's corner in the input frame.
- Salience per instance from its own pixels: size (log area between the
  data set's 5th and 95th percentiles), contrast (mean intensity inside
  minus the mean of a background ring around it, on the written 8-bit
  image, over 255) and closeness to the centre of the frame the annotator
  sees (the crop). ``group``: the salience terciles of the data set.
- Split by time block (``--split time``, default): each video's frames in
  time order, the first ``--fractions`` share for train, then val, then
  test: no frame of one time block in two splits. ``--split video``: whole
  input videos, in order.
- Intensity: every video is scaled linearly so that its ``--percentiles``
  (default 0.5 and 99.8, over all its frames) map to 0 and 255, clipped
  (``--percentiles 0 100``: min-max). Written as 8-bit PNG (grey, or colour
  if the input is).

Example (the real-image benchmark does this for its HeLa nuclei)::

    python tools/masks_to_points.py data/hela --images img.tif --labels seg.tif \\
        --tile 550 350 --clicks 1-5 --click-bias salient --seed 0
"""
import argparse
import json
import os
import os.path as osp
import sys

import cv2
import numpy as np

from mmpose_carcinosis.datasets.annotator import (CLICK_BIASES, draw_clicks,
                                                  parse_clicks, salience,
                                                  salience_groups, tercile_cuts)

CATEGORIES = [dict(id=1, name='carcinosis', supercategory='lesion',
                   keypoints=['carcinosis'], skeleton=[])]
IMAGE_EXTS = ('.tif', '.tiff', '.png', '.jpg', '.jpeg', '.bmp')
SPLITS = ('train', 'val', 'test')


class ConversionError(ValueError):
    """An input the converter cannot use; the message names the file."""


def _read_one(path):
    if path.lower().endswith(('.tif', '.tiff')):
        import tifffile
        return tifffile.imread(path)
    arr = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ConversionError(f'{path}: not a readable image')
    return arr


def read_stack(path, kind):
    """Frames of one input as an array (T, H, W) or (T, H, W, C), and the
    file each frame comes from. ``kind``: 'images' or 'labels' (a label
    image has no colour channels)."""
    if osp.isdir(path):
        files = sorted(osp.join(path, f) for f in os.listdir(path)
                       if f.lower().endswith(IMAGE_EXTS))
        if not files:
            raise ConversionError(f'{path}: no image file ({", ".join(IMAGE_EXTS)})')
        frames = [_read_one(f) for f in files]
        shapes = {f.shape for f in frames}
        if len(shapes) > 1:
            raise ConversionError(f'{path}: frames of different sizes {sorted(shapes)}')
        return np.stack(frames), files
    if not osp.isfile(path):
        raise ConversionError(f'{path}: no such file or folder')
    arr = _read_one(path)
    colour = kind == 'images' and arr.ndim >= 3 and arr.shape[-1] in (3, 4) and (
        arr.ndim == 4 or not path.lower().endswith(('.tif', '.tiff')))
    if arr.ndim == 2 or (colour and arr.ndim == 3):
        arr = arr[None]  # one frame
    if arr.size == 0:
        raise ConversionError(f'{path}: empty stack (no frame)')
    if arr.ndim != (4 if colour else 3):
        raise ConversionError(f'{path}: expected a frame or a stack of frames, got an '
                              f'array of shape {arr.shape}')
    return arr, [path] * len(arr)


def check_labels(labels, images, lab_path, img_path):
    """Clear errors for label stacks the converter cannot use."""
    if labels.dtype.kind not in 'iu':
        raise ConversionError(f'{lab_path}: label images must hold integer instance ids, '
                              f'got {labels.dtype}')
    if labels.dtype.kind == 'i' and labels.min() < 0:
        raise ConversionError(f'{lab_path}: negative instance ids')
    if len(labels) != len(images):
        raise ConversionError(f'{lab_path}: {len(labels)} label frames for {len(images)} '
                              f'frames in {img_path}')
    if labels.shape[1:3] != images.shape[1:3]:
        raise ConversionError(
            f'{lab_path}: label frames are {labels.shape[2]}x{labels.shape[1]} (WxH), '
            f'the images of {img_path} {images.shape[2]}x{images.shape[1]}')


def normalise(images, percentiles):
    """uint8 frames: ``percentiles`` (low, high) of all frames -> 0, 255."""
    lo, hi = np.percentile(images, percentiles)
    if hi <= lo:
        hi = lo + 1
    return (np.clip((images.astype(np.float32) - lo) / (hi - lo), 0, 1) * 255 + 0.5
            ).astype(np.uint8)


def tile_origins(width, height, tile):
    """Top-left corners of the crops covering a frame (row-major)."""
    if tile is None:
        return [(0, 0)]
    tw, th = tile
    if tw > width or th > height:
        raise ConversionError(f'--tile {tw} {th} is larger than the frames ({width}x{height})')

    def starts(size, t):
        n = -(-size // t)
        return np.round(np.linspace(0, size - t, n)).astype(int) if n > 1 else np.zeros(1, int)
    return [(int(x), int(y)) for y in starts(height, th) for x in starts(width, tw)]


def instances(label, grey, min_area):
    """Instances of one label frame (H, W) with its 8-bit grey image: dict
    of arrays per instance (n,): ``xy`` (n, 2) centre of mass in pixels
    (pixel centres at integer coordinates), ``area`` (pixels), ``contrast``
    (mean inside minus mean of the background ring around it, over 255).
    Instances smaller than ``min_area`` are left out; returns them with the
    number left out."""
    from scipy import ndimage as ndi
    h, w = label.shape
    ids, inv = np.unique(label.ravel(), return_inverse=True)
    area = np.bincount(inv)
    yy, xx = np.divmod(np.arange(h * w), w)
    cx = np.bincount(inv, weights=xx) / area
    cy = np.bincount(inv, weights=yy) / area
    inside = np.bincount(inv, weights=grey.ravel()) / area
    fg = ids > 0
    # background ring: background pixels within `ring` px of an instance,
    # each given to its nearest instance
    bg = label == 0
    ring = max(2.0, 0.5 * np.sqrt(np.median(area[fg]) / np.pi)) if fg.any() else 2.0
    dist, (iy, ix) = ndi.distance_transform_edt(bg, return_indices=True)
    near = bg & (dist <= ring)
    owner = inv.reshape(h, w)[iy[near], ix[near]]
    n_ring = np.bincount(owner, minlength=len(ids))
    s_ring = np.bincount(owner, weights=grey[near], minlength=len(ids))
    fallback = grey[bg].mean() if bg.any() else 0.0
    surround = np.where(n_ring > 0, s_ring / np.maximum(n_ring, 1), fallback)
    keep = fg & (area >= min_area)
    out = dict(xy=np.stack([cx, cy], 1)[keep], area=area[keep].astype(float),
               contrast=(inside - surround)[keep] / 255.0)
    return out, int((fg & ~keep).sum())


def split_of(n_frames, n_videos, video, frame, how, fractions):
    """'train', 'val' or 'test' for one frame."""
    cum = np.cumsum(fractions) / np.sum(fractions)
    if how == 'time':
        pos = frame / n_frames
    else:
        pos = video / n_videos
    return SPLITS[int(np.searchsorted(cum[:-1], pos + 1e-9, side='right'))]


def convert(out, images, labels, tile=None, clicks=(1, 5), click_bias='salient',
            empty_prob=0.1, seed=0, split='time', fractions=(0.6, 0.2, 0.2),
            percentiles=(0.5, 99.8), min_area=16, crop_border=0, log=print):
    """Write the data set; returns ``{split: (frames, points)}`` plus
    ``'median_radius'`` (the instances' median equivalent radius, px).
    ``images``, ``labels``: paths, one pair per video (see the module
    docstring)."""
    if len(images) != len(labels) or not images:
        raise ConversionError(f'{len(images)} --images for {len(labels)} --labels: give one '
                              'label input per image input')
    if split == 'video' and len(images) < 3:
        raise ConversionError('--split video needs at least 3 input videos')
    if os.path.exists(osp.join(out, 'annotations')):
        raise ConversionError(f'{out}: already holds annotations; give an empty folder')
    click_rng = np.random.default_rng([seed, 1])
    records = []
    dropped = 0
    next_video = {}
    for v, (img_path, lab_path) in enumerate(zip(images, labels)):
        frames, files = read_stack(img_path, 'images')
        labs, _ = read_stack(lab_path, 'labels')
        check_labels(labs, frames, lab_path, img_path)
        frames = normalise(frames, percentiles)
        t_count, height, width = labs.shape
        b = int(crop_border)
        if b < 0 or 2 * b >= min(width, height):
            raise ConversionError(f'{img_path}: --crop-border {b} leaves nothing of its '
                                  f'{width}x{height} frames')
        # the frame without its border; tiles cut from it, corners in frame pixels
        width, height = width - 2 * b, height - 2 * b
        origins = [(x + b, y + b) for x, y in tile_origins(width, height, tile)]
        for t in range(t_count):
            frame = frames[t]
            grey = frame if frame.ndim == 2 else cv2.cvtColor(frame[..., :3], cv2.COLOR_BGR2GRAY)
            which = split_of(t_count, len(images), v, t, split, fractions)
            os.makedirs(osp.join(out, 'images', which), exist_ok=True)
            for x0, y0 in origins:
                tw, th = tile or (width, height)
                crop = frame[y0:y0 + th, x0:x0 + tw]
                inst, n_small = instances(labs[t, y0:y0 + th, x0:x0 + tw],
                                          grey[y0:y0 + th, x0:x0 + tw].astype(float), min_area)
                dropped += n_small
                video_id = next_video.setdefault((v, x0, y0), len(next_video) + 1)
                name = f'v{v + 1:03d}_t{t:04d}' + (f'_x{x0}_y{y0}' if tile else '')
                file_name = f'{which}/{name}.png'
                cv2.imwrite(osp.join(out, 'images', file_name), crop)
                d = np.hypot(inst['xy'][:, 0] - (tw - 1) / 2, inst['xy'][:, 1] - (th - 1) / 2)
                inst['central'] = 1 - np.clip(d / (0.5 * np.hypot(tw, th)), 0, 1)
                records.append(dict(split=which, inst=inst, image=dict(
                    id=len(records) + 1, file_name=file_name, width=int(tw), height=int(th), video_id=video_id,
                    frame_id=t, source_video=v, source=osp.basename(files[t]),
                    tile=[x0, y0])))
    all_area = np.concatenate([r['inst']['area'] for r in records])
    if not len(all_area):
        raise ConversionError('no instance in any label image')
    a_lo, a_hi = np.percentile(all_area, [5, 95])
    a_hi = max(a_hi, a_lo * 1.01)
    for r in records:
        i = r['inst']
        i['sal'] = salience(size=np.clip(np.log(i['area'] / a_lo) / np.log(a_hi / a_lo), 0, 1),
                            contrast=np.clip(i['contrast'], 0, 1), central=i['central'])
    cuts = tercile_cuts(np.concatenate([r['inst']['sal'] for r in records]))
    # click draws in a fixed order (frames as listed), one stream per seed:
    # fewer clicks of one seed are a prefix of more
    for r in records:
        r['clicked'] = (draw_clicks(click_rng, r['inst']['sal'], clicks, empty_prob, click_bias)
                        if r['split'] == 'train' else None)
    os.makedirs(osp.join(out, 'annotations'), exist_ok=True)
    info = dict(description='converted by tools/masks_to_points.py', images=list(images),
                labels=list(labels), tile=list(tile) if tile else None,
                normalisation=f'per video, linear: percentiles {percentiles[0]:g} and '
                f'{percentiles[1]:g} of its frames -> 0 and 255, clipped',
                clicks='dense' if clicks is None else f'{clicks[0]}-{clicks[1]}',
                click_bias=click_bias, empty_prob=empty_prob, seed=seed, split=split,
                fractions=list(fractions), min_area=min_area, crop_border=crop_border,
                salience_terciles=[round(float(c), 4) for c in cuts])
    summary = {}
    for name in SPLITS + ('train_dense', ):
        split_name = 'train' if name == 'train_dense' else name
        recs = [r for r in records if r['split'] == split_name]
        anns, imgs = [], []
        for r in recs:
            image_id = r['image']['id']
            imgs.append(r['image'])
            i = r['inst']
            sel = r['clicked'] if name == 'train' else np.arange(len(i['xy']))
            groups = salience_groups(i['sal'], cuts)
            for j in sel:
                x, y = i['xy'][j]
                anns.append(dict(id=len(anns) + 1, image_id=image_id, category_id=1,
                                 keypoints=[round(float(x), 2), round(float(y), 2), 2],
                                 num_keypoints=1, iscrowd=0, group=str(groups[j]),
                                 salience=round(float(i['sal'][j]), 4),
                                 area=int(i['area'][j])))
        with open(osp.join(out, 'annotations', f'{name}.json'), 'w') as f:
            json.dump(dict(info=info, images=imgs, annotations=anns, categories=CATEGORIES), f)
        summary[name] = (len(imgs), len(anns))
        if not imgs and name != 'train_dense':
            log(f'warning: no frame in the {name} split (--fractions {fractions})')
        log(f'{name}: {len(imgs)} frames, {len(anns)} points '
            f'({len(anns) / max(1, len(imgs)):.1f} per frame)')
    summary['median_radius'] = float(np.sqrt(np.median(all_area) / np.pi))
    log(f'instances: {len(all_area)}, median equivalent radius '
        f'{summary["median_radius"]:.1f} px; {dropped} smaller than {min_area} px left out; '
        f'salience terciles {cuts[0]:.3f} {cuts[1]:.3f}')
    return summary


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('out', help='output data root (empty or new folder)')
    p.add_argument('--images', nargs='+', required=True,
                   help='one per video: TIFF stack, image file, or folder of frames')
    p.add_argument('--labels', nargs='+', required=True,
                   help='instance label images, one input per --images input')
    p.add_argument('--tile', type=int, nargs=2, metavar=('W', 'H'),
                   help='cut frames into crops of W x H pixels, each a frame')
    p.add_argument('--clicks', type=parse_clicks, default=(1, 5),
                   help='train clicks per frame: "1-5", "3" or "dense"')
    p.add_argument('--click-bias', choices=CLICK_BIASES, default='salient')
    p.add_argument('--empty-prob', type=float, default=0.1,
                   help='fraction of train frames with no click')
    p.add_argument('--seed', type=int, default=0, help='seed of the simulated clicks')
    p.add_argument('--split', choices=('time', 'video'), default='time',
                   help='time: blocks of each video in time order; video: whole videos')
    p.add_argument('--fractions', type=float, nargs=3, default=(0.6, 0.2, 0.2),
                   metavar=('TRAIN', 'VAL', 'TEST'))
    p.add_argument('--percentiles', type=float, nargs=2, default=(0.5, 99.8),
                   metavar=('LOW', 'HIGH'), help='intensity normalisation per video')
    p.add_argument('--min-area', type=int, default=16,
                   help='instances (or their part in a crop) smaller than this are left out')
    p.add_argument('--crop-border', type=int, default=0, metavar='B',
                   help='pixels removed from every side of every frame before tiling '
                   '(where the labels leave out the objects the edge cuts)')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        convert(args.out, args.images, args.labels, tile=args.tile, clicks=args.clicks,
                click_bias=args.click_bias, empty_prob=args.empty_prob, seed=args.seed,
                split=args.split, fractions=args.fractions,
                percentiles=args.percentiles, min_area=args.min_area,
                crop_border=args.crop_border)
    except ConversionError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())

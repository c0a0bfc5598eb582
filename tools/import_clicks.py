#!/usr/bin/env python
"""Import point clicks from annotation tools into the project's format.

    python tools/import_clicks.py --format cvat|labelme|csv INPUT... \\
        --images-root DIR --out DATA_ROOT [--split TRAIN VAL TEST] [--seed S] \\
        [--name train] [--video-pattern REGEX] [--label NAME ...] [--copy-images]

Formats:

- ``cvat``: CVAT for images 1.1 XML (``<image name= width= height=>`` with
  ``<points points="x1,y1;x2,y2" label=...>`` children);
- ``labelme``: LabelMe JSON files (or folders of them, searched
  recursively), one per image, ``shape_type: point`` shapes;
- ``csv``: a header with ``image``, ``x`` and ``y`` columns (optional
  ``group``); one row per click, a row with empty x and y lists a frame
  without clicks.

Image paths are taken relative to ``--images-root``. Frames are grouped into
videos by their folder, or by ``--video-pattern`` (a regular expression on
the relative path whose group ``video``, or first group, names the video);
``frame_id`` is the frame's rank in natural order within its video.
Without ``--split`` every frame goes to ``DATA_ROOT/annotations/<name>.json``
(``--name``, default ``train``; import dense val/test annotations with
``--name val`` / ``--name test``). With ``--split 0.7 0.15 0.15`` whole
videos are shuffled with ``--seed`` and split into train, val and test, so
that no video is in two splits. Images are referenced, not copied:
``DATA_ROOT/images`` becomes a symbolic link to ``--images-root`` (copied
with ``--copy-images``). The result is checked by the dataset's parser;
malformed input stops with an error naming the file and the record, and
non-point shapes are skipped with a count.
"""
import argparse
import csv
import json
import os
import os.path as osp
import re
import shutil
import sys
import xml.etree.ElementTree as ET
from collections import Counter

import numpy as np

from mmpose_carcinosis.utils import natural_key

CATEGORIES = [dict(id=1, name='carcinosis', supercategory='lesion',
                   keypoints=['carcinosis'], skeleton=[])]


class ClickImportError(ValueError):
    """Malformed input; the message names the file and the record."""


def _number(text, file, where, what):
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise ClickImportError(f'{file}: {where}: {what} {text!r} is not a number') from None
    if not np.isfinite(v):
        raise ClickImportError(f'{file}: {where}: {what} {text!r} is not finite')
    return v


def read_cvat(path, labels, skipped):
    """{relative image path: dict(width, height, points=[(x, y, group)])}"""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise ClickImportError(f'{path}: not valid XML ({e})') from None
    frames = {}
    for i, img in enumerate(root.iter('image')):
        name = img.get('name')
        where = f'image[{i}] (name={name!r})'
        if not name:
            raise ClickImportError(f'{path}: {where}: no "name" attribute')
        w = _number(img.get('width'), path, where, 'width')
        h = _number(img.get('height'), path, where, 'height')
        pts = []
        for child in img:
            if child.tag != 'points':
                skipped[child.tag] += 1
                continue
            if labels and child.get('label') not in labels:
                skipped[f'label {child.get("label")}'] += 1
                continue
            text = child.get('points', '')
            for pair in filter(None, text.split(';')):
                xy = pair.split(',')
                if len(xy) != 2:
                    raise ClickImportError(f'{path}: {where}: points {text!r} is not '
                                       '"x1,y1;x2,y2;..."')
                pts.append((_number(xy[0], path, where, 'x'),
                            _number(xy[1], path, where, 'y'), None))
        frames[name] = dict(width=w, height=h, points=pts, source=f'{path}: {where}')
    return frames


def read_labelme(path, images_root, labels, skipped):
    try:
        with open(path, encoding='utf-8') as f:
            d = json.load(f)
    except json.JSONDecodeError as e:
        raise ClickImportError(f'{path}: not valid JSON ({e})') from None
    for key in ('imagePath', 'shapes'):
        if key not in d:
            raise ClickImportError(f'{path}: top level: missing key {key!r}')
    # LabelMe stores imagePath relative to the JSON file
    image = osp.normpath(osp.join(osp.dirname(path), d['imagePath']))
    name = osp.relpath(image, images_root)
    if name.startswith('..'):
        raise ClickImportError(f'{path}: imagePath {d["imagePath"]!r} ({image}) is outside '
                           f'--images-root {images_root}')
    w = _number(d.get('imageWidth'), path, 'top level', 'imageWidth')
    h = _number(d.get('imageHeight'), path, 'top level', 'imageHeight')
    pts = []
    for j, shape in enumerate(d['shapes']):
        where = f'shapes[{j}] (label={shape.get("label")!r})'
        if shape.get('shape_type', 'polygon') != 'point':
            skipped[shape.get('shape_type', 'polygon')] += 1
            continue
        if labels and shape.get('label') not in labels:
            skipped[f'label {shape.get("label")}'] += 1
            continue
        p = shape.get('points')
        if not isinstance(p, list) or len(p) != 1 or not isinstance(p[0], list) \
                or len(p[0]) != 2:
            raise ClickImportError(f'{path}: {where}: a point shape needs points [[x, y]], '
                               f'got {p!r}')
        pts.append((_number(p[0][0], path, where, 'x'), _number(p[0][1], path, where, 'y'),
                    None))
    return {name: dict(width=w, height=h, points=pts, source=path)}


def read_csv(path, skipped):
    frames = {}
    with open(path, newline='', encoding='utf-8') as f:
        reader = csv.DictReader(f)
        missing = {'image', 'x', 'y'} - set(reader.fieldnames or [])
        if missing:
            raise ClickImportError(f'{path}: header: missing column(s) {sorted(missing)} '
                               f'(have {reader.fieldnames})')
        for row in reader:
            where = f'line {reader.line_num}'
            name = (row['image'] or '').strip()
            if not name:
                raise ClickImportError(f'{path}: {where}: empty image')
            fr = frames.setdefault(name, dict(width=None, height=None, points=[],
                                              source=f'{path}: {where}'))
            x, y = (row['x'] or '').strip(), (row['y'] or '').strip()
            if not x and not y:
                continue  # a frame without clicks
            fr['points'].append((_number(x, path, where, 'x'), _number(y, path, where, 'y'),
                                 (row.get('group') or '').strip() or None))
    return frames


def video_of(name, pattern):
    if pattern is None:
        return osp.dirname(name) or '.'
    m = pattern.search(name)
    if not m:
        raise ClickImportError(f'{name}: --video-pattern {pattern.pattern!r} does not match')
    return m.group('video') if 'video' in pattern.groupindex else m.group(1)


def split_videos(videos, fractions, seed):
    """Shuffle the video names with ``seed`` and cut them into len(fractions)
    consecutive groups of sizes proportional to ``fractions`` (largest
    remainders; every split with a positive fraction gets at least one
    video when there are enough)."""
    videos = sorted(videos, key=natural_key)
    order = np.random.default_rng(seed).permutation(len(videos))
    frac = np.asarray(fractions, float) / sum(fractions)
    counts = np.floor(frac * len(videos)).astype(int)
    for i in np.argsort(-(frac * len(videos) - counts))[:len(videos) - counts.sum()]:
        counts[i] += 1
    for i in np.flatnonzero((counts == 0) & (frac > 0)):
        donor = int(np.argmax(counts))
        if counts[donor] > 1:
            counts[donor] -= 1
            counts[i] += 1
    bounds = np.cumsum(counts)[:-1]
    return [[videos[j] for j in part] for part in np.split(order, bounds)]


def image_size(path):
    from PIL import Image
    try:
        with Image.open(path) as im:
            return im.size
    except OSError as e:
        raise ClickImportError(f'{path}: cannot read the image size ({e})') from None


def build(frames, names, video_ids, images_root):
    """One annotation file (the project's format) for the frames ``names``."""
    images, anns = [], []
    by_video = {}
    for name in names:
        by_video.setdefault(video_ids[name][0], []).append(name)
    for vid in sorted(by_video):
        for f, name in enumerate(sorted(by_video[vid], key=natural_key)):
            fr = frames[name]
            if fr['width'] is None:
                fr['width'], fr['height'] = image_size(osp.join(images_root, name))
            img_id = len(images) + 1
            images.append(dict(id=img_id, file_name=name, width=fr['width'],
                               height=fr['height'], video_id=vid, frame_id=f,
                               video=video_ids[name][1]))
            for x, y, group in fr['points']:
                ann = dict(id=len(anns) + 1, image_id=img_id, category_id=1,
                           keypoints=[x, y, 2], num_keypoints=1, iscrowd=0)
                if group is not None:
                    ann['group'] = group
                anns.append(ann)
    return dict(images=images, annotations=anns, categories=CATEGORIES)


def collect_inputs(fmt, inputs):
    files = []
    for item in inputs:
        if osp.isdir(item):
            ext = dict(cvat='.xml', labelme='.json', csv='.csv')[fmt]
            for root, _, names in os.walk(item):
                files += [osp.join(root, n) for n in names if n.lower().endswith(ext)]
        elif osp.isfile(item):
            files.append(item)
        else:
            raise ClickImportError(f'{item}: no such file or folder')
    return sorted(files, key=natural_key)


def import_clicks(fmt, inputs, images_root, out, split=None, seed=0, name='train',
                  video_pattern=None, labels=None, copy_images=False, log=print):
    """Convert, write ``out/annotations/*.json``; return {file: (frames, points)}."""
    from mmpose_carcinosis.datasets import parse_carcinosis_annotations
    images_root = osp.abspath(images_root)
    skipped, frames = Counter(), {}
    for path in collect_inputs(fmt, inputs):
        if fmt == 'cvat':
            new = read_cvat(path, labels, skipped)
        elif fmt == 'labelme':
            new = read_labelme(path, images_root, labels, skipped)
        else:
            new = read_csv(path, skipped)
        for key, fr in new.items():
            if key in frames:
                raise ClickImportError(f'{fr["source"]}: image {key!r} is already annotated '
                                   f'in {frames[key]["source"]}')
            frames[key] = fr
    if not frames:
        raise ClickImportError(f'no annotated images in {inputs}')
    pattern = re.compile(video_pattern) if video_pattern else None
    video_name = {n: video_of(n, pattern) for n in frames}
    videos = sorted(set(video_name.values()), key=natural_key)
    number = {v: i + 1 for i, v in enumerate(videos)}
    video_ids = {n: (number[v], v) for n, v in video_name.items()}
    if split:
        parts = split_videos(videos, split, seed)
        outputs = {s: [n for n in frames if video_ids[n][1] in set(p)]
                   for s, p in zip(('train', 'val', 'test'), parts)}
    else:
        outputs = {name: list(frames)}
    os.makedirs(osp.join(out, 'annotations'), exist_ok=True)
    summary = {}
    for split_name, names in outputs.items():
        data = build(frames, names, video_ids, images_root)
        path = osp.join(out, 'annotations', f'{split_name}.json')
        parse_carcinosis_annotations(data, path)  # the dataset's own checks
        with open(path, 'w') as f:
            json.dump(data, f)
        summary[path] = (len(data['images']), len(data['annotations']))
        n_vid = len({i['video_id'] for i in data['images']})
        log(f'{path}: {len(data["images"])} frames of {n_vid} video(s), '
            f'{len(data["annotations"])} points')
    if skipped:
        log('skipped (not point clicks): ' + ', '.join(f'{k} {v}' for k, v in
                                                       sorted(skipped.items())))
    link = osp.join(out, 'images')
    if copy_images:
        for n in frames:
            os.makedirs(osp.dirname(osp.join(link, n)), exist_ok=True)
            shutil.copy2(osp.join(images_root, n), osp.join(link, n))
    elif osp.lexists(link):
        if not (osp.islink(link) and osp.realpath(link) == osp.realpath(images_root)):
            log(f'note: {link} exists and is not a link to {images_root}; left as it is')
    else:
        os.symlink(images_root, link)
    return summary


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--format', required=True, choices=('cvat', 'labelme', 'csv'))
    p.add_argument('inputs', nargs='+', metavar='INPUT')
    p.add_argument('--images-root', required=True)
    p.add_argument('--out', required=True, metavar='DATA_ROOT')
    p.add_argument('--split', type=float, nargs=3, metavar=('TRAIN', 'VAL', 'TEST'))
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--name', default='train', help='output name without --split')
    p.add_argument('--video-pattern', help='regex on the relative image path; '
                   'group "video" (or the first group) names the video')
    p.add_argument('--label', nargs='+', help='import only these labels')
    p.add_argument('--copy-images', action='store_true')
    args = p.parse_args(argv)
    from mmpose_carcinosis.datasets import AnnotationError
    try:
        import_clicks(args.format, args.inputs, args.images_root, args.out, args.split,
                      args.seed, args.name, args.video_pattern, args.label,
                      args.copy_images)
    except (ClickImportError, AnnotationError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())

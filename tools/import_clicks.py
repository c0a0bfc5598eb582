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

Review answers (the labels of :mod:`mmpose_carcinosis.datasets.review`,
exported by ``tools/propose.py``): ``carcinosis`` points are positives,
``not-carcinosis`` points confirmed negatives (``"negative": true``),
``proposal`` points left as they are unanswered (ignored, counted), and a
frame flagged ``reviewed`` is dense (``"dense": true``). With ``--update
ANN_FILE`` the answers replace the annotations of the frames they cover in
that file (an answered frame it does not hold is an error), written as
``DATA_ROOT/annotations/NAME.json`` (never over an existing file).
"""
import argparse
import csv
import json
import os
import os.path as osp
import re
import shutil
import sys
from collections import Counter

import numpy as np

from mmpose_carcinosis.utils import natural_key

CATEGORIES = [dict(id=1, name='carcinosis', supercategory='lesion',
                   keypoints=['carcinosis'], skeleton=[])]


from mmpose_carcinosis.datasets.review import (ReviewFormatError, new_frame, parse_number,
                                              read_cvat, read_labelme, split_answers)

#: malformed input; the message names the file and the record
ClickImportError = ReviewFormatError


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
            fr = frames.setdefault(name, dict(new_frame(None, None, f'{path}: {where}'),
                                              groups=[]))
            x, y = (row['x'] or '').strip(), (row['y'] or '').strip()
            if not x and not y:
                continue  # a frame without clicks
            fr['points'].append((parse_number(x, path, where, 'x'),
                                 parse_number(y, path, where, 'y'), 'carcinosis', None))
            fr['groups'].append((row.get('group') or '').strip() or None)
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


def frame_annotations(fr, img_id, first_id, skipped=None):
    """The COCO annotations of one frame record: its positives (with their
    groups, from a CSV) and its confirmed negatives (``"negative": true``),
    ids from ``first_id``."""
    pos, neg, _ = split_answers(fr, skipped)
    groups = fr.get('groups') or [None] * len(pos)
    anns = []
    for (x, y), group, negative in [(p, g, False) for p, g in zip(pos.tolist(), groups)] + \
            [(p, None, True) for p in neg.tolist()]:
        ann = dict(id=first_id + len(anns), image_id=img_id, category_id=1,
                   keypoints=[x, y, 2], num_keypoints=1, iscrowd=0)
        if group is not None:
            ann['group'] = group
        if negative:
            ann['negative'] = True
        anns.append(ann)
    return anns


def build(frames, names, video_ids, images_root, skipped=None):
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
            if fr.get('reviewed'):
                images[-1]['dense'] = True
            anns += frame_annotations(fr, img_id, len(anns) + 1, skipped)
    return dict(images=images, annotations=anns, categories=CATEGORIES)


def update_with_answers(base_file, frames, skipped=None):
    """``base_file``'s annotations with each answered frame's replaced by
    its answers (positives, confirmed negatives; ``dense`` if reviewed).
    Every other frame and record is kept as it is.

    Raises:
        ClickImportError: an answered frame that ``base_file`` does not
            hold, naming the answer's file and record.
    """
    with open(base_file, encoding='utf-8') as f:
        base = json.load(f)
    by_name = {img['file_name']: img for img in base['images']}
    for name, fr in frames.items():
        if name not in by_name:
            raise ClickImportError(f'{fr["source"]}: image {name!r} is not a frame of '
                                   f'{base_file}')
    answered = {by_name[n]['id']: fr for n, fr in frames.items()}
    anns = [a for a in base['annotations'] if a['image_id'] not in answered]
    next_id = max([a['id'] for a in base['annotations'] if isinstance(a['id'], int)],
                  default=0) + 1
    for img_id, fr in answered.items():
        new = frame_annotations(fr, img_id, next_id, skipped)
        next_id += len(new)
        anns += new
    images = []
    for img in base['images']:
        fr = answered.get(img['id'])
        if fr is not None and fr.get('reviewed'):
            img = dict(img, dense=True)
        images.append(img)
    order = {img['id']: i for i, img in enumerate(images)}
    anns.sort(key=lambda a: order[a['image_id']])  # stable: the base's order first
    return dict(base, images=images, annotations=anns)


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


def write_checked(data: dict, path: str) -> dict:
    """Check ``data`` with the dataset's own parser (errors name ``path``
    and the record), then write it there; returns it."""
    from mmpose_carcinosis.datasets import parse_carcinosis_annotations
    parse_carcinosis_annotations(data, path)
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(data, f)
    return data


def log_skipped(skipped: Counter, log) -> None:
    """One line with what was not imported, counted."""
    if skipped:
        log('skipped: ' + ', '.join(f'{k} {v}' for k, v in sorted(skipped.items())))


def import_clicks(fmt, inputs, images_root, out, split=None, seed=0, name='train',
                  video_pattern=None, labels=None, copy_images=False, log=print,
                  update=None):
    """Convert, write ``out/annotations/*.json``; return {file: (frames, points)}.
    With ``update`` (an annotation file): a reviewer's answers replace the
    annotations of the frames they cover (:func:`update_with_answers`),
    written as ``out/annotations/<name>.json``, never over an existing file."""
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
    if update is not None:
        path = osp.join(out, 'annotations', f'{name}.json')
        if osp.exists(path):
            raise ClickImportError(f'{path} exists: give another --name (answers are '
                                   'written beside the file they update, never over one)')
        data = write_checked(update_with_answers(update, frames, skipped), path)
        n_neg = sum(bool(a.get('negative')) for a in data['annotations'])
        n_dense = sum(bool(i.get('dense')) for i in data['images'])
        log(f'{path}: {len(frames)} answered frame(s) of {len(data["images"])}, '
            f'{len(data["annotations"]) - n_neg} points, {n_neg} confirmed negatives, '
            f'{n_dense} dense frame(s)')
        log_skipped(skipped, log)
        return {path: (len(data['images']), len(data['annotations']))}
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
    summary = {}
    for split_name, names in outputs.items():
        path = osp.join(out, 'annotations', f'{split_name}.json')
        data = write_checked(build(frames, names, video_ids, images_root, skipped), path)
        summary[path] = (len(data['images']), len(data['annotations']))
        n_vid = len({i['video_id'] for i in data['images']})
        log(f'{path}: {len(data["images"])} frames of {n_vid} video(s), '
            f'{len(data["annotations"])} points')
    log_skipped(skipped, log)
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
    p.add_argument('--update', metavar='ANN_FILE',
                   help="a reviewer's answers (tools/propose.py's export, edited) replace "
                   'the annotations of the frames they cover in this file; written as '
                   'DATA_ROOT/annotations/NAME.json')
    args = p.parse_args(argv)
    from mmpose_carcinosis.datasets import AnnotationError
    try:
        import_clicks(args.format, args.inputs, args.images_root, args.out, args.split,
                      args.seed, args.name, args.video_pattern, args.label,
                      args.copy_images, update=args.update)
    except (ClickImportError, AnnotationError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())

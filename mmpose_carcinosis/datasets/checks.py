"""Checks of a data set's files before any training: every problem at once,
each naming the annotation file and the record.

Cheap checks (run whenever a :class:`CarcinosisDataset` is built): missing
image files, a frame listed twice in one file. Full checks
(``tools/check_dataset.py``): also unreadable or truncated images, image
sizes that disagree with the record's width/height, byte-identical frames
under different names, points outside their frame, and, across splits, a
video id or an image file in more than one split (patient leakage).
"""
import hashlib
import os.path as osp
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

ERROR, WARNING = 'error', 'warning'


@dataclass
class Problem:
    """One problem of a data set.

    Args:
        kind (str): ``missing``, ``unreadable``, ``truncated``, ``size``,
            ``listed-twice``, ``duplicate``, ``outside``, ``video-leak``,
            ``frame-leak`` or ``schema``.
        file (str): The annotation file.
        where (str): The record, e.g. ``images[3] (id=4)``.
        message (str): What is wrong, naming the image file if any.
        severity (str): ``'error'`` or ``'warning'``.
        image_id: The image record's id, if the problem is about one frame.
    """
    kind: str
    file: str
    where: str
    message: str
    severity: str = ERROR
    image_id: object = None

    def __str__(self) -> str:
        return f'{self.severity}: {self.file}: {self.where}: {self.message}'


def _where(i: int, img: dict) -> str:
    return f'images[{i}] (id={img.get("id")!r})'


def cheap_image_problems(images: Sequence[dict], ann_file: str,
                         img_prefix: str) -> List[Problem]:
    """Missing image files and frames listed twice (the same file in two
    records); file system metadata only."""
    problems, seen = [], {}
    for i, img in enumerate(images):
        path = osp.join(img_prefix, img['file_name'])
        key = osp.normpath(path)
        if key in seen:
            problems.append(Problem(
                'listed-twice', ann_file, _where(i, img),
                f'{img["file_name"]} is already listed by {seen[key]}', image_id=img['id']))
        else:
            seen[key] = _where(i, img)
        if not osp.isfile(path):
            problems.append(Problem('missing', ann_file, _where(i, img),
                                    f'image file {path} does not exist', image_id=img['id']))
    return problems


def _complete(data: bytes, path: str) -> bool:
    """Whether an encoded image ends as its format requires (JPEG: an EOI
    marker near the end; PNG: the IEND chunk); other formats: True."""
    ext = osp.splitext(path)[1].lower()
    if ext in ('.jpg', '.jpeg'):
        return b'\xff\xd9' in data[-64:]
    if ext == '.png':
        return b'IEND' in data[-16:]
    return True


def _read(path: str) -> Tuple[Optional[str], Optional[Tuple[int, int]], Optional[str]]:
    """(problem kind or None, (width, height) or None, sha1 of the bytes)."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError:
        return 'missing', None, None
    digest = hashlib.sha1(data).hexdigest()
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    size = None if img is None else (img.shape[1], img.shape[0])
    if not _complete(data, path):  # decodable or not, part of it is lost
        return 'truncated', size, digest
    return ('unreadable' if img is None else None), size, digest


def full_image_problems(images: Sequence[dict], ann_file: str, img_prefix: str,
                        digests: Optional[Dict[str, str]] = None, workers: int = 4,
                        progress: bool = True) -> List[Problem]:
    """Decode every image (in threads): unreadable or truncated files, sizes
    that disagree with the record, and byte-identical frames under other
    names (``digests``, shared across files, maps a content hash to the
    first image path and record holding it)."""
    from mmengine.utils import ProgressBar
    digests = {} if digests is None else digests
    present = [(i, img) for i, img in enumerate(images)
               if osp.isfile(osp.join(img_prefix, img['file_name']))]
    problems = []
    bar = ProgressBar(len(present)) if progress and present else None
    with ThreadPoolExecutor(workers) as pool:
        results = pool.map(lambda item: _read(osp.join(img_prefix, item[1]['file_name'])),
                           present)
        for (i, img), (kind, size, digest) in zip(present, results):
            if bar:
                bar.update()
            path = osp.join(img_prefix, img['file_name'])
            where = _where(i, img)
            if kind == 'unreadable':
                problems.append(Problem(kind, ann_file, where,
                                        f'{path} cannot be decoded as an image',
                                        image_id=img['id']))
            elif kind == 'truncated':
                problems.append(Problem(kind, ann_file, where,
                                        f'{path} is truncated (no end-of-image marker)',
                                        image_id=img['id']))
            if size is not None and size != (img['width'], img['height']):
                problems.append(Problem(
                    'size', ann_file, where,
                    f'{path} is {size[0]}x{size[1]}, the record says '
                    f'{img["width"]}x{img["height"]}', image_id=img['id']))
            if digest is not None:
                # the same file listed twice is reported as listed-twice or
                # frame-leak; here: the same bytes under another name
                key = osp.normpath(osp.abspath(path))
                first = digests.setdefault(digest, (key, f'{ann_file}: {where}'))
                if first[0] != key:
                    problems.append(Problem('duplicate', ann_file, where,
                                            f'{path} has the same bytes as {first[0]} '
                                            f'({first[1]})', image_id=img['id']))
    if bar:
        print()
    return problems


def point_problems(raw: dict, ann_file: str) -> List[Problem]:
    """Labelled points outside their frame (the dataset drops them with a
    counted warning; listed here one by one)."""
    sizes = {img['id']: (img['width'], img['height']) for img in raw['images']}
    problems = []
    for j, ann in enumerate(raw['annotations']):
        x, y, v = ann['keypoints']
        w, h = sizes[ann['image_id']]
        if v > 0 and not (0 <= x <= w and 0 <= y <= h):
            problems.append(Problem(
                'outside', ann_file, f'annotations[{j}] (id={ann["id"]!r})',
                f'point ({x}, {y}) is outside its {w}x{h} frame (image_id '
                f'{ann["image_id"]!r})', WARNING, image_id=ann['image_id']))
    return problems


def split_problems(splits: Dict[str, Tuple[str, dict, str]]) -> List[Problem]:
    """Leakage across splits: a video id, or an image file, in more than one
    split. ``splits``: ``{split: (ann_file, raw, img_prefix)}``."""
    videos, files = defaultdict(dict), defaultdict(dict)
    for split, (ann_file, raw, prefix) in splits.items():
        for i, img in enumerate(raw['images']):
            if img.get('video_id') is not None:
                videos[img['video_id']].setdefault(split, (ann_file, i, img))
            key = osp.normpath(osp.abspath(osp.join(prefix, img['file_name'])))
            files[key].setdefault(split, (ann_file, i, img))
    problems = []
    for kind, index, what in (('video-leak', videos, 'video_id {key!r}'),
                              ('frame-leak', files, 'image file {key}')):
        for key, by_split in index.items():
            if len(by_split) < 2:
                continue
            names = sorted(by_split)
            for split in names[1:]:
                ann_file, i, img = by_split[split]
                other = by_split[names[0]]
                problems.append(Problem(
                    kind, ann_file, _where(i, img),
                    f'{what.format(key=key)} is in splits {" and ".join(names)} '
                    f'(also {other[0]}: {_where(other[1], other[2])})', image_id=img['id']))
    return problems

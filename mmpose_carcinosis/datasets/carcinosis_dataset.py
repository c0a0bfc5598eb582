"""Carcinosis frames with point annotations (COCO keypoints, one keypoint)."""
import json
import os.path as osp
from numbers import Number
from typing import List

import numpy as np
from mmengine.fileio import get_local_path
from mmengine.logging import MMLogger
from mmpose.datasets.datasets.base import BaseCocoStyleDataset
from mmpose.registry import DATASETS

from .checks import cheap_image_problems

METAINFO_FILE = osp.join(
    osp.dirname(osp.dirname(osp.abspath(__file__))), 'metainfo',
    'carcinosis.py')


class AnnotationError(ValueError):
    """A malformed annotation file; the message names the file and record."""


class DataCheckError(AnnotationError):
    """Frames whose image files are missing or listed twice; the message
    lists every one, with file and record."""


@DATASETS.register_module()
class CarcinosisDataset(BaseCocoStyleDataset):
    """Laparoscopy frames with carcinosis nodules annotated as points.

    Bottom-up: one sample per frame, every point an instance with a single
    keypoint. Frames with no point are kept (they teach the background on
    training frames and count as empty ground truth on test frames).

    Annotation file (COCO keypoints, one keypoint per annotation)::

        images:      [{id, file_name (relative to data_prefix.img), width,
                       height, video_id (optional), frame_id (optional),
                       dense (optional bool)}]
        annotations: [{id, image_id, category_id: 1, keypoints: [x, y, v],
                       num_keypoints: 1, group (optional str),
                       negative (optional bool)}]
        categories:  [{id: 1, name: "carcinosis",
                       keypoints: ["carcinosis"], skeleton: []}]

    ``v`` follows COCO: 0 not labelled (ignored), 1 or 2 labelled. Each
    sample holds ``keypoints`` (N, 1, 2) float32, ``keypoints_visible``
    (N, 1), ``id`` (N annotation ids), ``group`` (N strings or None: the
    annotation's optional ``group``, e.g. a salience tercile or an
    anatomical region; the metric reports recall per group; add ``'group'``
    to the pipeline's ``meta_keys`` to pass it on), ``img_id``,
    ``img_path``, ``width``, ``height``, ``video_id``, ``frame_id``.

    A reviewer's answers (docs/review.md) add ``negative: true``
    annotations, confirmed negatives (a rejected proposal: certainly not a
    nodule), which are not points of the frame but ``negative_keypoints``
    (R, 2) float32, and ``dense: true`` images (every nodule marked), as the
    sample's ``dense`` (default False).

    Malformed files raise :class:`AnnotationError` naming the file and the
    record. Points outside their frame are dropped with one counted warning.
    Before any training, the image files are checked (cheap checks of
    :mod:`.checks`: missing files, a frame listed twice); on problems the
    dataset refuses to build (:class:`DataCheckError`, every problem on its
    own line) unless ``skip_invalid=True``, which drops those frames with a
    counted warning and lists them in ``skipped_frames.jsonl`` beside the
    run's log. ``tools/check_dataset.py`` runs the full checks.

    Args:
        data_mode (str): Only ``'bottomup'`` is meaningful here.
        check_files (bool): Run the cheap file checks. Defaults to True.
        skip_invalid (bool): Skip frames that fail them instead of
            refusing. Defaults to False.
        **kwargs: see :class:`mmpose.datasets.BaseCocoStyleDataset`.
    """

    METAINFO: dict = dict(from_file=METAINFO_FILE)

    def __init__(self, *args, data_mode: str = 'bottomup',
                 check_files: bool = True, skip_invalid: bool = False, **kwargs):
        if data_mode != 'bottomup':
            raise ValueError(f'{type(self).__name__} supports only '
                             f'data_mode="bottomup", got {data_mode!r}')
        self.check_files = check_files
        self.skip_invalid = skip_invalid
        self.skipped: List[str] = []
        super().__init__(*args, data_mode=data_mode, **kwargs)

    def load_data_list(self) -> List[dict]:
        if not osp.isfile(self.ann_file) and '://' not in self.ann_file:
            raise FileNotFoundError(
                f'annotation file {self.ann_file} does not exist')
        with get_local_path(self.ann_file) as local_path:
            with open(local_path, encoding='utf-8') as f:
                try:
                    raw = json.load(f)
                except json.JSONDecodeError as e:
                    raise AnnotationError(
                        f'{self.ann_file}: not valid JSON ({e})') from None
        img_prefix = self.data_prefix.get('img', '')
        data_list = parse_carcinosis_annotations(raw, self.ann_file, img_prefix)
        if self.check_files:
            data_list = self._drop_invalid(data_list, cheap_image_problems(
                raw['images'], self.ann_file, img_prefix))
        return data_list

    def _drop_invalid(self, data_list: List[dict], problems) -> List[dict]:
        """Refuse (``DataCheckError``) or, with ``skip_invalid``, drop the
        frames with problems, warn with their count and list them in
        ``skipped_frames.jsonl`` beside the current log file."""
        if not problems:
            return data_list
        lines = '\n'.join(str(p) for p in problems)
        if not self.skip_invalid:
            raise DataCheckError(
                f'{len(problems)} problem(s) with the frames of {self.ann_file}:\n'
                f'{lines}\nFix them (tools/check_dataset.py CONFIG runs every '
                'check), or skip these frames with skip_invalid=True in the '
                'dataset config.')
        bad = {p.image_id for p in problems}
        self.skipped = [str(p) for p in problems]
        logger = MMLogger.get_current_instance()
        log_file = getattr(logger, 'log_file', None)
        where = ''
        if log_file:
            where = osp.join(osp.dirname(log_file), 'skipped_frames.jsonl')
            with open(where, 'a') as f:
                f.write(json.dumps(dict(ann_file=self.ann_file, problems=self.skipped)) + '\n')
            where = f'; listed in {where}'
        logger.warning(f'{self.ann_file}: skipped {len(bad)} frame(s) with '
                       f'{len(problems)} problem(s) (skip_invalid=True){where}:\n{lines}')
        return [d for d in data_list if d['img_id'] not in bad]


def _fail(ann_file, where, msg):
    raise AnnotationError(f'{ann_file}: {where}: {msg}')


def _require(record, keys, ann_file, where):
    if not isinstance(record, dict):
        _fail(ann_file, where, f'expected an object, got {type(record).__name__}')
    missing = [k for k in keys if k not in record]
    if missing:
        _fail(ann_file, where, f'missing key(s) {missing}')


def parse_carcinosis_annotations(raw: dict, ann_file: str,
                                 img_prefix: str = '') -> List[dict]:
    """Validate a loaded annotation file and group its points by frame.

    Args:
        raw (dict): The loaded JSON.
        ann_file (str): Its path, for error messages.
        img_prefix (str): Prepended to each ``file_name``.

    Returns:
        list[dict]: One data info per image, in file order.
    """
    _require(raw, ('images', 'annotations'), ann_file, 'top level')
    images, anns = raw['images'], raw['annotations']
    if not isinstance(images, list) or not isinstance(anns, list):
        _fail(ann_file, 'top level', '"images" and "annotations" must be lists')
    cat_ids = {c.get('id') for c in raw.get('categories', []) if isinstance(c, dict)}
    cat_ids = cat_ids or {1}

    img_index = {}
    for i, img in enumerate(images):
        where = f'images[{i}]'
        if isinstance(img, dict) and 'id' in img:
            where += f' (id={img["id"]!r})'
        _require(img, ('id', 'file_name', 'width', 'height'), ann_file, where)
        if img['id'] in img_index:
            _fail(ann_file, where, 'duplicate image id')
        for k in ('width', 'height'):
            if not isinstance(img[k], Number) or not img[k] > 0:
                _fail(ann_file, where, f'{k} must be a positive number, got {img[k]!r}')
        if not isinstance(img.get('dense', False), bool):
            _fail(ann_file, where, f'dense must be true or false, got {img["dense"]!r}')
        img_index[img['id']] = i

    # validate annotations; collect points into flat arrays
    n = len(anns)
    xyv = np.zeros((n, 3), dtype=np.float64)
    owner = np.zeros(n, dtype=np.int64)
    for j, ann in enumerate(anns):
        where = f'annotations[{j}]'
        if isinstance(ann, dict) and 'id' in ann:
            where += f' (id={ann["id"]!r})'
        _require(ann, ('id', 'image_id', 'keypoints'), ann_file, where)
        if ann['image_id'] not in img_index:
            _fail(ann_file, where, f'image_id {ann["image_id"]!r} is not in "images"')
        if ann.get('category_id', 1) not in cat_ids:
            _fail(ann_file, where, f'category_id {ann.get("category_id")!r} '
                  f'is not among the categories {sorted(cat_ids)}')
        kp = ann['keypoints']
        if (not isinstance(kp, (list, tuple)) or len(kp) != 3
                or not all(isinstance(v, Number) and not isinstance(v, bool)
                           for v in kp)
                or not np.isfinite(np.asarray(kp, dtype=np.float64)).all()):
            _fail(ann_file, where, 'keypoints must be [x, y, v] with finite '
                  f'numbers (one keypoint per annotation), got {kp!r}')
        if not isinstance(ann.get('negative', False), bool):
            _fail(ann_file, where, f'negative must be true or false, got {ann["negative"]!r}')
        if not isinstance(ann.get('group', ''), str):
            _fail(ann_file, where, 'group must be a string (e.g. "faint"), '
                  f'got {ann["group"]!r}')
        xyv[j] = kp
        owner[j] = img_index[ann['image_id']]

    sizes = np.array([[img['width'], img['height']] for img in images],
                     dtype=np.float64).reshape(-1, 2)
    labelled = xyv[:, 2] > 0
    wh = sizes[owner] if n else np.zeros((0, 2))
    outside = labelled & ((xyv[:, :2] < 0).any(1) | (xyv[:, :2] > wh).any(1))
    logger = MMLogger.get_current_instance()
    if outside.any():
        first = anns[int(np.flatnonzero(outside)[0])]['id']
        logger.warning(f'{ann_file}: dropped {int(outside.sum())} point(s) '
                       f'outside their frame (first: annotation id {first!r})')
    if (~labelled).any():
        logger.info(f'{ann_file}: ignored {int((~labelled).sum())} '
                    'annotation(s) with visibility 0')
    negative = np.array([bool(a.get('negative', False)) for a in anns], dtype=bool)
    keep = labelled & ~outside & ~negative
    splits = _by_frame(keep, owner, len(images))
    negative_splits = _by_frame(labelled & ~outside & negative, owner, len(images))
    ann_ids = np.array([a['id'] for a in anns], dtype=object)
    groups = np.array([a.get('group') for a in anns], dtype=object)

    data_list = []
    for i, (img, idx, neg) in enumerate(zip(images, splits, negative_splits)):
        data_list.append(
            dict(
                img_id=img['id'],
                img_path=osp.join(img_prefix, img['file_name']),
                width=img['width'],
                height=img['height'],
                video_id=img.get('video_id'),
                frame_id=img.get('frame_id'),
                keypoints=xyv[idx, None, :2].astype(np.float32),
                keypoints_visible=np.ones((len(idx), 1), dtype=np.float32),
                category_id=np.ones(len(idx), dtype=np.int64),
                id=list(ann_ids[idx]),
                group=list(groups[idx]),
                negative_keypoints=xyv[neg, :2].astype(np.float32).reshape(-1, 2),
                dense=bool(img.get('dense', False)),
            ))
    return data_list


def _by_frame(select: np.ndarray, owner: np.ndarray, num_images: int) -> list:
    """Per image, the indices of the selected annotations (file order)."""
    order = np.argsort(owner[select], kind='stable')
    idx = np.flatnonzero(select)[order]
    counts = np.bincount(owner[select], minlength=num_images)
    return np.split(idx, np.cumsum(counts)[:-1]) if num_images else []

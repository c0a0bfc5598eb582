"""The review convention, in one place: how proposals go to CVAT and LabelMe
and how a reviewer's answers come back (``tools/propose.py`` writes,
``tools/import_clicks.py`` reads, docs/review.md shows it).

Labels of point shapes:

- ``carcinosis`` (:data:`POSITIVE`): a nodule. The clicks are exported with
  it; a reviewer accepts a proposal by relabelling it so and adds a missed
  nodule as a new point of it.
- ``proposal`` (:data:`PROPOSAL`): the model's, with its score (CVAT: the
  ``score`` attribute; LabelMe: ``description`` ``score=0.8312``). One left
  as it is was not reviewed and is ignored on import (counted); deleting one
  leaves no answer either.
- ``not-carcinosis`` (:data:`REJECTED`): a rejected proposal (relabelled):
  a confirmed negative, a place that is certainly not a nodule.

A frame whose every nodule is now marked is flagged ``reviewed``
(:data:`REVIEWED`; CVAT: an image tag of that label; LabelMe: ``flags:
{"reviewed": true}``); it becomes a dense frame (``"dense": true`` on the
COCO image). Coordinates are written with Python's shortest round-trip
``repr``, so an export read back unchanged gives the same numbers.
"""
import json
import os.path as osp
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional

import numpy as np

POSITIVE = 'carcinosis'
PROPOSAL = 'proposal'
REJECTED = 'not-carcinosis'
REVIEWED = 'reviewed'
#: a point labelled both positive and rejected within this many pixels is
#: a contradiction
CONFLICT_RADIUS = 0.5


class ReviewFormatError(ValueError):
    """Malformed review input; the message names the file and the record."""


def parse_number(text, file, where, what) -> float:
    """``text`` as a finite float, or an error naming ``file`` and ``where``."""
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise ReviewFormatError(f'{file}: {where}: {what} {text!r} is not a number') from None
    if not np.isfinite(v):
        raise ReviewFormatError(f'{file}: {where}: {what} {text!r} is not finite')
    return v


def new_frame(width, height, source: str) -> dict:
    """A frame record: ``points`` [(x, y, label, score)], ``reviewed``."""
    return dict(width=width, height=height, points=[], reviewed=False, source=source)


# -- CVAT for images 1.1 ----------------------------------------------------

def write_cvat(frames: Dict[str, dict], path: str) -> None:
    """Frames (``{relative image path: frame record}``) as one CVAT for
    images 1.1 XML file, labels :data:`POSITIVE`, :data:`PROPOSAL` (with a
    ``score`` attribute), :data:`REJECTED` and the tag :data:`REVIEWED`."""
    root = ET.Element('annotations')
    ET.SubElement(root, 'version').text = '1.1'
    labels = ET.SubElement(ET.SubElement(ET.SubElement(root, 'meta'), 'task'), 'labels')
    for name, kind in ((POSITIVE, 'points'), (PROPOSAL, 'points'), (REJECTED, 'points'),
                       (REVIEWED, 'tag')):
        label = ET.SubElement(labels, 'label')
        ET.SubElement(label, 'name').text = name
        ET.SubElement(label, 'type').text = kind
        attributes = ET.SubElement(label, 'attributes')
        if name == PROPOSAL:
            attr = ET.SubElement(attributes, 'attribute')
            for key, value in (('name', 'score'), ('mutable', 'False'),
                               ('input_type', 'text'), ('default_value', ''),
                               ('values', '')):
                ET.SubElement(attr, key).text = value
    for i, (name, fr) in enumerate(frames.items()):
        img = ET.SubElement(root, 'image', id=str(i), name=name, width=str(int(fr['width'])),
                            height=str(int(fr['height'])))
        for x, y, label, score in fr['points']:
            pts = ET.SubElement(img, 'points', label=label, source='auto' if label == PROPOSAL
                                else 'manual', occluded='0', points=f'{x!r},{y!r}',
                                z_order='0')
            if score is not None:
                ET.SubElement(pts, 'attribute', name='score').text = repr(float(score))
        if fr.get('reviewed'):
            ET.SubElement(img, 'tag', label=REVIEWED, source='manual')
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding='utf-8', xml_declaration=True)


def read_cvat(path: str, labels=None, skipped=None) -> Dict[str, dict]:
    """``{image name: frame record}`` of a CVAT for images 1.1 XML file.
    ``labels``: import only these (the review labels always); other shapes
    are counted in ``skipped``."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise ReviewFormatError(f'{path}: not valid XML ({e})') from None
    frames = {}
    for i, img in enumerate(root.iter('image')):
        name = img.get('name')
        where = f'image[{i}] (name={name!r})'
        if not name:
            raise ReviewFormatError(f'{path}: {where}: no "name" attribute')
        fr = new_frame(parse_number(img.get('width'), path, where, 'width'),
                       parse_number(img.get('height'), path, where, 'height'), f'{path}: {where}')
        for child in img:
            label = child.get('label')
            if child.tag == 'tag' and label == REVIEWED:
                fr['reviewed'] = True
                continue
            if child.tag != 'points':
                _skip(skipped, child.tag)
                continue
            if not _wanted(label, labels, skipped):
                continue
            score = None
            for attr in child.iter('attribute'):
                if attr.get('name') == 'score' and (attr.text or '').strip():
                    score = parse_number(attr.text, path, where, 'score')
            text = child.get('points', '')
            for pair in filter(None, text.split(';')):
                xy = pair.split(',')
                if len(xy) != 2:
                    raise ReviewFormatError(f'{path}: {where}: points {text!r} is not '
                                            '"x1,y1;x2,y2;..."')
                fr['points'].append((parse_number(xy[0], path, where, 'x'),
                                     parse_number(xy[1], path, where, 'y'), label, score))
        frames[name] = fr
    return frames


# -- LabelMe ------------------------------------------------------------------

def write_labelme(frame: dict, json_path: str, image_path: str) -> None:
    """One frame as a LabelMe JSON file (``imagePath`` relative to it)."""
    shapes = [dict(label=label, points=[[x, y]], group_id=None, shape_type='point',
                   flags={}, description='' if score is None else f'score={score!r}')
              for x, y, label, score in frame['points']]
    data = dict(version='5.4.1', flags={REVIEWED: bool(frame.get('reviewed'))},
                shapes=shapes,
                imagePath=osp.relpath(image_path, osp.dirname(osp.abspath(json_path))),
                imageData=None, imageHeight=int(frame['height']),
                imageWidth=int(frame['width']))
    with open(json_path, 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=2)


def read_labelme(path: str, images_root: str, labels=None, skipped=None) -> Dict[str, dict]:
    """``{image name relative to images_root: frame record}`` of one
    LabelMe JSON file."""
    try:
        with open(path, encoding='utf-8') as f:
            d = json.load(f)
    except json.JSONDecodeError as e:
        raise ReviewFormatError(f'{path}: not valid JSON ({e})') from None
    for key in ('imagePath', 'shapes'):
        if key not in d:
            raise ReviewFormatError(f'{path}: top level: missing key {key!r}')
    # LabelMe stores imagePath relative to the JSON file
    image = osp.normpath(osp.join(osp.dirname(osp.abspath(path)), d['imagePath']))
    name = osp.relpath(image, osp.abspath(images_root))
    if name.startswith('..'):
        raise ReviewFormatError(f'{path}: imagePath {d["imagePath"]!r} ({image}) is outside '
                                f'the images root {images_root}')
    fr = new_frame(parse_number(d.get('imageWidth'), path, 'top level', 'imageWidth'),
                   parse_number(d.get('imageHeight'), path, 'top level', 'imageHeight'), path)
    fr['reviewed'] = bool((d.get('flags') or {}).get(REVIEWED, False))
    for j, shape in enumerate(d['shapes']):
        label = shape.get('label')
        where = f'shapes[{j}] (label={label!r})'
        if shape.get('shape_type', 'polygon') != 'point':
            _skip(skipped, shape.get('shape_type', 'polygon'))
            continue
        if not _wanted(label, labels, skipped):
            continue
        p = shape.get('points')
        if not isinstance(p, list) or len(p) != 1 or not isinstance(p[0], list) \
                or len(p[0]) != 2:
            raise ReviewFormatError(f'{path}: {where}: a point shape needs points [[x, y]], '
                                    f'got {p!r}')
        desc = (shape.get('description') or '').strip()
        score = parse_number(desc[len('score='):], path, where, 'score') \
            if desc.startswith('score=') else None
        fr['points'].append((parse_number(p[0][0], path, where, 'x'),
                             parse_number(p[0][1], path, where, 'y'), label, score))
    return {name: fr}


def _skip(skipped, what) -> None:
    if skipped is not None:
        skipped[what] += 1


def _wanted(label, labels, skipped) -> bool:
    """The review labels always; others if ``labels`` is empty or holds them."""
    if label in (PROPOSAL, REJECTED) or not labels or label in labels:
        return True
    _skip(skipped, f'label {label}')
    return False


# -- answers ------------------------------------------------------------------

def split_answers(frame: dict, skipped=None):
    """A frame record's answers: ``positives`` (K, 2) (every point not a
    proposal or a rejection), ``negatives`` (R, 2) (rejections), and the
    number of proposals left unanswered (counted in ``skipped`` as
    ``unreviewed proposal``).

    Raises:
        ReviewFormatError: a point both positive and rejected (within
            :data:`CONFLICT_RADIUS`), naming the frame's source.
    """
    pos = np.array([(x, y) for x, y, label, _ in frame['points']
                    if label not in (PROPOSAL, REJECTED)], np.float64).reshape(-1, 2)
    neg = np.array([(x, y) for x, y, label, _ in frame['points'] if label == REJECTED],
                   np.float64).reshape(-1, 2)
    open_ = sum(label == PROPOSAL for *_, label, _ in frame['points'])
    if skipped is not None and open_:
        skipped['unreviewed proposal'] += open_
    if len(pos) and len(neg):
        d = np.linalg.norm(pos[:, None] - neg[None], axis=-1)
        if (d <= CONFLICT_RADIUS).any():
            i, j = np.argwhere(d <= CONFLICT_RADIUS)[0]
            raise ReviewFormatError(
                f'{frame["source"]}: the point ({pos[i, 0]:g}, {pos[i, 1]:g}) is both '
                f'{POSITIVE!r} and {REJECTED!r} (accepted and rejected)')
    return pos, neg, open_


def proposals_frame(width, height, clicks: np.ndarray, points: np.ndarray,
                    scores: np.ndarray, source: str = '') -> dict:
    """A frame record for review: the clicks (K, 2) as :data:`POSITIVE`,
    the proposals (P, 2) with ``scores`` (P,) as :data:`PROPOSAL`."""
    fr = new_frame(width, height, source)
    fr['points'] = [(float(x), float(y), POSITIVE, None) for x, y in np.reshape(clicks, (-1, 2))]
    fr['points'] += [(float(x), float(y), PROPOSAL, float(s))
                     for (x, y), s in zip(np.reshape(points, (-1, 2)), np.reshape(scores, -1))]
    return fr


def review_value(scores: np.ndarray, thr: float, width: float = 0.2) -> float:
    """How much a frame's review is worth: proposals near the threshold are
    the ones a model is least sure of, each counts ``max(0, 1 - |s - thr| /
    width)`` (a proposal at the threshold 1, one ``width`` above it 0)."""
    s = np.asarray(scores, np.float64).reshape(-1)
    return float(np.clip(1 - np.abs(s - thr) / width, 0, None).sum())


def disagreement(points_a: np.ndarray, scores_a: np.ndarray, points_b: np.ndarray,
                 scores_b: np.ndarray, radius: float) -> float:
    """How much two predictions of one frame disagree (the frame and its
    mirror, or this round's model and the last one's): points matched one
    to one within ``radius`` count ``|s_a - s_b|``, unmatched points their
    own score (the other prediction has none there above its threshold).

    Args:
        points_a, points_b (np.ndarray): (M, 2) and (N, 2) frame pixels.
        scores_a, scores_b (np.ndarray): (M,) and (N,).
        radius (float): Frame pixels.
    """
    from mmpose_carcinosis.evaluation.functional import match_pairs
    a = np.asarray(scores_a, np.float64).reshape(-1)
    b = np.asarray(scores_b, np.float64).reshape(-1)
    ia, ib = match_pairs(np.reshape(points_a, (-1, 2)), np.reshape(points_b, (-1, 2)), radius)
    return float(np.abs(a[ia] - b[ib]).sum() + a.sum() - a[ia].sum() + b.sum() - b[ib].sum())


def rank_frames(values: Dict[str, float], budget: Optional[int] = None,
                groups: Optional[Dict[str, object]] = None) -> List[str]:
    """Frame names by decreasing review value (ties by name), the first
    ``budget`` of them. With ``groups`` (name -> video), videos take turns:
    every video's best frame comes before any video's second, each turn
    ordered by value (a budget covers as many videos as it can)."""
    turn = dict.fromkeys(values, 0)
    if groups is not None:
        seen = {}
        for n in sorted(values, key=lambda n: (-values[n], n)):
            turn[n] = seen[groups[n]] = seen.get(groups[n], -1) + 1
    order = sorted(values, key=lambda n: (turn[n], -values[n], n))
    return order if budget is None else order[:budget]

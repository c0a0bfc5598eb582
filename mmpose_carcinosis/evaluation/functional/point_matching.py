"""Point matching and precision-recall helpers of the point metric (as
MMPose keeps its metrics' arithmetic in ``evaluation/functional``)."""
from typing import Dict, List, Optional

import numpy as np
from scipy.optimize import linear_sum_assignment


def _assign(dist: np.ndarray, radius: float):
    """Maximum-cardinality one-to-one matching of pairs with distance <=
    radius, given the (M, N) distance matrix (ties broken by the smallest
    total distance): the matched (rows, cols)."""
    ok = dist <= radius
    if not ok.any():
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # invalid pairs cost more than any full set of valid ones, so the
    # assignment first maximises the number of valid pairs
    big = radius * (min(dist.shape) + 1) + 1.0
    rows, cols = linear_sum_assignment(np.where(ok, dist, big))
    valid = ok[rows, cols]
    return rows[valid], cols[valid]


def match_pairs(pred: np.ndarray, gt: np.ndarray, radius: float):
    """The pairs of :func:`match_points`: indices ``(pred_idx, gt_idx)``
    of the matched predicted (M, 2) and true (N, 2) points."""
    if len(pred) == 0 or len(gt) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return _assign(np.linalg.norm(pred[:, None, :] - gt[None, :, :], axis=-1), radius)


def match_points(pred: np.ndarray, gt: np.ndarray, radius: float) -> int:
    """Number of one-to-one matches between predicted and true points whose
    distance is at most ``radius``: a maximum-cardinality matching (ties
    broken by the smallest total distance), by the Hungarian algorithm.

    Args:
        pred (np.ndarray): (M, 2) points.
        gt (np.ndarray): (N, 2) points.
        radius (float): Matching radius, same unit as the points.

    Returns:
        int: number of matched pairs (true positives).
    """
    return prefix_matches(pred, gt, radius, [len(pred)])[len(pred)]


def prefix_matches(pred: np.ndarray, gt: np.ndarray, radius: float,
                   counts, gt_mask_at: Optional[int] = None):
    """Matches of the first ``c`` predictions (sorted by score) for every
    ``c`` in ``counts``, from one distance matrix and one assignment.

    The sets of predictions that can be matched together form a
    (transversal) matroid; its greedy basis in score order meets every
    prefix in as many predictions as that prefix's maximum matching has
    pairs. That basis is the prediction set of the maximum-weight matching
    under any weights that decrease with the rank, so one assignment with
    weights ``M - rank`` gives every prefix's count (instead of one
    assignment per distinct prefix).

    Args:
        pred (np.ndarray): (M, 2) predicted points, sorted by score.
        gt (np.ndarray): (N, 2) true points.
        radius (float): Matching radius.
        counts (Iterable[int]): Prefix lengths.
        gt_mask_at (int, optional): One of ``counts``; if given, also return
            which true points the first ``gt_mask_at`` predictions match (a
            maximum matching with the smallest total distance).

    Returns:
        dict: ``{c: number of matched pairs}``; with ``gt_mask_at`` also an
        (N,) bool array of the matched true points.
    """
    counts = sorted({int(c) for c in counts})
    out = dict.fromkeys(counts, 0)
    mask = np.zeros(len(gt), dtype=bool)
    if len(pred) and len(gt):
        dist = np.linalg.norm(pred[:, None, :] - gt[None, :, :], axis=-1)
        ok = dist <= radius
        if ok.any():
            weight = (len(pred) - np.arange(len(pred), dtype=np.float64))[:, None]
            rows, cols = linear_sum_assignment(np.where(ok, -weight, 0.0))
            basis = np.sort(rows[ok[rows, cols]])
            out = dict(zip(counts, np.searchsorted(basis, counts).tolist()))
            if gt_mask_at:
                mask[_assign(dist[:gt_mask_at], radius)[1]] = True
    return out if gt_mask_at is None else (out, mask)


def prf(tp, n_pred, n_gt):
    """Precision, recall, F1 (fractions) from counts; 0 where undefined,
    except precision and recall of 1 when there is nothing to find and
    nothing was predicted."""
    tp, n_pred, n_gt = (np.asarray(v, dtype=np.float64) for v in (tp, n_pred, n_gt))
    precision = np.where(n_pred > 0, tp / np.maximum(n_pred, 1), (n_gt == 0) * 1.0)
    recall = np.where(n_gt > 0, tp / np.maximum(n_gt, 1), (n_pred == 0) * 1.0)
    denom = precision + recall
    f1 = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
    return precision, recall, f1


PRECISION_SCANS = ('from_top', 'lowest')


def check_precision_scan(scan: str) -> str:
    """``scan`` if it is one of :data:`PRECISION_SCANS`, else a ValueError."""
    if scan not in PRECISION_SCANS:
        raise ValueError(f'precision scan must be one of {PRECISION_SCANS}, got {scan!r}')
    return scan


def threshold_at_precision(thresholds: np.ndarray, precision: np.ndarray,
                           num_pred: np.ndarray, target: float,
                           min_predictions: int = 10, scan: str = 'from_top') -> float:
    """A threshold whose kept predictions reach precision ``target``.

    Precision over score thresholds (of everything kept at or above each)
    is not monotone, and two rules answer differently where it is not:

    - ``scan='from_top'``: the threshold just before precision first falls
      below ``target``, scanning from the highest score down: the lowest t
      such that every threshold from the top down to t reaches the target.
      Conservative: an early dip stops it, and at a target close to a flat
      precision curve one false prediction among the first few dozen is
      such a dip.
    - ``scan='lowest'``: the lowest threshold that reaches the target: the
      largest set of predictions whose precision as a whole is at least
      ``target`` (a dip above it is averaged in, not a stop).

    Thresholds that keep fewer than ``min_predictions`` predictions are not
    counted (too few for a precision). With no threshold reaching the
    target, the highest threshold; 1.0 with no thresholds.

    Args:
        thresholds (np.ndarray): (T,) swept thresholds, decreasing.
        precision (np.ndarray): (T,) precision at each, fractions.
        num_pred (np.ndarray): (T,) predictions kept at each.
        target (float): Precision to keep.
        min_predictions (int): Defaults to 10.
        scan (str): ``'from_top'`` or ``'lowest'``. Defaults to
            ``'from_top'``.
    """
    check_precision_scan(scan)
    thresholds = np.asarray(thresholds, np.float64)
    if not len(thresholds):
        return 1.0
    counted = np.asarray(num_pred) >= min_predictions
    if scan == 'lowest':
        ok = np.nonzero((np.asarray(precision) >= target) & counted)[0]
        return float(thresholds[ok[-1]] if len(ok) else thresholds[0])
    below = (np.asarray(precision) < target) & counted
    if not below.any():
        return float(thresholds[-1])
    first = int(np.argmax(below))
    return float(thresholds[max(first - 1, 0)])


def band_threshold(thresholds: np.ndarray, tp: np.ndarray, num_pred: np.ndarray,
                   high: float, target: float, min_predictions: int = 10) -> float:
    """The lowest threshold ``t <= high`` whose band of predictions, those
    scoring in ``[t, high)``, is at least ``target`` precise as a whole.

    Stage two ignores the teacher's peaks between its pseudo-label
    threshold and a lower one (neither pushed down nor taught): the band
    should hold peaks that are nodules about as often as not. A band of
    background peaks, where the teacher's scores are all low and its noise
    floor is near the pseudo-label threshold, would leave much of the
    background without a loss.

    Args:
        thresholds (np.ndarray): (T,) swept thresholds, decreasing.
        tp (np.ndarray): (T,) true positives kept at each (score >= t).
        num_pred (np.ndarray): (T,) predictions kept at each.
        high (float): The band's top (the pseudo-label threshold).
        target (float): Precision the band must reach, a fraction.
        min_predictions (int): Bands of fewer predictions are not counted.
            Defaults to 10.

    Returns:
        float: ``t``; ``high`` (an empty band) when no band reaches the
        target.
    """
    thresholds = np.asarray(thresholds, np.float64)
    tp, num_pred = np.asarray(tp, np.float64), np.asarray(num_pred, np.float64)
    above = thresholds >= high
    last = np.nonzero(above)[0]
    tp_high, n_high = (tp[last[-1]], num_pred[last[-1]]) if len(last) else (0.0, 0.0)
    n_band = num_pred - n_high  # predictions in [t, high)
    ok = ~above & (n_band >= max(min_predictions, 1)) & (tp - tp_high >= target * n_band)
    idx = np.nonzero(ok)[0]
    return float(thresholds[idx[-1]]) if len(idx) else float(high)


def group_recall(results: List[dict], hit: List[np.ndarray]) -> Dict[str, float]:
    """Recall (percent) and number of true points per group.

    Args:
        results (list[dict]): Frames, each with ``groups`` (N,) object
            array (None: no group).
        hit (list[np.ndarray]): Per frame, (N,) bool: matched true points.

    Returns:
        dict: ``{'recall_<g>': ..., 'num_gt_<g>': ...}`` for every group.
    """
    groups = np.concatenate([r['groups'] for r in results] + [np.zeros(0, object)])
    hits = np.concatenate(hit + [np.zeros(0, bool)])
    named = groups != None  # noqa: E711 (element-wise)
    out = {}
    for g in sorted(set(groups[named])):
        sel = groups == g
        out[f'recall_{g}'] = 100.0 * hits[sel].mean()
        out[f'num_gt_{g}'] = int(sel.sum())
    return out


def average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """Area under the precision-recall curve with monotone (VOC all-point)
    interpolation.

    Args:
        precision, recall (np.ndarray): (T,) fractions at thresholds in
            decreasing order (so recall is non-decreasing).

    Returns:
        float: AP as a fraction.
    """
    if len(precision) == 0:
        return 0.0
    r = np.concatenate([[0.0], recall])
    p = np.concatenate([[precision[0]], precision])
    p = np.maximum.accumulate(p[::-1])[::-1]
    return float(np.sum((r[1:] - r[:-1]) * p[1:]))

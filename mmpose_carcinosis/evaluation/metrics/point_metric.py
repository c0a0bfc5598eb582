"""Point-localization metric: one-to-one matching within a radius."""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmpose.registry import METRICS

from ..functional import (average_precision, band_threshold, check_precision_scan,
                          group_recall, match_pairs, prefix_matches, prf,
                          threshold_at_precision)


@METRICS.register_module()
class PointLocalizationMetric(BaseMetric):
    """Precision, recall and F1 of predicted points against dense ground
    truth, after one-to-one (Hungarian) matching within a radius measured in
    original-image pixels; plus threshold-free figures.

    Reported (all in percent except thresholds and counts), with prefix
    ``point/``:

    - ``precision``, ``recall``, ``f1``: at ``radius`` and ``score_thr``;
    - ``precision@r``, ``recall@r``, ``f1@r``, ``ap@r`` for every r in
      ``radii``;
    - ``ap``: average precision at ``radius`` over score thresholds (every
      predicted score is a threshold; precision is made monotone, as in
      VOC), so results do not hinge on one threshold;
    - ``best_f1``, ``best_thr``: the best F1 over score thresholds at
      ``radius`` and the threshold achieving it (choose t on validation);
    - ``thr@p<q>`` for every q in ``precision_targets`` (e.g.
      ``thr@p0.9``): a threshold whose predictions reach precision q at
      ``radius`` (:func:`threshold_at_precision` with ``precision_scan``:
      by default just before precision first falls below q, scanning from
      the highest score down): an operating point of known
      precision, e.g. stage two's pseudo-label threshold
      (:class:`PseudoThresholdHook`), and ``max_count@p<q>``: the most
      predictions any one frame keeps at that threshold; with
      ``band_precision``, ``band_thr@p<q>`` too: the lowest threshold
      whose predictions between it and ``thr@p<q>`` are at least
      ``band_precision`` precise (:func:`band_threshold`; stage two's
      ignored band);
    - ``count_error``: mean absolute difference between the number of
      predicted and true points per frame (at ``score_thr``);
    - ``recall_<group>`` (and ``num_gt_<group>``) for every value of the
      true points' ``group`` (a per-frame list in the data sample, one
      entry per true point, e.g. salience terciles ``faint``, ``medium``,
      ``obvious``, or anatomical regions), at ``radius`` and
      ``score_thr``; only when the annotations carry groups;
    - ``num_gt``, ``num_pred``: totals.

    Counts are pooled over all frames (micro-average). Each process keeps
    its frames' points; MMEngine gathers them before ``compute_metrics``,
    so the result does not depend on the number of processes.

    Args:
        radii (Sequence[float]): Matching radii in original-image pixels.
            Defaults to (10, 20, 40).
        radius (float): Radius of the headline keys; must be in ``radii``.
            Defaults to 20.
        score_thr (float, optional): Predictions scoring below it are
            dropped for the headline figures; ``None`` keeps all predictions
            the model returned (the head already applies its threshold).
        max_thresholds (int): At most this many score thresholds are swept
            for ``ap``/``best_f1`` (quantiles of all scores). Defaults to 200.
        curve_file (str, optional): If given, the precision-recall curve
            of every radius is written there as JSON
            (``{radius: {thresholds, precision, recall}}``, fractions).
        precision_targets (Sequence[float]): Precisions (fractions) whose
            threshold is reported. Defaults to ().
        precision_scan (str): How that threshold is found: ``'from_top'``
            or ``'lowest'`` (:func:`threshold_at_precision`). Defaults to
            ``'from_top'``.
        exclude_top (int): Per frame, leave out the ``exclude_top``
            highest-scoring predictions and the true points they match
            within ``radius`` (stage two's calibration: they stand in for
            the clicked nodules, whose peaks never become pseudo labels).
            Defaults to 0.
        band_precision (float, optional): Precision (a fraction) of the
            band below each ``thr@p<q>`` whose lower end is reported as
            ``band_thr@p<q>``. Defaults to None (not reported).
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Defaults to ``'point'``.
    """

    default_prefix: Optional[str] = 'point'

    def __init__(self,
                 radii: Sequence[float] = (10., 20., 40.),
                 radius: float = 20.,
                 score_thr: Optional[float] = None,
                 max_thresholds: int = 200,
                 curve_file: Optional[str] = None,
                 precision_targets: Sequence[float] = (),
                 precision_scan: str = 'from_top',
                 exclude_top: int = 0,
                 band_precision: Optional[float] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.radii = tuple(float(r) for r in radii)
        if float(radius) not in self.radii:
            raise ValueError(f'radius {radius} must be one of radii {self.radii}')
        self.radius = float(radius)
        self.score_thr = score_thr
        self.max_thresholds = max_thresholds
        self.curve_file = curve_file
        self.precision_targets = tuple(float(q) for q in precision_targets)
        bad = [q for q in self.precision_targets if not 0 < q <= 1]
        if bad:
            raise ValueError(f'precision_targets must be fractions in (0, 1], got {bad}')
        self.precision_scan = check_precision_scan(precision_scan)
        if exclude_top < 0:
            raise ValueError(f'exclude_top must be >= 0, got {exclude_top}')
        self.exclude_top = int(exclude_top)
        if band_precision is not None and not 0 < band_precision <= 1:
            raise ValueError(f'band_precision must be a fraction in (0, 1], got {band_precision}')
        self.band_precision = band_precision

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep each frame's predicted points (sorted by score), its
        visible true points in original-image pixels, and their groups
        (``ds['group']``, if present)."""
        for ds in data_samples:
            pred = ds['pred_instances']
            kpts = np.asarray(pred['keypoints'], dtype=np.float64).reshape(-1, 2)
            scores = np.asarray(pred['keypoint_scores'], dtype=np.float64).reshape(-1)
            order = np.argsort(-scores, kind='stable')
            gt = ds.get('gt_instances', {})
            gt_kpts = np.asarray(gt.get('keypoints', np.zeros((0, 1, 2))),
                                 dtype=np.float64).reshape(-1, 2)
            groups = ds.get('group')
            groups = (np.full(len(gt_kpts), None, dtype=object) if groups is None
                      else np.asarray(list(groups), dtype=object))
            if len(groups) != len(gt_kpts):
                raise ValueError(
                    f'frame {ds.get("img_path", ds.get("img_id"))}: {len(groups)} '
                    f'groups for {len(gt_kpts)} true points')
            vis = gt.get('keypoints_visible', None)
            if vis is not None:
                visible = np.asarray(vis).reshape(-1) > 0
                gt_kpts, groups = gt_kpts[visible], groups[visible]
            kpts, scores = kpts[order], scores[order]
            if self.exclude_top:
                top = self.exclude_top
                matched_gt = match_pairs(kpts[:top], gt_kpts, self.radius)[1]
                keep = np.ones(len(gt_kpts), bool)
                keep[matched_gt] = False
                kpts, scores = kpts[top:], scores[top:]
                gt_kpts, groups = gt_kpts[keep], groups[keep]
            self.results.append(
                dict(img_id=ds.get('img_id'), pred=kpts,
                     scores=scores, gt=gt_kpts, groups=groups))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        logger = MMLogger.get_current_instance()
        n_gt = np.array([len(r['gt']) for r in results])
        all_scores = np.concatenate([r['scores'] for r in results] + [np.zeros(0)])
        thrs = np.unique(all_scores)[::-1]  # descending
        if len(thrs) > self.max_thresholds:
            thrs = np.unique(np.quantile(all_scores, np.linspace(
                1, 0, self.max_thresholds)))[::-1]
        head_thr = -np.inf if self.score_thr is None else self.score_thr
        # predictions kept at each threshold, per frame: (F, T) (scores sorted)
        keep_at = np.stack([
            np.searchsorted(-r['scores'], -thrs, side='right') for r in results
        ]) if len(thrs) else np.zeros((len(results), 0), dtype=int)
        n_head = np.array([(r['scores'] >= head_thr).sum() for r in results])

        metrics, curves = {}, {}
        for radius in self.radii:
            # matches at each threshold and at the headline threshold
            tp = np.zeros((len(results), len(thrs)))
            tp_head = np.zeros(len(results))
            hit = []  # per frame, which true points the headline matches
            for f, r in enumerate(results):
                # the kept predictions are always a prefix of the sorted ones
                m, mask = prefix_matches(r['pred'], r['gt'], radius,
                                         [*keep_at[f], n_head[f]],
                                         gt_mask_at=n_head[f])
                tp[f] = [m[c] for c in keep_at[f]]
                tp_head[f] = m[n_head[f]]
                hit.append(mask)
            p, rc, f1 = prf(tp_head.sum(), n_head.sum(), n_gt.sum())
            tag = f'@{radius:g}'
            metrics.update({f'precision{tag}': 100 * p, f'recall{tag}': 100 * rc,
                            f'f1{tag}': 100 * f1})
            ps, rs, f1s = prf(tp.sum(0), keep_at.sum(0), n_gt.sum())
            metrics[f'ap{tag}'] = 100 * average_precision(ps, rs)
            curves[f'{radius:g}'] = dict(thresholds=thrs.tolist(),
                                         precision=ps.tolist(),
                                         recall=rs.tolist())
            if radius == self.radius:
                metrics.update(precision=100 * p, recall=100 * rc, f1=100 * f1,
                               ap=metrics[f'ap{tag}'])
                best = int(np.argmax(f1s)) if len(f1s) else None
                metrics['best_f1'] = 100 * f1s[best] if best is not None else 0.0
                metrics['best_thr'] = float(thrs[best]) if best is not None else 0.0
                for q in self.precision_targets:
                    thr = threshold_at_precision(thrs, ps, keep_at.sum(0), q,
                                                 scan=self.precision_scan)
                    metrics[f'thr@p{q:g}'] = thr
                    at = np.nonzero(thrs >= thr)[0]
                    metrics[f'max_count@p{q:g}'] = (
                        int(keep_at[:, at[-1]].max()) if len(at) and len(results) else 0)
                    if self.band_precision is not None:
                        metrics[f'band_thr@p{q:g}'] = band_threshold(
                            thrs, tp.sum(0), keep_at.sum(0), thr, self.band_precision)
                metrics.update(group_recall(results, hit))
        metrics['count_error'] = float(np.abs(n_head - n_gt).mean()) if len(results) else 0.0
        metrics['num_gt'] = int(n_gt.sum())
        metrics['num_pred'] = int(n_head.sum())
        metrics = {k: float(v) for k, v in metrics.items()}
        if self.curve_file:
            os.makedirs(osp.dirname(osp.abspath(self.curve_file)), exist_ok=True)
            with open(self.curve_file, 'w') as f:
                json.dump(curves, f)
        logger.info(f'point metrics on {len(results)} frames: ' + ', '.join(
            f'{k}={v:.2f}' for k, v in metrics.items()))
        return metrics

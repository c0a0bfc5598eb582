"""Stage two's pseudo-label thresholds, calibrated with the teacher that
makes the pseudo labels: on the dense validation split (a precision) or on
the training frames (a count)."""
import copy
import math
from typing import Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import Hook
from mmpose.registry import HOOKS

from mmpose_carcinosis.evaluation.functional import check_precision_scan
from mmpose_carcinosis.models.utils.pseudo_labels import (select_pseudo_labels,
                                                         threshold_for_count)

from .utils import teacher_predictions, training_frames, unwrap_model


def validation_doubts(truth_per_frame: float, clicks_per_frame: float,
                      max_kept: int, precision: float) -> list:
    """Why a precision calibration on the validation split may mislead:
    messages for validation frames that hold no more true points than the
    training frames hold clicks (clicks, not dense truth: every unclicked
    nodule the teacher finds counts as false) and for a teacher that keeps
    no prediction at the target ``precision`` (no pseudo labels)."""
    doubts = []
    if truth_per_frame <= 1.5 * clicks_per_frame:
        doubts.append(
            f'validation frames hold {truth_per_frame:.1f} true points per frame against '
            f'{clicks_per_frame:.1f} clicks per training frame: if they are clicks, not dense '
            'truth, every unclicked nodule the teacher finds counts as false and the threshold '
            "comes out too high; annotate validation densely or use rule='count'")
    if max_kept == 0:
        doubts.append(
            f'the teacher keeps no validation prediction at precision {precision:g} (beyond '
            'the top ones left out): stage two gets no pseudo labels and is the control; '
            'check the teacher checkpoint, or lower `precision`')
    return doubts


@HOOKS.register_module()
class PseudoThresholdHook(Hook):
    """Set a :class:`PointSelfTraining` model's ``high_thr`` from its
    teacher's predictions (``rule='precision'``: where the teacher's
    precision on the dense validation split falls below ``precision``;
    ``rule='count'``: where it gives ``per_frame`` pseudo labels per
    training frame), ``low_thr`` to ``low_ratio`` times it (or, with
    ``band_precision``, where the band of validation predictions below
    ``high_thr`` stops being ``band_precision`` precise), and with
    ``frame_cap`` its ``max_pseudo_per_frame``.

    Runs before the first training epoch and again at the start of any
    epoch whose teacher has been replaced since: when the model's
    ``calibrated_version`` buffer differs from its ``teacher_version``
    (counted by :class:`TeacherRefreshHook`). The hook only decides when;
    the model predicts (``model.predict_teacher``: the teacher's own flip
    test of ``teacher_flip``, decoded down to ``score_floor``) and MMEngine's
    evaluator scores. On validation the
    validation evaluator's :class:`PointLocalizationMetric` (its radius)
    reports ``thr@p<precision>``: with ``precision_scan='from_top'``,
    scanning down from the top score, the last threshold before precision
    falls below the target; with ``'lowest'``, the lowest threshold whose
    predictions as a whole reach it (the most pseudo labels at the target
    precision; an early dip of the curve does not stop it).

    Pseudo labels are the teacher's peaks away from the clicks, and the
    clicks are the most obvious nodules, which the teacher finds best: the
    precision that matters is that of the rest. So each validation frame's
    ``exclude_top`` highest-scoring predictions, and the true points they
    match, are left out of the precision (``'clicks'``: the mean number of
    clicks per training frame, rounded). Over all predictions the
    threshold comes out lower and the pseudo labels' precision on the
    training frames falls short of the target (docs/stage_two.md).

    The validation split is small (16 frames in the demo) and a rare frame
    type it does not hold, e.g. a training frame where the teacher finds a
    cluster of confident peaks on an artefact, can make most of the false
    pseudo labels. With ``frame_cap``, ``model.max_pseudo_per_frame`` is
    set to ``frame_cap`` times the most predictions any validation frame
    keeps at ``high_thr`` (top ones left out, at least 1): a training frame
    with more pseudo peaks has them ignored instead (docs/stage_two.md).

    The teacher's peaks in ``[low_thr, high_thr)`` are ignored in the
    student's loss. A fixed ratio fails where the teacher's scores are low:
    with ``high_thr`` near the teacher's background peaks (0.02 for a
    Crag and Tail teacher on real nuclei, whose background peaks score 0.01
    to 0.02), a third of it ignores hundreds of background peaks per frame
    and the student's background, without a loss there, drifts up. With
    ``band_precision`` (e.g. 0.5) ``low_thr`` is calibrated with
    ``high_thr``: the lowest threshold whose validation predictions in
    ``[low_thr, high_thr)`` are at least ``band_precision`` precise
    (:func:`~mmpose_carcinosis.evaluation.band_threshold`; ``high_thr``
    itself, no band, when none is), so the band holds peaks that are
    nodules at least as often as not (docs/stage_two.md).

    A refreshed teacher (:class:`TeacherRefreshHook`) was trained on the
    training frames' pseudo labels and is more liberal there than on the
    validation frames it is calibrated on: on HeLa nuclei the first
    teacher's pseudo labels were 95 to 96% precise on the training frames
    at a validation target of 0.9, a refreshed teacher's 82 to 87%. With
    ``refresh_precision`` (e.g. 0.95) every teacher after the first is
    calibrated for that target instead of ``precision``.

    The precision rule needs densely annotated validation frames: it warns
    (:func:`validation_doubts`) when they hold no more points than the
    training frames hold clicks, or when the teacher keeps no prediction at
    the target precision.

    Without a dense validation split, ``rule='count'`` sets ``high_thr`` so
    that the teacher's peaks on the training frames (validation pipeline, no
    augmentation) farther than the model's ``click_radius`` from every click
    number
    ``per_frame`` per frame on average: the score of the
    ``round(per_frame * frames)``-th highest such peak (``score_floor`` if
    there are fewer). ``per_frame`` is a prior: how many unclicked nodules
    per frame the teacher should teach (e.g. from a few densely annotated
    frames), or ``'clicks'``: as many as the annotators clicked (the mean
    number of clicks per training frame). With ``frame_cap`` the limit is
    ``frame_cap * per_frame``.

    The thresholds are logged and set in the model's buffers
    (``high_thr``, ``low_thr``, ``max_pseudo_per_frame``, one entry per
    teacher), which checkpoints carry: a resumed run does not recalibrate.

    Args:
        rule (str): ``'precision'`` or ``'count'``. Defaults to
            ``'precision'``.
        precision (float): Target validation precision. Defaults to 0.9.
        precision_scan (str): ``'from_top'`` or ``'lowest'``
            (:func:`~mmpose_carcinosis.evaluation.threshold_at_precision`).
            Defaults to ``'from_top'``.
        low_ratio (float): ``low_thr / high_thr`` (the ignored band; 1.0
            disables it). Defaults to 1/3.
        band_precision (float, optional): Calibrate ``low_thr`` instead:
            the band's validation precision (``rule='precision'`` only).
            Defaults to None (``low_ratio``).
        refresh_precision (float, optional): Target validation precision of
            the teachers after the first (``model.teacher_version`` > 0;
            ``rule='precision'`` only). Defaults to None (``precision``).
        score_floor (float): Decoding threshold of the teacher during
            calibration; thresholds below it cannot be chosen. Defaults to
            0.02.
        exclude_top (int | str): Predictions per validation frame left out
            (an int, or ``'clicks'``). Defaults to ``'clicks'``.
        frame_cap (float, optional): Factor of the per-frame limit of pseudo
            peaks (``None``: no limit). Defaults to None.
        per_frame (float | str, optional): Pseudo labels per training frame of
            ``rule='count'``.
    """

    priority = 'NORMAL'

    def __init__(self, rule: str = 'precision', precision: float = 0.9,
                 precision_scan: str = 'from_top', low_ratio: float = 1 / 3,
                 score_floor: float = 0.02, exclude_top='clicks',
                 frame_cap: Optional[float] = None, per_frame=None,
                 band_precision: Optional[float] = None,
                 refresh_precision: Optional[float] = None):
        if rule not in ('precision', 'count'):
            raise ValueError(f"rule must be 'precision' or 'count', got {rule!r}")
        if rule == 'count' and not (per_frame == 'clicks' or (
                isinstance(per_frame, (int, float)) and per_frame > 0)):
            raise ValueError(f"rule='count' needs per_frame > 0 or 'clicks', got {per_frame!r}")
        self.rule = rule
        self.per_frame = per_frame if per_frame in (None, 'clicks') else float(per_frame)
        if not 0 < precision <= 1:
            raise ValueError(f'precision must be in (0, 1], got {precision}')
        if not 0 <= low_ratio <= 1:
            raise ValueError(f'low_ratio must be in [0, 1], got {low_ratio}')
        self.precision = float(precision)
        self.precision_scan = check_precision_scan(precision_scan)
        self.low_ratio = float(low_ratio)
        for name, value in (('band_precision', band_precision),
                            ('refresh_precision', refresh_precision)):
            if value is not None and not 0 < value <= 1:
                raise ValueError(f'{name} must be in (0, 1], got {value}')
            if value is not None and rule != 'precision':
                raise ValueError(f'{name} is a precision on the dense validation split: '
                                 f"it needs rule='precision' (set {name}=None for "
                                 "rule='count')")
        self.band_precision = band_precision
        self.refresh_precision = refresh_precision
        self.score_floor = float(score_floor)
        if exclude_top != 'clicks' and not (isinstance(exclude_top, int) and exclude_top >= 0):
            raise ValueError(f"exclude_top must be an int >= 0 or 'clicks', got {exclude_top!r}")
        self.exclude_top = exclude_top
        if frame_cap is not None and not frame_cap > 0:
            raise ValueError(f'frame_cap must be > 0 or None, got {frame_cap}')
        self.frame_cap = frame_cap

    def before_train_epoch(self, runner) -> None:
        model = unwrap_model(runner)
        if int(model.calibrated_version) != int(model.teacher_version):
            self.calibrate(runner)
            model.calibrated_version.fill_(int(model.teacher_version))

    @staticmethod
    def points_per_frame(dataset) -> float:
        """Mean number of annotated points per frame of ``dataset``."""
        counts = [len(np.asarray(dataset.get_data_info(i)['keypoints']).reshape(-1, 2))
                  for i in range(len(dataset))]
        return float(np.mean(counts)) if counts else 0.0

    def clicks_per_frame(self, runner) -> float:
        """Mean number of clicks per training frame."""
        return self.points_per_frame(runner.train_dataloader.dataset)

    def truth_per_frame(self, runner) -> float:
        """Mean number of true points per validation frame."""
        return self.points_per_frame(runner.val_dataloader.dataset)

    @staticmethod
    def point_metric(runner) -> dict:
        """The validation evaluator's ``PointLocalizationMetric`` config."""
        cfg = copy.deepcopy(runner.cfg.val_evaluator)
        metrics_cfg = cfg if isinstance(cfg, (list, tuple)) else [cfg]
        point = [m for m in metrics_cfg if m.get('type') in (
            None, 'PointLocalizationMetric', 'mmpose_carcinosis.PointLocalizationMetric')]
        if not point:
            raise ValueError('PseudoThresholdHook needs a PointLocalizationMetric in '
                             'val_evaluator')
        return point[0]

    @torch.no_grad()
    def calibrate(self, runner) -> None:
        """Run each teacher (the second one with cross distillation) and set
        its pair's thresholds (every rank runs its share of the frames)."""
        model = unwrap_model(runner)
        clicks = self.clicks_per_frame(runner)
        truth = self.truth_per_frame(runner) if self.rule == 'precision' else None
        doubts = {}  # once per calibration, however many teachers share a doubt
        for pair, suffix in enumerate(model.pair_suffixes):
            if self.rule == 'count':
                high, low, most, report = self.by_count(runner, model, pair, clicks)
            else:
                high, low, most, report = self.by_precision(runner, model, pair, clicks)
                doubts.update(dict.fromkeys(validation_doubts(
                    truth, clicks, most, self.target_precision(model))))
            if low is None:  # the band below high_thr is not calibrated: a ratio
                low = high * self.low_ratio
            cap = None
            if self.frame_cap is not None:
                cap = int(math.floor(self.frame_cap * max(most, 1)))
            model.set_thresholds(pair, high, low, cap)
            runner.logger.info(
                f'pseudo-label thresholds{suffix}: high_thr {high:.4f}, low_thr '
                f'{low:.4f}, max_pseudo_per_frame {cap} (teacher{suffix} '
                f'version {int(model.teacher_version)} {report})')
            runner.message_hub.update_scalar(f'train/pseudo{suffix}/high_thr', high)
            runner.message_hub.update_scalar(f'train/pseudo{suffix}/low_thr', low)
        for doubt in doubts:
            runner.logger.warning(f'PseudoThresholdHook: {doubt}')

    def target_precision(self, model) -> float:
        """The validation precision the model's current teacher is
        calibrated for: ``refresh_precision`` once it has been refreshed."""
        if self.refresh_precision is not None and int(model.teacher_version) > 0:
            return float(self.refresh_precision)
        return self.precision

    def by_precision(self, runner, model, pair: int, mean_clicks: float):
        """Teacher ``pair``'s ``high_thr`` at ``precision`` on the validation
        split, its calibrated ``low_thr`` (None without ``band_precision``),
        the most predictions a validation frame keeps at ``high_thr``, and a
        report (``mean_clicks``: per training frame)."""
        top = int(round(mean_clicks)) if self.exclude_top == 'clicks' else self.exclude_top
        q = self.target_precision(model)
        metric = dict(self.point_metric(runner), type='PointLocalizationMetric',
                      curve_file=None, precision_targets=[q],
                      precision_scan=self.precision_scan, exclude_top=top,
                      band_precision=self.band_precision, prefix='teacher')
        evaluator = runner.build_evaluator(metric)
        loader = runner.val_dataloader  # the val loop's, built on first use
        evaluator.dataset_meta = getattr(loader.dataset, 'metainfo', None)
        for data_batch in loader:
            data = model.data_preprocessor(data_batch, False)
            outputs = model.predict_teacher(data['inputs'], data['data_samples'], pair,
                                            self.score_floor)
            evaluator.process(data_samples=outputs, data_batch=data_batch)
        metrics = evaluator.evaluate(len(loader.dataset))
        report = (f'on validation ({len(loader.dataset)} frames, top {top} per frame left '
                  f'out), precision >= {q:g} (scan {self.precision_scan}); '
                  f'teacher AP '
                  f'{metrics.get("teacher/ap", float("nan")):.1f}, best F1 '
                  f'{metrics.get("teacher/best_f1", float("nan")):.1f}')
        low = None
        if self.band_precision is not None:
            low = float(metrics[f'teacher/band_thr@p{q:g}'])
            report += f', band at least {self.band_precision:g} precise'
        return (float(metrics[f'teacher/thr@p{q:g}']), low,
                int(metrics[f'teacher/max_count@p{q:g}']), report)

    def by_count(self, runner, model, pair: int, mean_clicks: float):
        """Teacher ``pair``'s ``high_thr`` giving ``per_frame`` pseudo labels per
        training frame (``mean_clicks`` with ``per_frame='clicks'``), None
        (no calibrated ``low_thr``), ``per_frame`` (the cap's base) and a
        report."""
        frames = training_frames(runner)
        rank, world = get_dist_info()
        scores = [np.zeros(0)]
        for sample in teacher_predictions(model, frames, range(rank, len(frames), world),
                                          pair=pair, score_floor=self.score_floor):
            pts = np.asarray(sample.pred_instances.keypoints).reshape(-1, 2)
            clicks = np.asarray(sample.gt_instances.keypoints).reshape(-1, 2)
            score = np.asarray(sample.pred_instances.keypoint_scores).reshape(-1)
            far, _ = select_pseudo_labels(pts, score, clicks, -np.inf, model.click_radius)
            scores.append(score[far])
        per_frame = mean_clicks if self.per_frame == 'clicks' else self.per_frame
        high = threshold_for_count(np.concatenate(all_gather_object(np.concatenate(scores))),
                                   per_frame * len(frames), self.score_floor)
        return high, None, per_frame, (f'on the training frames ({len(frames)} frames), '
                                       f'{per_frame:g} pseudo labels per frame')

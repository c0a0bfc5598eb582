"""Stage two's pseudo-label thresholds, calibrated on the dense validation
split with the teacher that makes the pseudo labels."""
import copy
import math
from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmpose.registry import HOOKS

from .utils import unwrap_model


@HOOKS.register_module()
class PseudoThresholdHook(Hook):
    """Set a :class:`PointSelfTraining` model's ``high_thr`` to the lowest
    teacher score at which precision on the validation split reaches
    ``precision``, and ``low_thr`` to ``low_ratio`` times it.

    Runs before the first training epoch and again at the start of any
    epoch whose teacher has been replaced since (``model.teacher_version``,
    counted by :class:`TeacherRefreshHook`). The teacher predicts on the
    validation dataloader with its own ``test_cfg`` (so the flip test of
    ``teacher_flip`` too) and a decoding floor of ``score_floor``; the
    validation evaluator's :class:`PointLocalizationMetric` (its radius)
    reports ``thr@p<precision>`` (scanning down from the top score, the
    last threshold before precision falls below the target).

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

    The thresholds are logged, stored in every checkpoint's
    ``meta['pseudo_thr']`` and restored on resume, so a resumed run does
    not recalibrate.

    Args:
        precision (float): Target validation precision. Defaults to 0.9.
        low_ratio (float): ``low_thr / high_thr`` (the ignored band; 1.0
            disables it). Defaults to 1/3.
        score_floor (float): Decoding threshold of the teacher during
            calibration; thresholds below it cannot be chosen. Defaults to
            0.02.
        exclude_top (int | str): Predictions per validation frame left out
            (an int, or ``'clicks'``). Defaults to ``'clicks'``.
        frame_cap (float, optional): Factor of the per-frame limit of pseudo
            peaks (``None``: no limit). Defaults to None.
    """

    priority = 'NORMAL'

    def __init__(self, precision: float = 0.9, low_ratio: float = 1 / 3,
                 score_floor: float = 0.02, exclude_top='clicks',
                 frame_cap: Optional[float] = None):
        if not 0 < precision <= 1:
            raise ValueError(f'precision must be in (0, 1], got {precision}')
        if not 0 <= low_ratio <= 1:
            raise ValueError(f'low_ratio must be in [0, 1], got {low_ratio}')
        self.precision = float(precision)
        self.low_ratio = float(low_ratio)
        self.score_floor = float(score_floor)
        if exclude_top != 'clicks' and not (isinstance(exclude_top, int) and exclude_top >= 0):
            raise ValueError(f"exclude_top must be an int >= 0 or 'clicks', got {exclude_top!r}")
        self.exclude_top = exclude_top
        if frame_cap is not None and not frame_cap > 0:
            raise ValueError(f'frame_cap must be > 0 or None, got {frame_cap}')
        self.frame_cap = frame_cap
        self.calibrated_version: Optional[int] = None
        self.source = None

    def before_train_epoch(self, runner) -> None:
        model = unwrap_model(runner)
        version = int(model.teacher_version)
        if self.calibrated_version != version:
            self.calibrate(runner)
            self.calibrated_version = version

    @staticmethod
    def clicks_per_frame(runner) -> float:
        """Mean number of annotated points per training frame."""
        dataset = runner.train_dataloader.dataset
        counts = [len(np.asarray(dataset.get_data_info(i)['keypoints']).reshape(-1, 2))
                  for i in range(len(dataset))]
        return float(np.mean(counts)) if counts else 0.0

    @torch.no_grad()
    def calibrate(self, runner) -> None:
        """Run the teacher on the validation split and set the thresholds
        (every rank runs its share; the metric gathers)."""
        model = unwrap_model(runner)
        teacher = model.teacher
        cfg = copy.deepcopy(runner.cfg.val_evaluator)
        metrics_cfg = cfg if isinstance(cfg, (list, tuple)) else [cfg]
        point = [m for m in metrics_cfg if m.get('type') in (
            None, 'PointLocalizationMetric', 'mmpose_carcinosis.PointLocalizationMetric')]
        if not point:
            raise ValueError('PseudoThresholdHook needs a PointLocalizationMetric in '
                             'val_evaluator')
        top = self.exclude_top
        if top == 'clicks':
            top = int(round(self.clicks_per_frame(runner)))
        metric = dict(point[0], type='PointLocalizationMetric', curve_file=None,
                      precision_targets=[self.precision], exclude_top=top, prefix='teacher')
        evaluator = runner.build_evaluator(metric)
        loader = runner.val_dataloader  # the val loop's, built on first use
        evaluator.dataset_meta = getattr(loader.dataset, 'metainfo', None)
        teacher.eval()  # before the first epoch the runner has not set any mode yet
        decoder = teacher.head.decoder
        floor, decoder.decode_thr = decoder.decode_thr, self.score_floor
        try:
            for data_batch in loader:
                data = model.data_preprocessor(data_batch, False)
                outputs = teacher(data['inputs'], data['data_samples'], mode='predict')
                evaluator.process(data_samples=outputs, data_batch=data_batch)
            metrics = evaluator.evaluate(len(loader.dataset))
        finally:
            decoder.decode_thr = floor
        high = float(metrics[f'teacher/thr@p{self.precision:g}'])
        model.high_thr, model.low_thr = high, high * self.low_ratio
        if self.frame_cap is not None:
            most = max(int(metrics[f'teacher/max_count@p{self.precision:g}']), 1)
            model.max_pseudo_per_frame = int(math.floor(self.frame_cap * most))
        self.source = (f'teacher version {model.teacher_version} on validation '
                       f'({len(loader.dataset)} frames, top {top} per frame left out), '
                       f'precision >= {self.precision:g}')
        runner.logger.info(
            f'pseudo-label thresholds: high_thr {model.high_thr:.4f}, low_thr '
            f'{model.low_thr:.4f}, max_pseudo_per_frame {model.max_pseudo_per_frame} '
            f'({self.source}; teacher AP '
            f'{metrics.get("teacher/ap", float("nan")):.1f}, best F1 '
            f'{metrics.get("teacher/best_f1", float("nan")):.1f})')
        runner.message_hub.update_scalar('train/pseudo/high_thr', model.high_thr)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.calibrated_version is not None:
            model = unwrap_model(runner)
            checkpoint.setdefault('meta', {})['pseudo_thr'] = dict(
                high_thr=model.high_thr, low_thr=model.low_thr,
                max_pseudo_per_frame=model.max_pseudo_per_frame,
                teacher_version=self.calibrated_version, source=self.source)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        stored = (checkpoint.get('meta') or {}).get('pseudo_thr')
        if stored:
            model = unwrap_model(runner)
            model.high_thr, model.low_thr = stored['high_thr'], stored['low_thr']
            model.max_pseudo_per_frame = stored.get('max_pseudo_per_frame')
            self.calibrated_version = int(stored['teacher_version'])
            self.source = stored.get('source')

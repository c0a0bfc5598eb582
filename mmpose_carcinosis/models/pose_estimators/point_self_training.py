"""Stage two: a student learns from the clicks and from a teacher's
confident predictions (self-training), as MMDetection's semi-supervised
detectors hold a student and a teacher in one model."""
import copy
from typing import Optional, Tuple

import torch
from mmengine.logging import MessageHub, MMLogger
from mmengine.model import BaseModel
from mmengine.runner import load_checkpoint
from mmpose.registry import MODELS
from torch import Tensor


from ..utils import flip_test_logits
from ..utils.pseudo_labels import make_pseudo_targets


@MODELS.register_module()
class PointSelfTraining(BaseModel):
    """Student and teacher point models; the student learns from the clicks
    and from the teacher's confident predictions.

    Both are built from ``detector`` (a stage-one config's ``model``) and
    initialised from the stage-one checkpoint ``stage_one``. The teacher is
    frozen (no gradient, eval mode); with MMDetection's ``MeanTeacherHook``
    in ``custom_hooks`` it follows an exponential moving average of the
    student instead. In each training step the teacher sees the batch as
    augmented (the weak view) and the student the same geometry with
    photometric noise; :func:`make_pseudo_targets` turns the teacher's
    heatmap into the student's target and loss mask. The pseudo Gaussians'
    height ramps linearly from 0 to 1 over ``ramp_iters`` iterations.

    With ``teacher_flip`` the teacher's heatmap is MMPose's flip test: the
    mean of its raw outputs on the view and on the mirrored view (flipped
    back with ``flip_heatmaps`` and the detector's ``test_cfg`` flip
    options); the teacher's own ``predict`` (validation of the teacher,
    :class:`PseudoThresholdHook`, :class:`PseudoLabelQualityHook`) uses the
    same flip test, so its threshold is calibrated on the heatmaps that make
    the pseudo labels.

    Args:
        detector (dict): The stage-one model config (a
            ``BottomupPoseEstimator`` with a ``PointHeatmapHead``).
        stage_one (str, optional): Stage-one checkpoint for both networks.
        high_thr (float): Teacher score for a pseudo label (choose it on the
            dense validation split: ``benchmarks/stage_two.py`` reads it off
            the stage-one validation curve).
        low_thr (float): Lower end of the ignored band; ``low_thr ==
            high_thr`` disables the band.
        max_pseudo_per_frame (int, optional): Frames with more pseudo peaks
            have them ignored instead (:func:`make_pseudo_targets`;
            ``PseudoThresholdHook(frame_cap=...)`` sets it on validation).
            Defaults to None (no limit).
        click_radius (float): Heatmap pixels around a click whose peaks
            belong to the click. Defaults to 2.5 (10 px at stride 4).
        ramp_iters (int): Iterations over which pseudo labels ramp in.
        student_noise (dict): Photometric noise of the student's view on
            normalised inputs: ``brightness`` (additive, uniform +-),
            ``contrast`` (multiplicative, uniform 1 +-), ``noise`` (Gaussian
            std).
        predict_on (str): ``'student'`` or ``'teacher'`` for val/test.
        teacher_flip (bool): Flip-averaged teacher heatmaps. Defaults to
            False.
        cross (dict, optional): Cross distillation as in PA-Seg's Self and
            Cross Monitoring: a second student/teacher pair (``detector``:
            its model config, default the same; ``stage_one``: its
            stage-one checkpoint, e.g. another seed's or backbone's), and
            each student's loss becomes ``(1 - weight) * self term +
            weight * BinaryDistillationLoss(student, other teacher)``
            (``weight`` 0.5, ``temperature`` 4 by default). The second
            pair's pseudo labels use its own ``high_thr_b``, ``low_thr_b``
            and ``max_pseudo_per_frame_b`` (attributes, ``None``: the first
            pair's; :class:`PseudoThresholdHook` calibrates each teacher).
            Teachers stay frozen (do not combine with ``MeanTeacherHook``,
            which updates only the first pair). Val/test use the first
            student.
        data_preprocessor (dict, optional): Defaults to the detector's.
    """

    def __init__(self,
                 detector: dict,
                 stage_one: Optional[str] = None,
                 high_thr: float = 0.5,
                 low_thr: float = 0.2,
                 max_pseudo_per_frame: Optional[int] = None,
                 click_radius: float = 2.5,
                 ramp_iters: int = 100,
                 student_noise: dict = dict(brightness=0.2, contrast=0.2, noise=0.05),
                 predict_on: str = 'student',
                 teacher_flip: bool = False,
                 cross: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if data_preprocessor is None:
            data_preprocessor = detector.get('data_preprocessor')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not 0 <= low_thr <= high_thr:
            raise ValueError(f'need 0 <= low_thr <= high_thr, got {low_thr}, {high_thr}')
        if predict_on not in ('student', 'teacher'):
            raise ValueError(f'predict_on must be student|teacher, got {predict_on!r}')
        detector = copy.deepcopy(detector)
        detector.pop('data_preprocessor', None)
        self.student = MODELS.build(detector)
        self.teacher_flip = bool(teacher_flip)
        self.teacher = MODELS.build(self._teacher_cfg(detector))
        self.teacher.requires_grad_(False).eval()
        self.teacher_version = 0  # refreshes of the teacher (TeacherRefreshHook)
        self.stage_one = stage_one
        self.high_thr, self.low_thr = high_thr, low_thr
        self.max_pseudo_per_frame = max_pseudo_per_frame
        self.click_radius = click_radius
        self.ramp_iters = ramp_iters
        self.student_noise = dict(student_noise or {})
        self.predict_on = predict_on
        self.stage_one_b = None
        self.high_thr_b: Optional[float] = None
        self.low_thr_b: Optional[float] = None
        self.max_pseudo_per_frame_b: Optional[int] = None
        if cross is not None:
            cross = dict(cross)
            det_b = copy.deepcopy(cross.pop('detector', None) or detector)
            det_b.pop('data_preprocessor', None)
            self.student_b = MODELS.build(det_b)
            self.teacher_b = MODELS.build(self._teacher_cfg(det_b))
            self.teacher_b.requires_grad_(False).eval()
            self.stage_one_b = cross.pop('stage_one', None)
            if stage_one and not self.stage_one_b:
                raise ValueError('cross distillation needs cross.stage_one, the second '
                                 "pair's stage-one checkpoint (another seed's or backbone's); "
                                 'without it the second teacher would be untrained')
            self.cross_weight = float(cross.pop('weight', 0.5))
            self.distill = MODELS.build(dict(type='BinaryDistillationLoss',
                                             temperature=cross.pop('temperature', 4.0)))
            if cross:
                raise ValueError(f'unknown cross options {sorted(cross)}')
        self.with_cross = cross is not None

    def teachers(self):
        """``[(suffix, teacher)]``: ``('', teacher)`` and, with cross
        distillation, ``('_b', teacher_b)``."""
        pairs = [('', self.teacher)]
        if self.with_cross:
            pairs.append(('_b', self.teacher_b))
        return pairs

    def thresholds(self, suffix: str = '') -> Tuple[float, float, Optional[int]]:
        """``(high_thr, low_thr, max_pseudo_per_frame)`` of the pair
        ``suffix`` (``''`` or ``'_b'``; the second pair's unset ones are the
        first pair's)."""
        first = (self.high_thr, self.low_thr, self.max_pseudo_per_frame)
        if suffix == '':
            return first
        own = (self.high_thr_b, self.low_thr_b, self.max_pseudo_per_frame_b)
        if own[0] is None:
            return first
        return own

    def set_thresholds(self, suffix: str, high_thr: float, low_thr: float,
                       max_pseudo_per_frame: Optional[int]) -> None:
        """Set the thresholds of the pair ``suffix`` (``''`` or ``'_b'``)."""
        if not 0 <= low_thr <= high_thr:
            raise ValueError(f'need 0 <= low_thr <= high_thr, got {low_thr}, {high_thr}')
        setattr(self, f'high_thr{suffix}', float(high_thr))
        setattr(self, f'low_thr{suffix}', float(low_thr))
        setattr(self, f'max_pseudo_per_frame{suffix}', max_pseudo_per_frame)

    def _teacher_cfg(self, detector: dict) -> dict:
        """The detector config with the teacher's flip test."""
        cfg = copy.deepcopy(detector)
        cfg['test_cfg'] = dict(cfg.get('test_cfg') or {}, flip_test=self.teacher_flip)
        return cfg

    def init_weights(self):
        """Both networks from the stage-one checkpoint (if given)."""
        super().init_weights()
        logger = MMLogger.get_current_instance()
        pairs = [(self.stage_one, (self.student, self.teacher))]
        if self.with_cross:
            pairs.append((self.stage_one_b, (self.student_b, self.teacher_b)))
        for ckpt, nets in pairs:
            for net in nets if ckpt else ():
                load_checkpoint(net, ckpt, map_location='cpu', logger=logger)

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()  # BN statistics of the teachers stay as they are
        if self.with_cross:
            self.teacher_b.eval()
        return self

    @property
    def head(self):
        """The head of the network that predicts (``predict_on``)."""
        return getattr(self, self.predict_on).head

    @property
    def dataset_meta(self):
        return self.student.dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, meta):
        for name in ('student', 'teacher', 'student_b', 'teacher_b'):
            if hasattr(self, name):
                getattr(self, name).dataset_meta = meta

    def ramp(self) -> float:
        it = MessageHub.get_current_instance().get_info('iter', 0)
        return 1.0 if self.ramp_iters <= 0 else min(1.0, (it + 1) / self.ramp_iters)

    def student_view(self, inputs: Tensor) -> Tensor:
        """The same pixels with per-image brightness, contrast and noise."""
        b = inputs.shape[0]
        n = self.student_noise
        shape = (b, 1, 1, 1)
        x = inputs * (1 + (torch.rand(shape, device=inputs.device) * 2 - 1)
                      * n.get('contrast', 0.0))
        x = x + (torch.rand(shape, device=inputs.device) * 2 - 1) * n.get('brightness', 0.0)
        if n.get('noise', 0.0):
            x = x + torch.randn_like(x) * n['noise']
        return x

    def teacher_logits(self, teacher, inputs: Tensor) -> Tensor:
        """Raw teacher outputs (B, K, H, W) on ``inputs`` (B, 3, h, w), the
        mean with the mirrored view's (flipped back) under ``teacher_flip``."""
        flip_indices = (getattr(self.student, 'dataset_meta', None) or {}).get('flip_indices')
        return flip_test_logits(teacher, inputs, self.teacher_flip, teacher.test_cfg,
                                flip_indices)

    def forward(self, inputs: Tensor, data_samples=None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        net = getattr(self, self.predict_on)
        return net.forward(inputs, data_samples, mode=mode)

    def loss(self, inputs: Tensor, data_samples) -> dict:
        # The teachers run in float32 even under mixed precision (``--amp``):
        # their scores are compared with thresholds that PseudoThresholdHook
        # chose on float32 predictions (and that the quality hook scores),
        # so the pseudo labels do not depend on the training's precision.
        with torch.no_grad(), torch.autocast(inputs.device.type, enabled=False):
            t_logits = self.teacher_logits(self.teacher, inputs.float())
            t_logits_b = (self.teacher_logits(self.teacher_b, inputs.float())
                          if self.with_cross else None)
        clicks = torch.stack([d.gt_fields.heatmaps for d in data_samples]).to(t_logits)
        losses = dict(pseudo_weight=torch.tensor(self.ramp()))
        branches = [('', self.student, self.teacher, t_logits, t_logits_b)]
        if self.with_cross:
            branches.append(('_b', self.student_b, self.teacher_b, t_logits_b, t_logits))
        for suffix, student, teacher, own, other in branches:
            loss, stats = self._student_loss(student, teacher, own, other, clicks, inputs,
                                             self.thresholds(suffix))
            losses[f'loss_kpt{suffix}'] = loss
            losses.update({f'{k}{suffix}': v.detach() for k, v in stats.items()})
        return losses

    def _student_loss(self, student, teacher, teacher_logits, other_logits, clicks, inputs,
                      thresholds):
        """One student's loss: its teacher's pseudo targets at
        ``thresholds`` (high, low, frame cap; the self term) and, with cross
        distillation, the other teacher's soft heatmap."""
        head = student.head
        codec = head.decoder
        high, low, cap = thresholds
        target, mask, stats = make_pseudo_targets(
            teacher.head.activate(teacher_logits), clicks, float(codec.sigma),
            high, low, self.click_radius, int(codec.decode_nms_kernel), self.ramp(), cap)
        logits = head.forward(student.extract_feat(self.student_view(inputs)))
        loss = head.loss_module(logits, target, None, mask)
        if other_logits is not None:
            distill = self.distill(logits, other_logits)
            stats['distill'] = distill
            loss = (1 - self.cross_weight) * loss + self.cross_weight * distill
        return loss, stats

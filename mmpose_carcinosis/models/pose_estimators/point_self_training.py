"""Stage two: a student learns from the clicks and from a teacher's
confident predictions (self-training), shaped as MMDetection's
``SemiBaseDetector``: a student and a teacher in one model,
``semi_train_cfg`` / ``semi_test_cfg``, weights through ``load_from``."""
import copy
import logging
import os.path as osp
from typing import List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmpose.registry import MODELS
from torch import Tensor

from ..heads.point_heatmap_head import stacked_field
from ..utils import flip_test_logits
from ...utils import check_score_activation
from ..utils.appearance import (APPEARANCE_DEFAULTS, appearance_scores, masked_mean,
                                prototype_pixels, updated_prototype)
from ..utils.pseudo_labels import (frame_to_input, make_pseudo_targets, near_clicks,
                                   stable_points)

#: the options of ``semi_train_cfg`` and their defaults
SEMI_TRAIN_DEFAULTS = dict(
    high_thr=0.5,
    low_thr=0.2,
    max_pseudo_per_frame=None,
    click_radius=10.0,
    ramp_iters=100,
    student_noise=dict(brightness=0.2, contrast=0.2, noise=0.05),
    teacher_flip=False,
    negative_gamma=0.0,
    appearance=None)
SEMI_TEST_DEFAULTS = dict(predict_on='student')
#: the arguments of the flat form (before ``semi_train_cfg``), where they went
LEGACY_ARGS = {
    'stage_one': "init_cfg=dict(type='Pretrained', checkpoint=CKPT) (tools/train.py "
                 '--cfg-options model.init_cfg.checkpoint=CKPT); it loads into the student '
                 'and the teacher',
    'predict_on': 'semi_test_cfg.predict_on',
    'click_radius': 'semi_train_cfg.click_radius, now in frame pixels (heatmap pixels x the '
                    'codec stride: 2.5 at stride 4 is 10.0)',
    'cross': "type='PointCrossTraining' with partner_load_from / semi_train_cfg.cross_weight",
}
LEGACY_ARGS.update({k: f'semi_train_cfg.{k}' for k in (
    'high_thr', 'low_thr', 'max_pseudo_per_frame', 'ramp_iters', 'student_noise',
    'teacher_flip')})


@MODELS.register_module()
class PointSelfTraining(BaseModel):
    """Student and teacher point models; the student learns from the clicks
    and from the teacher's confident predictions.

    Both networks are built from ``detector`` (a stage-one config's
    ``model``). The stage-one checkpoint, given as
    ``init_cfg=dict(type='Pretrained', checkpoint=...)`` (MMEngine's
    initialisation; safe with ``--resume``) or as the config's ``load_from``,
    loads into both: a state dict of one network (``backbone.*``,
    ``head.*``) is remapped to ``student.*`` and ``teacher.*`` on loading;
    a stage-two checkpoint loads as it is. The teacher is frozen (no gradient, eval
    mode); with MMDetection's ``MeanTeacherHook`` it follows an exponential
    moving average of the student instead, with ``TeacherRefreshHook`` it is
    replaced by the student every few epochs.

    In each training step the teacher sees the batch as augmented (the weak
    view) and the student the same geometry with photometric noise;
    :func:`make_pseudo_targets` turns the teacher's heatmap into the
    student's target and loss mask. The pseudo Gaussians' height ramps
    linearly from 0 to 1 over ``ramp_iters`` iterations.

    The pseudo-label thresholds (per teacher) and the teacher's version are
    buffers: checkpoints and resumed runs carry them, hooks set them
    (``PseudoThresholdHook`` calibrates, ``TeacherRefreshHook`` counts
    refreshes) and hold no state. Checkpoints saved before the buffers
    existed load with the configured values (and a resumed run from one
    recalibrates).

    Frozen pseudo labels (easy-to-hard rounds, ``FreezePseudoLabelsHook``):
    pseudo labels two successive teachers agree on (:meth:`freeze_stable`)
    are kept, in frame pixels per training frame (``img_id``), as buffers
    too, and count as clicks in every later training step: each sample's
    are carried into its augmented view by its ``warp_mat`` and flip
    (``'warp_mat'`` in the training pipeline's ``meta_keys``).

    Args:
        detector (dict): The stage-one model config (a
            ``BottomupPoseEstimator`` with a ``PointHeatmapHead``).
        semi_train_cfg (dict, optional): Stage two's training options:

            - ``high_thr`` (float): teacher score of a pseudo label;
            - ``low_thr`` (float): lower end of the ignored band (``low_thr
              == high_thr`` disables it);
            - ``max_pseudo_per_frame`` (int, optional): frames with more
              pseudo peaks have them ignored instead (None: no limit);
            - ``click_radius`` (float): frame pixels around a click whose
              teacher peaks are the click's own (not pseudo labels);
            - ``ramp_iters`` (int): iterations over which pseudo labels
              ramp in;
            - ``student_noise`` (dict): photometric noise of the student's
              view on normalised inputs: ``brightness`` (additive, uniform
              +-), ``contrast`` (multiplicative, uniform 1 +-), ``noise``
              (Gaussian std);
            - ``teacher_flip`` (bool): the teacher's heatmap is MMPose's
              flip test (mean over the view and its mirror), in training
              and in its own predictions (calibration, quality);
            - ``negative_gamma`` (float): unlabeled pixels weigh
              ``(1 - teacher score) ** negative_gamma`` (0: off;
              :func:`make_pseudo_targets`);
            - ``appearance`` (dict, optional): the appearance verifier
              (:mod:`..utils.appearance`): the ignored band's peaks that
              look like the clicked nodules in the teacher's features
              become pseudo labels; ``momentum`` of the prototypes' moving
              average (0.99), ``temperature`` (0.1), ``accept`` (0.5, the
              appearance score a band peak needs). None: off.

            Defaults: :data:`SEMI_TRAIN_DEFAULTS`.
        semi_test_cfg (dict, optional): ``predict_on``: ``'student'`` or
            ``'teacher'``, the network of val/test. Defaults to the student.
        data_preprocessor (dict, optional): Defaults to the detector's.
        init_cfg (dict, optional): ``dict(type='Pretrained',
            checkpoint=STAGE_ONE)``; with ``checkpoint=None`` (the configs'
            placeholder) nothing is loaded, with a warning.
    """

    #: suffixes of the loss and log keys of each student/teacher pair
    pair_suffixes = ('', )
    #: buffers whose length changes (checkpoints resize them on loading)
    growing_buffers = ('frozen_img_ids', 'frozen_points', 'candidate_img_ids',
                       'candidate_points')

    def __init__(self,
                 detector: dict,
                 semi_train_cfg: Optional[dict] = None,
                 semi_test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 **legacy):
        if legacy:
            raise TypeError('PointSelfTraining: arguments of the former flat form: ' + '; '.join(
                f'{k} -> {LEGACY_ARGS.get(k, "unknown")}' for k in sorted(legacy)))
        if data_preprocessor is None:
            data_preprocessor = detector.get('data_preprocessor')
        # a config's placeholder for the stage-one checkpoint, not given
        self.without_stage_one = bool(init_cfg) and init_cfg.get('type') == 'Pretrained' \
            and not init_cfg.get('checkpoint')
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=None if self.without_stage_one else init_cfg)
        unknown = set(semi_train_cfg or {}) - set(SEMI_TRAIN_DEFAULTS) - self.extra_train_keys()
        if unknown:
            raise ValueError(f'unknown semi_train_cfg options {sorted(unknown)}; known: '
                             f'{sorted(set(SEMI_TRAIN_DEFAULTS) | self.extra_train_keys())}')
        self.semi_train_cfg = dict(copy.deepcopy(SEMI_TRAIN_DEFAULTS), **(semi_train_cfg or {}))
        self.semi_test_cfg = dict(SEMI_TEST_DEFAULTS, **(semi_test_cfg or {}))
        appearance = self.semi_train_cfg['appearance']
        if appearance is not None:
            unknown = set(appearance) - set(APPEARANCE_DEFAULTS)
            if unknown:
                raise ValueError(f'unknown semi_train_cfg.appearance options {sorted(unknown)}; '
                                 f'known: {sorted(APPEARANCE_DEFAULTS)}')
            self.semi_train_cfg['appearance'] = dict(APPEARANCE_DEFAULTS, **appearance)
        if self.semi_test_cfg['predict_on'] not in ('student', 'teacher'):
            raise ValueError('semi_test_cfg.predict_on must be student|teacher, got '
                             f'{self.semi_test_cfg["predict_on"]!r}')
        detector = copy.deepcopy(detector)
        detector.pop('data_preprocessor', None)
        self.student = MODELS.build(detector)
        self.teacher = MODELS.build(self._teacher_cfg(detector))
        self.teacher.requires_grad_(False).eval()
        cfg = self.semi_train_cfg
        pairs = len(self.pair_suffixes)
        cap = cfg['max_pseudo_per_frame']
        self.register_buffer('high_thr', torch.full((pairs, ), float(cfg['high_thr'])))
        self.register_buffer('low_thr', torch.full((pairs, ), float(cfg['low_thr'])))
        self.register_buffer('max_pseudo_per_frame',
                             torch.full((pairs, ), -1 if cap is None else int(cap)))
        # refreshes of the teacher, and the version the thresholds belong to
        self.register_buffer('teacher_version', torch.zeros((), dtype=torch.long))
        self.register_buffer('calibrated_version', torch.full((), -1, dtype=torch.long))
        # frozen pseudo labels (FreezePseudoLabelsHook): training frames' ids
        # and frame-pixel points, the last teacher's candidates, and the
        # teacher version they were taken from; their sizes grow
        for name in self.growing_buffers:
            if name.endswith('points'):
                self.register_buffer(name, torch.zeros((0, 2)))
            else:
                self.register_buffer(name, torch.zeros(0, dtype=torch.long))
        self.register_buffer('frozen_version', torch.full((), -1, dtype=torch.long))
        # the appearance verifier's prototypes (unit length) per pair, and the
        # teacher version they describe (-1: none yet)
        channels = self.student.head.final_layer.in_channels
        self.register_buffer('positive_prototype', torch.zeros(pairs, channels))
        self.register_buffer('negative_prototype', torch.zeros(pairs, channels))
        self.register_buffer('prototype_version', torch.full((pairs, ), -1, dtype=torch.long))
        for i in range(pairs):
            self.set_thresholds(i, cfg['high_thr'], cfg['low_thr'], cap)
        self.register_load_state_dict_pre_hook(self._remap_stage_one)

    def init_weights(self):
        """MMEngine's initialisation; ``init_cfg=dict(type='Pretrained',
        checkpoint=STAGE_ONE)`` loads the stage-one model into both
        networks (see :meth:`_remap_stage_one`). A placeholder without a
        checkpoint is warned about: stage two from untrained networks
        learns nothing from its teacher (unless ``load_from`` follows)."""
        if self.without_stage_one:
            from mmengine.logging import print_log
            print_log('PointSelfTraining: no stage-one checkpoint (model.init_cfg.checkpoint '
                      'is None); set it, or load_from, or the teacher is untrained',
                      logger='current', level=logging.WARNING)
        else:
            self.check_stage_one((self.init_cfg or {}).get('checkpoint'), self.student,
                                 'model.detector.head.score_activation')
        super().init_weights()

    @staticmethod
    def check_stage_one(checkpoint, network, key: str):
        """Before loading a stage-one ``checkpoint`` (a local file) into
        ``network``'s pair: its outputs must be read with the activation it
        was trained with (:func:`check_score_activation`; an MSE stage one
        under the sigmoid of Crag and Tail's stage two would give every
        pixel a score near 0.5). ``key``: the config key to name."""
        if not isinstance(checkpoint, str) or not osp.isfile(checkpoint):
            return
        from mmengine.runner.checkpoint import _load_checkpoint
        meta = _load_checkpoint(checkpoint, map_location='cpu').get('meta')
        check_score_activation(meta, network.head.score_activation, checkpoint, key)

    @classmethod
    def extra_train_keys(cls) -> set:
        """``semi_train_cfg`` options of a subclass."""
        return set()

    # -- state ------------------------------------------------------------

    def _remap_stage_one(self, module, state_dict, prefix, *args) -> None:
        """Before loading: a one-network state dict (a stage-one checkpoint)
        goes to the student and the teacher (a cross-distillation partner
        loads its own, ``partner_load_from``), and buffers a checkpoint lacks
        (saved before they existed) keep their current values."""
        own = [k for k in state_dict if k.startswith(prefix)]
        tops = {k[len(prefix):].split('.', 1)[0] for k in own}
        if own and not tops & (set(self._modules) | set(self._buffers)):
            for key in own:
                value = state_dict.pop(key)
                for net in ('student', 'teacher'):
                    state_dict[f'{prefix}{net}.{key[len(prefix):]}'] = value
        for name, value in self._buffers.items():
            state_dict.setdefault(prefix + name, value.clone())
        for name in self.growing_buffers:
            saved = state_dict[prefix + name]
            if saved.shape != self._buffers[name].shape:
                setattr(self, name, torch.empty_like(saved, device=self._buffers[name].device))

    @property
    def click_radius(self) -> float:
        """Frame pixels around a click whose teacher peaks are its own."""
        return float(self.semi_train_cfg['click_radius'])

    @property
    def stride(self) -> float:
        """Frame pixels per heatmap pixel (the codec's scale factor)."""
        return float(self.student.head.decoder.scale_factor[0])

    def thresholds(self, pair: int = 0) -> Tuple[float, float, Optional[int]]:
        """``(high_thr, low_thr, max_pseudo_per_frame)`` of pair ``pair``."""
        cap = int(self.max_pseudo_per_frame[pair])
        return (float(self.high_thr[pair]), float(self.low_thr[pair]),
                None if cap < 0 else cap)

    def set_thresholds(self, pair: int, high_thr: float, low_thr: float,
                       max_pseudo_per_frame: Optional[int]) -> None:
        """Set the thresholds of pair ``pair`` (0; 1 with cross
        distillation)."""
        if not 0 <= low_thr <= high_thr:
            raise ValueError(f'need 0 <= low_thr <= high_thr, got {low_thr}, {high_thr}')
        self.high_thr[pair] = float(high_thr)
        self.low_thr[pair] = float(low_thr)
        self.max_pseudo_per_frame[pair] = -1 if max_pseudo_per_frame is None else int(
            max_pseudo_per_frame)

    def teachers(self) -> List:
        """The teacher of each pair (index = pair)."""
        return [self.teacher]

    def students(self) -> List:
        """The student of each pair (index = pair)."""
        return [self.student]

    def _teacher_cfg(self, detector: dict) -> dict:
        """The detector config with the teacher's flip test."""
        cfg = copy.deepcopy(detector)
        cfg['test_cfg'] = dict(cfg.get('test_cfg') or {},
                               flip_test=bool(self.semi_train_cfg['teacher_flip']))
        return cfg

    def train(self, mode: bool = True):
        super().train(mode)
        for teacher in self.teachers():
            teacher.eval()  # BN statistics of the teachers stay as they are
        return self

    @property
    def head(self):
        """The head of the network that predicts (``semi_test_cfg``)."""
        return getattr(self, self.semi_test_cfg['predict_on']).head

    @property
    def dataset_meta(self):
        return self.student.dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, meta):
        for net in self.students() + self.teachers():
            net.dataset_meta = meta

    # -- frozen pseudo labels ---------------------------------------------

    def freeze_stable(self, img_ids: np.ndarray, points: np.ndarray) -> int:
        """The current teacher's pseudo labels ``points`` (M, 2, frame
        pixels) on training frames ``img_ids`` (M,): those within
        ``click_radius`` of the previous teacher's candidate on the same
        frame (:func:`stable_points`) become labels for the rest of
        training (like clicks, :meth:`freeze_points`); all of them are the next candidates, and
        ``frozen_version`` becomes the teacher's version. Returns how many
        were frozen."""
        dev = self.frozen_points.device
        ids = np.asarray(img_ids, np.int64).reshape(-1)
        pts = np.asarray(points, np.float32).reshape(-1, 2)
        stable = stable_points(ids, pts, self.candidate_img_ids.cpu().numpy(),
                               self.candidate_points.cpu().numpy(), self.click_radius)
        frozen = self.freeze_points(ids[stable], pts[stable])
        self.candidate_img_ids = torch.as_tensor(ids, device=dev)
        self.candidate_points = torch.as_tensor(pts, device=dev)
        self.frozen_version.fill_(int(self.teacher_version))
        return frozen

    def freeze_points(self, img_ids: np.ndarray, points: np.ndarray) -> int:
        """Freeze ``points`` (M, 2, frame pixels) of training frames
        ``img_ids`` (M,) as labels for the rest of training (e.g. weak peaks
        a confident one of a neighbouring frame confirms), except those
        within ``click_radius`` of a frozen label of the same frame. The
        candidates and ``frozen_version`` are left as they are. Returns how
        many were frozen."""
        dev = self.frozen_points.device
        ids = np.asarray(img_ids, np.int64).reshape(-1)
        pts = np.asarray(points, np.float32).reshape(-1, 2)
        new = ~stable_points(ids, pts, self.frozen_img_ids.cpu().numpy(),
                             self.frozen_points.cpu().numpy(), self.click_radius)
        self.frozen_img_ids = torch.cat([self.frozen_img_ids,
                                         torch.as_tensor(ids[new], device=dev)])
        self.frozen_points = torch.cat([self.frozen_points,
                                        torch.as_tensor(pts[new], device=dev)])
        return int(new.sum())

    def frozen(self, img_id) -> np.ndarray:
        """(N, 2) frame-pixel frozen labels of training frame ``img_id``."""
        return self.frozen_points[self.frozen_img_ids == int(img_id)].cpu().numpy()

    def frozen_targets(self, data_samples, like: Tensor) -> Optional[Tensor]:
        """(B, K, H, W) like ``like``: each sample's frozen labels carried
        into its augmented view (:func:`frame_to_input`) and encoded by the
        codec as its clicks are; None while nothing is frozen."""
        if not len(self.frozen_img_ids):
            return None
        codec = self.student.head.decoder
        maps = [codec.encode(frame_to_input(self.frozen(s.img_id), s.metainfo)[:, None])[
            'heatmaps'] for s in data_samples]
        return torch.as_tensor(np.stack(maps)).to(like)

    # -- prediction -------------------------------------------------------

    def forward(self, inputs: Tensor, data_samples=None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        net = getattr(self, self.semi_test_cfg['predict_on'])
        return net.forward(inputs, data_samples, mode=mode)

    @torch.no_grad()
    def predict_teacher(self, inputs: Tensor, data_samples, pair: int = 0,
                        score_floor: Optional[float] = None) -> list:
        """The data samples teacher ``pair`` predicts (eval mode, float32,
        its flip test), decoded down to ``score_floor`` instead of the
        head's ``decode_thr`` where given: what the pseudo-label thresholds
        are calibrated and scored on."""
        teacher = self.teachers()[pair]
        decoder = teacher.head.decoder
        floor = decoder.decode_thr
        teacher.eval()  # before the first epoch the runner has not set any mode
        try:
            if score_floor is not None:
                decoder.decode_thr = float(score_floor)
            with torch.autocast(inputs.device.type, enabled=False):
                return teacher(inputs.float(), data_samples, mode='predict')
        finally:
            decoder.decode_thr = floor

    # -- training ---------------------------------------------------------

    def ramp(self) -> float:
        it = MessageHub.get_current_instance().get_info('iter', 0)
        iters = self.semi_train_cfg['ramp_iters']
        return 1.0 if iters <= 0 else min(1.0, (it + 1) / iters)

    def student_view(self, inputs: Tensor) -> Tensor:
        """The same pixels with per-image brightness, contrast and noise."""
        b = inputs.shape[0]
        n = self.semi_train_cfg['student_noise'] or {}
        shape = (b, 1, 1, 1)
        x = inputs * (1 + (torch.rand(shape, device=inputs.device) * 2 - 1)
                      * n.get('contrast', 0.0))
        x = x + (torch.rand(shape, device=inputs.device) * 2 - 1) * n.get('brightness', 0.0)
        if n.get('noise', 0.0):
            x = x + torch.randn_like(x) * n['noise']
        return x

    def teacher_logits(self, teacher, inputs: Tensor, embed: bool = False):
        """Raw teacher outputs (B, K, H, W) on ``inputs`` (B, 3, h, w), the
        mean with the mirrored view's (flipped back) under ``teacher_flip``;
        with ``embed`` also its head's features (B, C, H, W) of the view."""
        flip_indices = (getattr(self.student, 'dataset_meta', None) or {}).get('flip_indices')
        return flip_test_logits(teacher, inputs, bool(self.semi_train_cfg['teacher_flip']),
                                teacher.test_cfg, flip_indices, embed=embed)

    def verify(self, pair: int, features: Tensor, scores: Tensor, clicks: Tensor,
               near_click: Tensor, negatives: Optional[Tensor] = None) -> Optional[Tensor]:
        """Appearance scores (B, 1, H, W) of pair ``pair``'s teacher
        (:func:`appearance_scores`) after updating its prototypes with this
        batch (:func:`prototype_pixels`; a new teacher version starts them
        afresh); None until this teacher has seen a click. ``features``
        (B, C, H, W): the teacher's head features; ``scores``: its scores;
        ``clicks``: the clicks' target."""
        cfg = self.semi_train_cfg['appearance']
        positive, negative = prototype_pixels(clicks, scores, near_click,
                                              self.low_thr[pair], negatives)
        fresh = int(self.prototype_version[pair]) != int(self.teacher_version)
        unit = F.normalize(features.float(), dim=1)  # once for both prototypes and the scores
        counts = []
        for proto, pixels in ((self.positive_prototype, positive),
                              (self.negative_prototype, negative)):
            total, count = masked_mean(unit, pixels)
            proto[pair] = updated_prototype(proto[pair], total, count, cfg['momentum'],
                                            fresh)
            counts.append(float(count))
        if counts[0] > 0:  # this teacher has seen a click
            self.prototype_version[pair] = self.teacher_version
        if int(self.prototype_version[pair]) != int(self.teacher_version):
            return None  # no click seen yet by this teacher
        return appearance_scores(unit, self.positive_prototype[pair],
                                 self.negative_prototype[pair], cfg['temperature'])

    def pseudo_targets(self, pair: int, teacher_logits: Tensor, clicks: Tensor,
                       negatives: Optional[Tensor] = None,
                       features: Optional[Tensor] = None):
        """Target (B, K, H, W), loss mask and statistics of pair ``pair``'s
        student from its teacher's raw outputs and the clicks' target, at
        the pair's thresholds (:func:`make_pseudo_targets`); never at
        confirmed ``negatives`` (B, K, H, W). With the appearance verifier
        (``semi_train_cfg.appearance``) the teacher's head ``features``
        (B, C, H, W) score the ignored band's peaks (:meth:`verify`)."""
        teacher = self.teachers()[pair]
        codec = teacher.head.decoder
        scores = teacher.head.activate(teacher_logits)
        sigma, radius = float(codec.sigma), self.click_radius / self.stride
        appearance, accept = None, 0.5
        if self.semi_train_cfg['appearance'] is not None:
            if features is None:
                raise ValueError('semi_train_cfg.appearance needs the teacher\'s features')
            appearance = self.verify(pair, features, scores, clicks,
                                     near_clicks(clicks, sigma, radius), negatives)
            accept = float(self.semi_train_cfg['appearance']['accept'])
        target, mask, stats = make_pseudo_targets(
            scores, clicks, sigma, self.high_thr[pair], self.low_thr[pair], radius,
            int(codec.decode_nms_kernel), self.ramp(), self.max_pseudo_per_frame[pair],
            negatives, float(self.semi_train_cfg['negative_gamma']), appearance, accept)
        if self.semi_train_cfg['appearance'] is not None:
            stats.setdefault('verified_per_frame', scores.new_zeros(()))
        return target, mask, stats

    def pair_loss(self, pair: int, logits: Tensor, teacher_logits: List[Tensor],
                  clicks: Tensor, negatives: Optional[Tensor] = None,
                  features: Optional[List[Tensor]] = None):
        """Pair ``pair``'s student loss (its ``logits`` (B, K, H, W)
        against its teacher's pseudo targets) and statistics;
        ``teacher_logits``: every teacher's raw outputs; ``negatives``:
        confirmed negatives (full negative term, never pseudo labels);
        ``features``: every teacher's head features (the appearance
        verifier's), or None."""
        target, mask, stats = self.pseudo_targets(
            pair, teacher_logits[pair], clicks, negatives,
            None if features is None else features[pair])
        return self.students()[pair].head.compute_loss(logits, target, mask, negatives), stats

    def loss(self, inputs: Tensor, data_samples) -> dict:
        # The teachers run in float32 even under mixed precision (``--amp``):
        # their scores are compared with thresholds PseudoThresholdHook chose
        # on float32 predictions (predict_teacher), so the pseudo labels do
        # not depend on the training's precision.
        embed = self.semi_train_cfg['appearance'] is not None
        with torch.no_grad(), torch.autocast(inputs.device.type, enabled=False):
            outs = [self.teacher_logits(t, inputs.float(), embed) for t in self.teachers()]
        t_logits, t_features = ([o[0] for o in outs], [o[1] for o in outs]) if embed else (
            outs, None)
        clicks = torch.stack([d.gt_fields.heatmaps for d in data_samples]).to(t_logits[0])
        frozen = self.frozen_targets(data_samples, clicks)
        if frozen is not None:  # frozen pseudo labels count as clicks
            clicks = torch.maximum(clicks, frozen)
        negatives = stacked_field(data_samples, 'negatives', 0.0)
        losses = dict(pseudo_weight=torch.tensor(self.ramp()))
        for pair, (suffix, student) in enumerate(zip(self.pair_suffixes, self.students())):
            logits = student.head.forward(student.extract_feat(self.student_view(inputs)))
            loss, stats = self.pair_loss(pair, logits, t_logits, clicks, negatives, t_features)
            losses[f'loss_kpt{suffix}'] = loss
            losses.update({f'{k}{suffix}': v.detach() for k, v in stats.items()})
        return losses

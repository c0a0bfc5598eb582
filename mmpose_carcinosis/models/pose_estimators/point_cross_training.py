"""Stage two with cross distillation (PA-Seg's Self and Cross Monitoring),
as MMDetection's ``SoftTeacher`` extends ``SemiBaseDetector``."""
import copy
from typing import List, Optional

from mmpose.registry import MODELS
from torch import Tensor

from ...utils import check_score_activation
from .point_self_training import PointSelfTraining


@MODELS.register_module()
class PointCrossTraining(PointSelfTraining):
    """Stage two with cross distillation, as in PA-Seg's Self and Cross
    Monitoring: a second student/teacher pair (``partner``: its model
    config, default the same as ``detector``; ``partner_load_from``: its
    stage-one checkpoint, e.g. another seed's or backbone's), and each
    student's loss becomes ``(1 - cross_weight) * self term + cross_weight *
    BinaryDistillationLoss(student, other teacher)``.

    Each pair's pseudo labels use its own thresholds (pair 1's are
    calibrated on its own teacher). Teachers stay frozen (do not combine
    with ``MeanTeacherHook``, which updates only the first pair). Val/test
    use the first pair (``semi_test_cfg``). Loss and log keys of the second
    pair end in ``_b``.

    Args:
        partner (dict, optional): The second pair's model config.
        partner_load_from (str, optional): The second pair's stage-one
            checkpoint (required with ``load_from``: else the second
            teacher would be untrained).
        semi_train_cfg (dict): as :class:`PointSelfTraining`, plus
            ``cross_weight`` (0.5) and ``cross_temperature`` (4.0).
    """

    pair_suffixes = ('', '_b')

    def __init__(self, detector: dict, partner: Optional[dict] = None,
                 partner_load_from: Optional[str] = None, **kwargs):
        self._partner_key = 'model.partner' if partner else 'model.detector'
        self._partner_cfg = copy.deepcopy(partner or detector)
        self._partner_cfg.pop('data_preprocessor', None)
        super().__init__(detector, **kwargs)
        self.student_b = MODELS.build(self._partner_cfg)
        self.teacher_b = MODELS.build(self._teacher_cfg(self._partner_cfg))
        self.teacher_b.requires_grad_(False).eval()
        self.partner_load_from = partner_load_from
        cfg = self.semi_train_cfg
        self.cross_weight = float(cfg.setdefault('cross_weight', 0.5))
        self.distill = MODELS.build(dict(type='BinaryDistillationLoss',
                                         temperature=cfg.setdefault('cross_temperature', 4.0)))

    @classmethod
    def extra_train_keys(cls) -> set:
        return {'cross_weight', 'cross_temperature'}

    def teachers(self) -> List:
        return [self.teacher, self.teacher_b]

    def students(self) -> List:
        return [self.student, self.student_b]

    def init_weights(self):
        """The second pair from ``partner_load_from`` (required: an
        untrained second teacher would teach noise)."""
        super().init_weights()
        if not self.partner_load_from:
            raise ValueError('PointCrossTraining needs partner_load_from, the second pair\'s '
                             "stage-one checkpoint (another seed's or backbone's)")
        # MMEngine's load_checkpoint in its two steps: read once, load twice
        from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model
        ckpt = _load_checkpoint(self.partner_load_from, map_location='cpu')
        check_score_activation(ckpt.get('meta'), self.student_b.head.score_activation,
                               self.partner_load_from,
                               f'{self._partner_key}.head.score_activation')
        for net in (self.student_b, self.teacher_b):
            _load_checkpoint_to_model(net, ckpt, strict=True)

    def pair_loss(self, pair: int, logits: Tensor, teacher_logits: List[Tensor],
                  clicks: Tensor, negatives: Optional[Tensor] = None,
                  features: Optional[List[Tensor]] = None):
        loss, stats = super().pair_loss(pair, logits, teacher_logits, clicks, negatives,
                                        features)
        distill = self.distill(logits, teacher_logits[1 - pair])
        stats['distill'] = distill
        return (1 - self.cross_weight) * loss + self.cross_weight * distill, stats

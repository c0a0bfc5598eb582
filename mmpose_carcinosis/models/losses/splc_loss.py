"""Self-paced loss correction (SPLC) on top of Crag and Tail."""
from typing import Optional

import torch
from mmengine.logging import MessageHub
from mmpose.registry import MODELS
from torch import Tensor

from .crag_tail_loss import CragTailLoss


@MODELS.register_module()
class SPLCCragTailLoss(CragTailLoss):
    r"""Crag and Tail with SPLC's online label correction (Zhang et al.,
    arXiv 2112.07368, repository robust-loss-mlml): from iteration
    ``start_iter`` on, an unlabeled pixel (:math:`H \le \tau_{pos}`) whose
    predicted probability exceeds ``tau`` counts as a positive with target
    1 in this batch; the flip is recomputed every batch from the current
    (detached) prediction. It is the online alternative to stage two's
    teacher: no second network, no ignore band.

    Args:
        tau (float): Probability above which an unlabeled pixel flips.
            Defaults to 0.6 (SPLC's default).
        start_iter (int): First iteration with flips (SPLC starts from its
            second epoch). Defaults to 0.
        **kwargs: see :class:`CragTailLoss`.
    """

    def __init__(self, tau: float = 0.6, start_iter: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.tau = tau
        self.start_iter = start_iter

    def forward(self, output: Tensor, target: Tensor,
                target_weights: Optional[Tensor] = None,
                mask: Optional[Tensor] = None,
                negatives: Optional[Tensor] = None) -> Tensor:
        it = MessageHub.get_current_instance().get_info('iter', 0)
        if it >= self.start_iter:
            with torch.no_grad():
                flip = (torch.sigmoid(output.float()) > self.tau) & (target <= self.pos_thr)
                if negatives is not None:  # a confirmed negative never flips
                    flip &= ~(negatives.expand_as(flip) > 0)
            target = torch.where(flip, torch.ones_like(target), target)
        return super().forward(output, target, target_weights, mask, negatives)

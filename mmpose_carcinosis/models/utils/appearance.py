"""Appearance prototypes as a verifier of the teacher's weak peaks (issue 22,
candidates 4 and 5; the prototypes of SIOD's DMiner, the verifier's role of
Lesion-Harvester's): what the clicked nodules look like in the teacher's
feature space, against what its confident background looks like.

A prototype is the running mean of L2-normalised teacher features
(:meth:`PointHeatmapHead.embed`, (B, C, H, W) at heatmap resolution) over a
set of pixels: the clicks' peaks (positive) and the pixels the teacher scores
below ``low_thr`` away from every click, or a reviewer rejected (negative).
A peak's appearance score is ``sigmoid((cos(f, positive) - cos(f, negative))
/ temperature)``: above 0.5 it looks more like a clicked nodule than like
background. :func:`make_pseudo_targets` turns the ignored band's peaks whose
score reaches ``accept`` into pseudo labels.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.dist import all_reduce
from torch import Tensor

from mmpose_carcinosis.codecs import heatmap_nms

#: the options of ``semi_train_cfg.appearance`` and their defaults
APPEARANCE_DEFAULTS = dict(momentum=0.99, temperature=0.1, accept=0.5)


def prototype_pixels(click_target: Tensor, scores: Tensor, near_click: Tensor,
                     low_thr, negatives: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """The pixels each prototype is the mean over.

    Args:
        click_target (Tensor): (B, 1, H, W) the clicks' Gaussian target
            (peak about 1 at each click).
        scores (Tensor): (B, 1, H, W) the teacher's scores in [0, 1].
        near_click (Tensor): (B, 1, H, W) bool, within the click radius of
            a click (:func:`near_clicks`).
        low_thr (float | Tensor): Scores below it are confident background.
        negatives (Tensor, optional): (B, 1, H, W), > 0 where a reviewer
            rejected a proposal or a frame is dense.

    Returns:
        tuple: ``positive`` (the clicks' peak pixels: local maxima of the
        click target above 0.5) and ``negative`` (B, 1, H, W) bool.
    """
    positive = heatmap_nms(click_target.float(), 3) > 0.5
    background = scores < low_thr
    if negatives is not None:
        background = background | (negatives > 0)
    return positive, background & ~near_click


def masked_mean(unit: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
    """The sum (C,) of the unit features ``unit`` (B, C, H, W, L2-normalised
    over C) over the ``mask`` (B, 1, H, W) pixels and their count (0-d),
    summed over ranks: every rank contributes, and every rank gets the same
    prototype."""
    m = mask.to(unit.dtype)
    total = (unit * m).sum((0, 2, 3))
    count = m.sum()
    all_reduce(total, op='sum')
    all_reduce(count, op='sum')
    return total, count


def updated_prototype(prototype: Tensor, total: Tensor, count: Tensor, momentum: float,
                      fresh: bool) -> Tensor:
    """The prototype (C,) after one batch: the batch mean's direction
    (``total / count``) if ``fresh`` (a new teacher), else the exponential
    moving average ``momentum * prototype + (1 - momentum) * mean``,
    renormalised; unchanged where ``count`` is 0."""
    if float(count) <= 0:
        return prototype
    mean = F.normalize(total / count, dim=0)
    if fresh:
        return mean
    return F.normalize(momentum * prototype + (1 - momentum) * mean, dim=0)


def appearance_scores(unit: Tensor, positive: Tensor, negative: Tensor,
                      temperature: float) -> Tensor:
    """(B, 1, H, W) in (0, 1): ``sigmoid((cos(f, positive) - cos(f,
    negative)) / temperature)`` for each pixel's unit features ``f`` of
    ``unit`` (B, C, H, W); prototypes (C,) of unit length."""
    margin = torch.einsum('bchw,c->bhw', unit, positive - negative)[:, None]
    return torch.sigmoid(margin / temperature)

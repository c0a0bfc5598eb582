"""PA-Seg's contextual regularisation (a gated CRF term and a variance term)
for heatmaps: pixels that look alike should score alike."""
from typing import Optional

import torch
from mmpose.registry import MODELS
from torch import Tensor, nn


def gated_crf_term(scores: Tensor, appearance: Tensor, valid: Tensor, radius: int,
                   sigma_xy: float, sigma_rgb: float) -> Tensor:
    r"""The binary gated CRF energy (Obukhov et al. 2019) of ``scores``:

    .. math::

        E = \frac{1}{|V|} \sum_{i \in V} \sum_{j \in N(i) \cap V, j \ne i}
            k_{ij} \, [p_i (1 - p_j) + (1 - p_i) p_j],
        \quad k_{ij} = e^{-\|x_i - x_j\|^2 / 2\sigma_{xy}^2
                          - \|a_i - a_j\|^2 / 2\sigma_{rgb}^2},

    with :math:`N(i)` the ``(2 radius + 1)^2`` window: a pair of nearby
    pixels of similar appearance costs what it disagrees. Every unordered
    pair is visited once (half the window's offsets, each a whole-map
    tensor operation) and counted twice, as the sum over ``i`` does.

    Args:
        scores (Tensor): (B, K, H, W) in [0, 1].
        appearance (Tensor): (B, C, H, W), e.g. RGB in [0, 1].
        valid (Tensor): (B, K, H, W), 1 where a pixel takes part, 0 where
            not (padding, ignored pixels).
        radius (int): Window radius in heatmap pixels.
        sigma_xy (float): Spatial bandwidth, heatmap pixels.
        sigma_rgb (float): Appearance bandwidth, in ``appearance`` units.

    Returns:
        Tensor: scalar, the energy per valid pixel (0 without any).
    """
    h, w = scores.shape[-2:]
    total = scores.new_zeros(())
    for dy in range(0, radius + 1):
        for dx in range(-radius, radius + 1):
            if (dy == 0 and dx <= 0) or dy >= h or abs(dx) >= w:
                continue  # the other half of the window, the pixel itself
            # the pairs (y, x) - (y + dy, x + dx) inside the map
            ys, xs = slice(0, h - dy), slice(max(0, -dx), w - max(0, dx))
            yt, xt = slice(dy, h), slice(max(0, dx), w - max(0, -dx))
            diff = (appearance[..., ys, xs] - appearance[..., yt, xt]).pow(2).sum(1, True)
            kernel = torch.exp(-(dy * dy + dx * dx) / (2 * sigma_xy ** 2)
                               - diff / (2 * sigma_rgb ** 2))
            p, q = scores[..., ys, xs], scores[..., yt, xt]
            disagree = p * (1 - q) + (1 - p) * q
            total = total + (kernel * disagree * valid[..., ys, xs] * valid[..., yt, xt]).sum()
    return 2 * total / valid.sum().clamp(min=1)


def variance_term(scores: Tensor, appearance: Tensor, valid: Tensor,
                  eps: float = 1e-6) -> Tensor:
    r"""The two-region variance (Mumford-Shah) energy of ``scores``, per
    frame and channel:

    .. math::

        E = \frac{\sum_i v_i [p_i \|a_i - \mu_1\|^2
                              + (1 - p_i) \|a_i - \mu_0\|^2]}
                 {\sum_i v_i \|a_i - \bar a\|^2},
        \quad \mu_1 = \frac{\sum_i v_i p_i a_i}{\sum_i v_i p_i},
        \ \mu_0 = \frac{\sum_i v_i (1 - p_i) a_i}{\sum_i v_i (1 - p_i)}:

    each region's appearance should vary little around its own mean, so a
    pixel that looks like the scored foreground is pulled up, whether it
    was labelled or not. Divided by the frame's total appearance variance
    (:math:`\bar a` its mean), E is the share of it the two regions leave
    unexplained (0 to 1), the same for a dull and a contrasted frame. Its
    gradient in :math:`p_i` is :math:`v_i (\|a_i - \mu_1\|^2 - \|a_i -
    \mu_0\|^2)` over the denominator (the means' own derivatives cancel
    at the weighted means).

    Args:
        scores (Tensor): (B, K, H, W) in [0, 1].
        appearance (Tensor): (B, C, H, W).
        valid (Tensor): (B, K, H, W) in {0, 1}.

    Returns:
        Tensor: scalar in [0, 1], the mean over frames and channels.
    """
    a = appearance.unsqueeze(1)  # (B, 1, C, H, W)

    def spread(weight):  # (B, K, H, W) -> (B, K): weighted squares about the weighted mean
        w = weight.unsqueeze(2)  # (B, K, 1, H, W)
        mean = (w * a).sum((-2, -1), True) / (w.sum((-2, -1), True) + eps)
        return (w * (a - mean).pow(2)).sum((2, 3, 4))

    energy = spread(scores * valid) + spread((1 - scores) * valid)  # foreground + background
    return (energy / (spread(valid) + eps)).mean()


@MODELS.register_module()
class ContextualRegularisationLoss(nn.Module):
    """PA-Seg's stage-one contextual regularisation on point heatmaps: a
    gated CRF term (:func:`gated_crf_term`: nearby pixels that look alike
    should score alike) and a variance term (:func:`variance_term`: pixels
    that look like the scored foreground should score like it). Neither
    needs a label, so both reach the nodules nobody clicked; the supervised
    loss keeps the peaks where the clicks are.

    Used by :class:`PointHeatmapHead` (``context_loss=...``) on its scores
    (after the head's activation) and the frame's appearance at heatmap
    resolution, ``gt_fields.appearance`` (the ``AppearanceMap`` transform).

    Scale: on a trained pasted stage one (4 training frames, gradients on
    the logits), the CRF term at weight 1 pulls about as hard as Crag and
    Tail (gradient norm 0.86x on the varied preset, 0.76x on HeLa); the
    variance term at weight 1 about 1% as hard on the varied preset (small
    nodules explain little of a frame's appearance) and 27% on HeLa.

    Args:
        crf_weight (float): Weight of the CRF term. Defaults to 0.1.
        variance_weight (float): Weight of the variance term. Defaults to 1.
        radius (int): CRF window radius, heatmap pixels. Defaults to 3.
        sigma_xy (float): CRF spatial bandwidth, heatmap pixels. Defaults
            to 3.
        sigma_rgb (float): CRF appearance bandwidth, in the appearance's
            units (RGB in [0, 1]: 0.1 is a tenth of the range). Defaults to
            0.1.
        loss_weight (float): Factor on the sum. Defaults to 1.
    """

    def __init__(self, crf_weight: float = 0.1, variance_weight: float = 1.0,
                 radius: int = 3, sigma_xy: float = 3.0, sigma_rgb: float = 0.1,
                 loss_weight: float = 1.0):
        super().__init__()
        if radius < 1 or sigma_xy <= 0 or sigma_rgb <= 0:
            raise ValueError('radius must be >= 1 and the bandwidths > 0, got '
                             f'radius={radius}, sigma_xy={sigma_xy}, sigma_rgb={sigma_rgb}')
        self.crf_weight = crf_weight
        self.variance_weight = variance_weight
        self.radius = int(radius)
        self.sigma_xy = float(sigma_xy)
        self.sigma_rgb = float(sigma_rgb)
        self.loss_weight = loss_weight

    def forward(self, scores: Tensor, appearance: Tensor,
                mask: Optional[Tensor] = None) -> Tensor:
        """Args:
            scores (Tensor): (B, K, H, W) in [0, 1] (clipped to it; computed
                in float32).
            appearance (Tensor): (B, C, H, W) at the heatmap's size.
            mask (Tensor, optional): (B, K, H, W), > 0 where a pixel takes
                part (e.g. the codec's ``heatmap_mask``); None: all.

        Returns:
            Tensor: scalar loss.
        """
        if appearance.shape[0] != scores.shape[0] or appearance.shape[-2:] != scores.shape[-2:]:
            raise ValueError(f'appearance {tuple(appearance.shape)} does not match the '
                             f'heatmaps {tuple(scores.shape)} (B, ., H, W)')
        scores = scores.float().clamp(0, 1)  # a regressed (MSE) heatmap may overshoot
        appearance = appearance.to(scores)
        valid = torch.ones_like(scores) if mask is None else (mask > 0).to(scores)
        loss = scores.new_zeros(())
        if self.crf_weight:
            loss = loss + self.crf_weight * gated_crf_term(
                scores, appearance, valid, self.radius, self.sigma_xy, self.sigma_rgb)
        if self.variance_weight:
            loss = loss + self.variance_weight * variance_term(scores, appearance, valid)
        return self.loss_weight * loss

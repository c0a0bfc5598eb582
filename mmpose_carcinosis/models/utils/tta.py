"""Flip test on raw heatmap outputs, shared by the stage-two teacher and the
ONNX export (a model's own ``predict`` uses MMPose's, in its estimator)."""
from typing import Optional, Sequence

from mmpose.models.utils.tta import flip_heatmaps
from torch import Tensor, nn


def flip_test_logits(net: nn.Module, inputs: Tensor, flip: bool, test_cfg: dict,
                     flip_indices: Optional[Sequence[int]] = None) -> Tensor:
    """Raw head outputs (B, K, H, W) of ``net`` (a bottom-up estimator with
    ``extract_feat`` and ``head``) on ``inputs`` (B, 3, h, w); with ``flip``
    the mean of the outputs on the frame and on its mirror, flipped back
    with MMPose's ``flip_heatmaps`` (``test_cfg``'s ``flip_mode`` and
    ``shift_heatmap``; ``flip_indices`` swap left/right classes, default
    none: point classes have no sides). Averaging before the activation,
    as MMPose's flip test does."""
    logits = net.head.forward(net.extract_feat(inputs))
    if not flip:
        return logits
    mirrored = flip_heatmaps(net.head.forward(net.extract_feat(inputs.flip(-1))),
                             flip_indices=list(flip_indices or range(logits.shape[1])),
                             flip_mode=test_cfg.get('flip_mode', 'heatmap'),
                             shift_heatmap=test_cfg.get('shift_heatmap', False))
    return (logits + mirrored) / 2

"""Flip test on raw heatmap outputs, shared by the stage-two teacher and the
ONNX export (a model's own ``predict`` uses MMPose's, in its estimator)."""
from typing import Optional, Sequence, Tuple, Union

from mmpose.models.utils.tta import flip_heatmaps
from torch import Tensor, nn


def flip_test_logits(net: nn.Module, inputs: Tensor, flip: bool, test_cfg: dict,
                     flip_indices: Optional[Sequence[int]] = None,
                     embed: bool = False) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """Raw head outputs (B, K, H, W) of ``net`` (a bottom-up estimator with
    ``extract_feat`` and ``head``) on ``inputs`` (B, 3, h, w); with ``flip``
    the mean of the outputs on the frame and on its mirror, flipped back
    with MMPose's ``flip_heatmaps`` (``test_cfg``'s ``flip_mode`` and
    ``shift_heatmap``; ``flip_indices`` swap left/right classes, default
    none: point classes have no sides). Averaging before the activation,
    as MMPose's flip test does. With ``embed`` (a ``PointHeatmapHead``):
    ``(logits, features)``, the head's features (B, C, H, W) of the frame
    itself (``PointHeatmapHead.embed``)."""
    feats = net.extract_feat(inputs)
    features = net.head.embed(feats) if embed else None
    logits = net.head.final_layer(features) if embed else net.head.forward(feats)
    if flip:
        mirrored = flip_heatmaps(net.head.forward(net.extract_feat(inputs.flip(-1))),
                                 flip_indices=list(flip_indices or range(logits.shape[1])),
                                 flip_mode=test_cfg.get('flip_mode', 'heatmap'),
                                 shift_heatmap=test_cfg.get('shift_heatmap', False))
        logits = (logits + mirrored) / 2
    return (logits, features) if embed else logits

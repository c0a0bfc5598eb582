"""A trained point model as one ONNX graph: normalisation, backbone, head,
score activation, flip test, max-pool NMS, top-k and sub-pixel refinement.

MMDeploy's pose task exports backbone and head only and lists no bottom-up
heatmap model; here the decoding is in the graph too, so a consumer gets
points and scores from onnxruntime alone and thresholds them.
"""
import json
from typing import Dict, Optional

import torch
from torch import Tensor, nn

from mmpose_carcinosis.models.utils import flip_test_logits


class PointModelForExport(nn.Module):
    """Wrap a ``BottomupPoseEstimator`` with a ``PointHeatmapHead``.

    Input: ``image`` (B, 3, H, W) float32, BGR, 0-255, at the model's input
    size (frames fitted into it as ``BottomupResize(resize_mode='fit')``
    does). Outputs: ``points`` (B, k, 2) in input pixels and ``scores``
    (B, k), best first, k = the decoder's ``decode_topk``; keep the points
    whose score reaches the threshold stored in the model's metadata.

    Args:
        model (nn.Module): The trained model, in eval mode.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        pre = model.data_preprocessor
        self.bgr_to_rgb = bool(getattr(pre, '_channel_conversion', False))
        normalize = getattr(pre, '_enable_normalize', False)
        device = next(model.parameters()).device
        self.register_buffer('mean', (pre.mean if normalize else torch.zeros(3, 1, 1)
                                      ).reshape(1, 3, 1, 1).float().to(device, copy=True))
        self.register_buffer('std', (pre.std if normalize else torch.ones(3, 1, 1)
                                     ).reshape(1, 3, 1, 1).float().to(device, copy=True))
        self.test_cfg = dict(model.test_cfg or {})
        self.codec = model.head.decoder

    def forward(self, image: Tensor):
        x = image.float()
        if self.bgr_to_rgb:
            x = x[:, [2, 1, 0]]
        x = (x - self.mean) / self.std
        logits = flip_test_logits(self.model, x, self.test_cfg.get('flip_test', False),
                                  self.test_cfg)
        xy, scores = self.codec.decode_tensors(self.model.head.activate(logits))
        return xy[:, 0], scores[:, 0]  # one keypoint class


def onnx_metadata(model: nn.Module, score_thr: float, extra: Optional[dict] = None
                  ) -> Dict[str, str]:
    """What a consumer needs besides the graph, as ONNX metadata strings."""
    codec = model.head.decoder
    pre = model.data_preprocessor
    meta = dict(
        input_size=json.dumps(list(map(int, codec.input_size))),  # (W, H)
        input_format='float32 BGR 0-255, (B, 3, H, W); normalised in the graph',
        resize='fit the frame into input_size keeping its aspect ratio, centred '
               '(MMPose BottomupResize resize_mode="fit")',
        mean=json.dumps([float(v) for v in pre.mean.reshape(-1)]),
        std=json.dumps([float(v) for v in pre.std.reshape(-1)]),
        score_thr=repr(float(score_thr)),
        topk=str(int(codec.decode_topk)),
        nms_kernel=str(int(codec.decode_nms_kernel)),
        outputs='points (B, k, 2) x, y in input pixels; scores (B, k); best first')
    meta.update({k: str(v) for k, v in (extra or {}).items()})
    return meta


def export_onnx(model: nn.Module, path: str, score_thr: float, opset: int = 17,
                extra_meta: Optional[dict] = None) -> None:
    """Trace ``model`` (wrapped in :class:`PointModelForExport`) into
    ``path`` with a dynamic batch, and store :func:`onnx_metadata`."""
    import warnings

    import onnx
    wrapper = PointModelForExport(model).eval()
    w, h = (int(v) for v in model.head.decoder.input_size)
    dummy = torch.zeros(1, 3, h, w, device=wrapper.mean.device)  # the model's device
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')  # tracer warnings on shape arithmetic
        torch.onnx.export(
            wrapper, dummy, path, dynamo=False, opset_version=opset,
            input_names=['image'], output_names=['points', 'scores'],
            dynamic_axes={'image': {0: 'batch'}, 'points': {0: 'batch'},
                          'scores': {0: 'batch'}})
    graph = onnx.load(path)
    onnx.checker.check_model(graph)
    for key, value in onnx_metadata(model, score_thr, extra_meta).items():
        graph.metadata_props.add(key=key, value=value)
    onnx.save(graph, path)

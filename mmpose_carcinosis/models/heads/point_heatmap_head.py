"""Heatmap head that decodes many points per frame (NMS + threshold + top-k)."""
import inspect
from typing import Optional, Tuple

import numpy as np
import torch
from mmengine.structures import InstanceData, PixelData
from mmpose.models.heads import HeatmapHead
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, Features, OptSampleList, Predictions
from torch import Tensor


@MODELS.register_module()
class PointHeatmapHead(HeatmapHead):
    """MMPose's :class:`HeatmapHead` for point detection: the network output
    is a (logit) heatmap with one channel per class; ``predict`` turns it into
    a variable number of points per frame with the codec's NMS, score
    threshold and top-k.

    Differences from :class:`HeatmapHead`:

    - ``score_activation``: ``'sigmoid'`` when the loss takes logits
      (:class:`CragTailLoss`, :class:`HillLoss`); ``None`` when the output is
      regressed directly onto the heatmap (``KeypointMSELoss``). Scores and
      the returned ``heatmaps`` are after this activation.
    - the loss is computed on the whole heatmap (all points of the frame),
      without per-keypoint target weights, and no PCK accuracy is logged
      (it assumes one instance per heatmap).
    - points more than ``frame_margin`` heatmap pixels outside the frame
      are dropped and the rest moved into it (:func:`inside_frame`): a
      frame resized to fit the input (``BottomupResize``,
      ``resize_mode='fit'``) is padded, and a peak in the padding, where
      the network sees a frame edge, is never a point of the frame.

    Args:
        score_activation (str, optional): ``'sigmoid'`` or ``None``.
            Defaults to ``'sigmoid'``.
        frame_margin (float, optional): How far outside the frame a point
            may lie, in heatmap pixels (a peak of a nodule cut by the frame
            edge can fall up to about one outside); ``None`` keeps every
            point. Defaults to 1.0.
        context_loss (dict, optional): A label-free loss on the scores and
            the frame's appearance (``ContextualRegularisationLoss``), added
            to the training loss as ``loss_context``; the training pipeline
            must then pack ``gt_fields.appearance`` (``AppearanceMap``).
            Defaults to None.
        **kwargs: see :class:`mmpose.models.heads.HeatmapHead`. ``decoder``
            should be a :class:`MultiInstanceGaussianHeatmap` config.
    """

    def __init__(self, *args, score_activation: Optional[str] = 'sigmoid',
                 frame_margin: Optional[float] = 1.0,
                 context_loss: Optional[ConfigType] = None, **kwargs):
        if score_activation not in ('sigmoid', None):
            raise ValueError('score_activation must be "sigmoid" or None, got '
                             f'{score_activation!r}')
        super().__init__(*args, **kwargs)
        self.score_activation = score_activation
        self.frame_margin = frame_margin
        self.context_module = None if context_loss is None else MODELS.build(context_loss)
        # MMPose's losses (KeypointMSELoss) take no confirmed negatives: they
        # push every unlabeled pixel to zero already
        self.loss_takes_negatives = 'negatives' in inspect.signature(
            self.loss_module.forward).parameters

    def compute_loss(self, outputs: Tensor, target: Tensor, mask: Optional[Tensor] = None,
                     negatives: Optional[Tensor] = None) -> Tensor:
        """The loss of outputs (B, K, H, W) against ``target``, with the
        optional pixel ``mask`` and confirmed ``negatives`` (passed where
        the loss takes them)."""
        if negatives is None or not self.loss_takes_negatives:
            return self.loss_module(outputs, target, None, mask)
        return self.loss_module(outputs, target, None, mask, negatives)

    def embed(self, feats: Tuple[Tensor]) -> Tensor:
        """(B, C, H, W) features at heatmap resolution: MMPose's
        :meth:`HeatmapHead.forward` up to its ``final_layer`` (what each
        heatmap pixel's logit is a linear function of)."""
        return self.conv_layers(self.deconv_layers(feats[-1]))

    def forward(self, feats: Tuple[Tensor]) -> Tensor:
        """Raw outputs (B, K, H, W): ``final_layer`` on :meth:`embed`."""
        return self.final_layer(self.embed(feats))

    def activate(self, heatmaps: Tensor) -> Tensor:
        """Map raw outputs (B, K, H, W) to scores (B, K, H, W)."""
        if self.score_activation == 'sigmoid':
            return heatmaps.float().sigmoid()
        return heatmaps.float()

    def decode(self, batch_outputs: Tensor):
        """Decode raw outputs (B, K, H, W) into per-frame points: a list of
        ``InstanceData`` with ``keypoints`` (M, K, 2) in model-input pixels
        and ``keypoint_scores`` (M, K)."""
        return super().decode(self.activate(batch_outputs))

    def predict(self,
                feats: Features,
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """Predict points; flip test (``test_cfg.flip_test``) averages the
        raw outputs of the image and its mirror before activation. With
        ``test_cfg.output_heatmaps`` the score heatmaps (K, H, W) are
        returned as ``PixelData`` too. Points beyond ``frame_margin``
        outside the frame are dropped."""
        preds = super().predict(feats, batch_data_samples, test_cfg)
        fields = None
        if isinstance(preds, tuple):
            preds, fields = preds
            fields = [PixelData(heatmaps=self.activate(f.heatmaps[None])[0])
                      for f in fields]
        if self.frame_margin is not None and batch_data_samples is not None:
            margin = self.frame_margin * np.asarray(self.decoder.scale_factor, np.float64)
            preds = [inside_frame(p, d.metainfo, margin)
                     for p, d in zip(preds, batch_data_samples)]
        return preds if fields is None else (preds, fields)

    def loss(self,
             feats: Tuple[Tensor],
             batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> dict:
        """Loss of the (B, K, H, W) output against the stacked
        ``gt_fields.heatmaps`` of the batch; an optional
        ``gt_fields.heatmap_mask`` excludes pixels, optional
        ``gt_fields.negatives`` (> 0: confirmed negatives, a reviewer's
        rejections or a dense frame) get the loss's full negative term
        (:func:`stacked_field`). With ``context_loss``, ``loss_context`` on
        the scores and ``gt_fields.appearance`` (B, C, H, W)."""
        outputs = self.forward(feats)
        gt_heatmaps = torch.stack(
            [d.gt_fields.heatmaps for d in batch_data_samples])
        mask = stacked_field(batch_data_samples, 'heatmap_mask', 1.0)  # missing: all valid
        negatives = stacked_field(batch_data_samples, 'negatives', 0.0)
        losses = dict(loss_kpt=self.compute_loss(outputs, gt_heatmaps, mask, negatives))
        if self.context_module is not None:
            if any('appearance' not in d.gt_fields for d in batch_data_samples):
                raise KeyError('context_loss needs gt_fields.appearance: put '
                               "dict(type='AppearanceMap') after GenerateTarget in the "
                               'training pipeline')
            appearance = torch.stack([d.gt_fields.appearance for d in batch_data_samples])
            losses['loss_context'] = self.context_module(self.activate(outputs), appearance,
                                                         mask)
        return losses


def stacked_field(batch_data_samples, name: str, fill: float) -> Optional[Tensor]:
    """``gt_fields.<name>`` of the batch stacked (B, ...), ``fill`` (shaped
    like ``gt_fields.heatmaps``) for samples without one; None if no sample
    has one (the codec writes ``negatives`` only for frames that have
    any)."""
    fields = [d.gt_fields.get(name) for d in batch_data_samples]
    if all(f is None for f in fields):
        return None
    return torch.stack([torch.full_like(d.gt_fields.heatmaps, fill) if f is None else f
                        for d, f in zip(batch_data_samples, fields)])


def inside_frame(pred: InstanceData, metainfo: dict, margin: float) -> InstanceData:
    """A frame's decoded points without those farther than ``margin``
    outside it, the rest clipped to its pixel centres (0 .. W-1, 0 .. H-1).

    Args:
        pred (InstanceData): ``keypoints`` (M, K, 2) in input pixels and
            ``keypoint_scores`` (M, K), as the decoder gives them.
        metainfo (dict): The sample's ``ori_shape`` (H, W) and the
            ``input_size``, ``input_center`` and ``input_scale`` that map
            input pixels to frame pixels (MMPose's bottom-up convention);
            without them the points are kept.
        margin (np.ndarray | float): Input pixels, per axis (x, y).

    Returns:
        InstanceData: the rows with a point inside, in input pixels; with
        K > 1 the entries outside get score 0.
    """
    if not all(k in metainfo for k in ('ori_shape', 'input_size', 'input_center',
                                       'input_scale')) or not len(pred):
        return pred
    size = np.asarray(metainfo['input_size'], np.float64)
    scale = np.asarray(metainfo['input_scale'], np.float64).reshape(-1)[:2]
    centre = np.asarray(metainfo['input_center'], np.float64).reshape(-1)[:2]
    h, w = metainfo['ori_shape'][:2]

    def to_input(frame_xy):  # frame pixels -> input pixels (inverse of MMPose's map)
        return (np.asarray(frame_xy, np.float64) - centre + 0.5 * scale) * size / scale

    xy = np.asarray(pred.keypoints, np.float64)
    # the frame's edges are at -0.5 and W - 0.5 (pixel centres at 0 .. W-1)
    ok = ((xy >= to_input([-0.5, -0.5]) - margin) &
          (xy <= to_input([w - 0.5, h - 0.5]) + margin)).all(-1)  # (M, K)
    out = pred.clone()
    out.keypoints = np.clip(xy, to_input([0, 0]), to_input([w - 1, h - 1])).astype(
        np.asarray(pred.keypoints).dtype)
    if ok.shape[-1] > 1:
        scores = np.array(out.keypoint_scores, copy=True)
        scores[~ok] = 0
        out.keypoint_scores = scores
    return out[ok.any(-1)]

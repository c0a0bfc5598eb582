"""The training frame's appearance at heatmap resolution, for losses that
compare what pixels look like (ContextualRegularisationLoss)."""
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmpose.datasets.transforms import PackPoseInputs
from mmpose.registry import TRANSFORMS


@TRANSFORMS.register_module()
class AppearanceMap(BaseTransform):
    """Add the (augmented) input image, area-averaged to the heatmap's size,
    as ``appearance`` (C, h, w) float32 in [0, 1], RGB, and pack it into
    ``gt_fields.appearance`` (:class:`PackPoseInputs` packs what
    ``field_mapping_table`` lists; this adds the entry).

    Put it after ``GenerateTarget`` (whose ``heatmaps`` give the size) and
    before ``PackPoseInputs``, in the training pipeline only.

    Required keys: ``img`` (H, W, 3) BGR as ``LoadImage`` reads it, or
    (H, W); ``heatmaps`` (K, h, w). Added keys: ``appearance``,
    ``field_mapping_table``.

    Args:
        to_rgb (bool): Reorder a 3-channel BGR image to RGB. Defaults to
            True.
    """

    def __init__(self, to_rgb: bool = True):
        super().__init__()
        self.to_rgb = to_rgb

    def transform(self, results: dict) -> dict:
        if 'heatmaps' not in results:
            raise KeyError('AppearanceMap needs the encoded heatmaps: put it after '
                           f'GenerateTarget (image {results.get("img_path", "?")})')
        h, w = np.shape(results['heatmaps'])[-2:]
        img = np.asarray(results['img'])
        small = mmcv.imresize(img, (w, h), interpolation='area').reshape(h, w, -1)
        if self.to_rgb and small.shape[-1] == 3:
            small = mmcv.bgr2rgb(small)
        scale = 255.0 if img.dtype == np.uint8 else 1.0
        results['appearance'] = small.transpose(2, 0, 1).astype(np.float32) / np.float32(scale)
        table = dict(results.get('field_mapping_table', PackPoseInputs.field_mapping_table))
        table['appearance'] = 'appearance'
        results['field_mapping_table'] = table
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(to_rgb={self.to_rgb})'

"""Random flip whose keypoints land where the flipped image puts them."""
from typing import Dict

import numpy as np
from mmpose.datasets.transforms import RandomFlip
from mmpose.registry import TRANSFORMS
from mmpose.structures.keypoint import flip_keypoints


@TRANSFORMS.register_module()
class PointRandomFlip(RandomFlip):
    """MMPose's :class:`RandomFlip` for non-square inputs, with confirmed
    negatives.

    MMPose 1.3's ``RandomFlip`` reads ``results['input_size']``, which
    ``BottomupRandomAffine`` stores as (w, h), as (h, w) (mmpose#2925,
    #3015): after a bottom-up affine to a non-square input a horizontal flip
    mirrors the image about its width but the keypoints about its height.
    At 480x288 a click at x lands 192 px from its nodule; every flipped
    training frame was mislabelled. Here MMPose's flip runs with the current
    image's (h, w) in that key (restored afterwards), so image, boxes and
    keypoints are mirrored alike. ``negative_keypoints`` (R, 2), a
    reviewer's rejections, are mirrored with them. Arguments are those of
    ``RandomFlip``.
    """

    def transform(self, results: Dict) -> dict:
        img = results['img'][0] if isinstance(results['img'], list) else results['img']
        h, w = img.shape[:2]
        had_size = 'input_size' in results
        input_size = results.get('input_size')
        results['input_size'] = (h, w)  # the (h, w) MMPose's RandomFlip reads
        results = super().transform(results)
        if had_size:
            results['input_size'] = input_size
        else:
            results.pop('input_size')
        neg = results.get('negative_keypoints')
        if results['flip'] and neg is not None and len(neg):
            pts = np.asarray(neg, np.float32)[:, None]
            flipped, _ = flip_keypoints(pts, np.ones(pts.shape[:2], np.float32),
                                        image_size=(w, h), flip_indices=[0],
                                        direction=results['flip_direction'])
            results['negative_keypoints'] = flipped[:, 0]
        return results

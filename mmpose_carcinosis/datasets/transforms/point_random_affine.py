"""Random affine augmentation for frames that may hold no point at all."""
from typing import Dict, Optional

import cv2
import numpy as np
from mmpose.datasets.transforms import BottomupRandomAffine
from mmpose.registry import TRANSFORMS


def warp_points(points: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """(N, 2) ``points`` moved by ``mat``, a (2, 3) affine or (3, 3)
    perspective warp matrix (the ``warp_mat`` of MMPose's affines)."""
    pts = np.asarray(points, np.float32).reshape(-1, 1, 2)
    if not len(pts):
        return pts.reshape(0, 2)
    moved = cv2.transform(pts, mat) if mat.shape[0] == 2 else cv2.perspectiveTransform(pts, mat)
    return moved.reshape(-1, moved.shape[-1])[:, :2]


@TRANSFORMS.register_module()
class PointRandomAffine(BottomupRandomAffine):
    """:class:`mmpose.datasets.transforms.BottomupRandomAffine` that also
    accepts frames with zero points.

    MMPose's transform passes the (0, K, 2) keypoint array to
    ``cv2.transform``, which returns ``None`` for empty input, and then
    fails. Frames without clicks are common in sparse annotation (and
    carry background information), so here the image is warped as usual and
    the empty keypoint array is kept. ``negative_keypoints`` (R, 2), a
    reviewer's rejections, are warped like the keypoints. Arguments are those
    of ``BottomupRandomAffine``.
    """

    def transform(self, results: Dict) -> Optional[dict]:
        kpts = results.get('keypoints')
        if kpts is None or len(kpts) > 0:
            results = super().transform(results)
        else:
            results.pop('keypoints')
            results = super().transform(results)
            results['keypoints'] = np.asarray(kpts, dtype=np.float32)
        neg = results.get('negative_keypoints')
        if neg is not None and len(neg):
            results['negative_keypoints'] = warp_points(neg, results['warp_mat'])
        return results

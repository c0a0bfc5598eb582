"""Random affine augmentation for frames that may hold no point at all."""
from typing import Dict, Optional

import numpy as np
from mmpose.datasets.transforms import BottomupRandomAffine
from mmpose.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PointRandomAffine(BottomupRandomAffine):
    """:class:`mmpose.datasets.transforms.BottomupRandomAffine` that also
    accepts frames with zero points.

    MMPose's transform passes the (0, K, 2) keypoint array to
    ``cv2.transform``, which returns ``None`` for empty input, and then
    fails. Frames without clicks are common in sparse annotation (and
    carry background information), so here the image is warped as usual and
    the empty keypoint array is kept. Arguments are those of
    ``BottomupRandomAffine``.
    """

    def transform(self, results: Dict) -> Optional[dict]:
        kpts = results.get('keypoints')
        if kpts is None or len(kpts) > 0:
            return super().transform(results)
        results.pop('keypoints')
        results = super().transform(results)
        results['keypoints'] = np.asarray(kpts, dtype=np.float32)
        return results

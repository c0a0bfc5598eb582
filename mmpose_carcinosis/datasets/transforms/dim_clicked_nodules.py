"""Show the network faint nodules with a label: clicked nodules dimmed in
place (a debiasing augmentation against the annotators' pull to the obvious)."""
from typing import Dict, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmpose.registry import TRANSFORMS


def nodule_profile(d: np.ndarray, radius: float) -> np.ndarray:
    """The weight of a nodule's pixels at distances ``d`` from its point: 1
    up to ``radius``, fading linearly to 0 at ``2 * radius``."""
    return np.clip((2 * radius - d) / radius, 0, 1)


def ring(d: np.ndarray, radius: float) -> np.ndarray:
    """The surround whose mean colour is a nodule's background: distances
    ``d`` from ``2 * radius`` to ``3 * radius``."""
    return (d >= 2 * radius) & (d < 3 * radius)


@TRANSFORMS.register_module()
class DimClickedNodules(BaseTransform):
    """Dim some clicked nodules towards their surround, keeping their label.

    Annotators click the obvious nodules, so every positive the network sees
    is obvious and a faint nodule looks like background to it. Here each
    visible keypoint, with probability ``prob``, keeps only a fraction ``a``
    (uniform in ``factor``) of its contrast: within ``radius`` pixels of the
    point the image becomes ``bg + a * (img - bg)``, where ``bg`` is the mean
    colour of the ring from ``2 * radius`` to ``3 * radius`` around it; from
    ``radius`` to ``2 * radius`` the effect fades linearly to nothing. Where
    two nodules' regions overlap, the stronger dimming wins. The keypoints
    are unchanged: the dimmed nodule stays a positive.

    Put it after ``LoadImage`` and before the geometric transforms (radius
    in the frame's own pixels).

    Required keys: ``img`` (H, W, C) or (H, W), ``keypoints`` (N, K, 2),
    ``keypoints_visible`` (N, K). Modified key: ``img`` (same dtype).

    Args:
        radius (float): Nodule radius in frame pixels.
        prob (float): Probability that a clicked nodule is dimmed.
            Defaults to 0.5.
        factor (Sequence[float]): Range of the contrast kept, in [0, 1].
            Defaults to (0.2, 0.6).
    """

    def __init__(self, radius: float, prob: float = 0.5,
                 factor: Sequence[float] = (0.2, 0.6)):
        if not radius > 0:
            raise ValueError(f'radius must be > 0, got {radius}')
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        lo, hi = factor
        if not 0 <= lo <= hi <= 1:
            raise ValueError(f'factor must be (low, high) with 0 <= low <= high <= 1, '
                             f'got {factor}')
        self.radius = float(radius)
        self.prob = float(prob)
        self.factor = (float(lo), float(hi))

    def transform(self, results: Dict) -> Dict:
        kpts = np.asarray(results['keypoints'], np.float64).reshape(-1, 2)
        vis = np.asarray(results.get('keypoints_visible', np.ones(len(kpts)))).reshape(-1) > 0
        pts = kpts[vis]
        chosen = np.random.rand(len(pts)) < self.prob
        if not chosen.any():
            return results
        pts = pts[chosen]
        keep = np.random.uniform(*self.factor, size=len(pts))
        results['img'] = self.dim(results['img'], pts, keep)
        return results

    def dim(self, img: np.ndarray, pts: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """``img`` (H, W[, C]) with the nodules at ``pts`` (P, 2) keeping
        ``keep`` (P,) of their contrast; a new array of the same dtype."""
        r = self.radius
        h, w = img.shape[:2]
        # the region the points can touch (their rings included)
        x0, y0 = np.floor(np.clip(pts.min(0) - 3 * r, 0, [w, h])).astype(int)
        x1, y1 = np.ceil(np.clip(pts.max(0) + 3 * r + 1, 0, [w, h])).astype(int)
        if x1 <= x0 or y1 <= y0:
            return img
        patch = img[y0:y1, x0:x1].astype(np.float32)
        flat = patch.reshape(patch.shape[0], patch.shape[1], -1)  # (h, w, C)
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        d = np.hypot(xx[None] - pts[:, 0, None, None], yy[None] - pts[:, 1, None, None])
        around = ring(d, r).astype(np.float32)  # (P, h, w)
        n = around.sum((1, 2))
        # a nodule without a ring in the frame keeps its own mean: no change
        bg = np.einsum('phw,hwc->pc', around, flat) / np.maximum(n, 1)[:, None]  # (P, C)
        strength = nodule_profile(d, r) * (1 - keep)[:, None, None]
        strength[n == 0] = 0
        best = strength.argmax(0)  # (h, w)
        s = np.take_along_axis(strength, best[None], 0)[0][..., None]
        out = flat + s * (bg[best] - flat)
        if np.issubdtype(img.dtype, np.integer):
            info = np.iinfo(img.dtype)
            out = np.clip(np.rint(out), info.min, info.max)
        result = img.copy()
        result[y0:y1, x0:x1] = out.reshape(patch.shape).astype(img.dtype)
        return result

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(radius={self.radius}, prob={self.prob}, '
                f'factor={self.factor})')

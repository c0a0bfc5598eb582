"""Show the network faint nodules with a label: dimmed, smaller, blurred
copies of clicked nodules pasted on the background as new labelled points
(copy-paste against the annotators' pull to the obvious)."""
from typing import Dict, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmcv.transforms import BaseTransform
from mmpose.registry import TRANSFORMS

from .dim_clicked_nodules import nodule_profile, ring

#: per-instance keys a pasted point extends, and the value it gets
INSTANCE_FILL = dict(category_id=1, id=None, group='pasted')


def _unit_range(name: str, value: Sequence[float], low: float, high: float):
    lo, hi = (float(v) for v in value)
    if not low <= lo <= hi <= high:
        raise ValueError(f'{name} must be (low, high) with {low:g} <= low <= high <= '
                         f'{high:g}, got {value}')
    return lo, hi


@TRANSFORMS.register_module()
class PasteDimmedNodules(BaseTransform):
    """Paste dimmed, smaller, blurred copies of clicked nodules on the
    background, each a new labelled point.

    Annotators click the obvious nodules, so the network never sees a faint
    one labelled. Each visible keypoint, with probability ``prob``, gives
    one copy (at most ``max_pastes`` per frame):

    - the nodule is its deviation from its surround: ``img - bg`` within
      ``2 * radius`` pixels of the point, where ``bg`` is the mean colour of
      the ring from ``2 * radius`` to ``3 * radius``, weighted 1 up to
      ``radius`` and fading linearly to 0 at ``2 * radius`` (the profile of
      :class:`DimClickedNodules`);
    - it is resized by a factor ``s`` (uniform in ``scale``, one per frame,
      bilinear), blurred with a Gaussian of standard deviation ``sigma``
      pixels (uniform in ``blur``, one per frame; 0: none) and multiplied
      by ``a`` (uniform in ``factor``, one per copy): the contrast it keeps;
    - it is added at a place drawn uniformly in the frame at least
      ``min_distance`` pixels from every keypoint, every confirmed negative
      and every earlier copy; a copy that finds no such place in ``tries``
      draws is not pasted.

    The copies' centres are appended to ``keypoints`` (visible), and
    ``category_id``, ``id`` and ``group`` (``'pasted'``) are extended when
    present. Put it after ``LoadImage`` and before the geometric transforms
    (radius in the frame's own pixels).

    Required keys: ``img`` (H, W, C) or (H, W), ``keypoints`` (N, 1, 2),
    ``keypoints_visible`` (N, 1). Modified keys: ``img`` (same dtype),
    ``keypoints``, ``keypoints_visible``, and when present ``category_id``,
    ``id``, ``group``.

    Args:
        radius (float): Nodule radius in frame pixels.
        prob (float): Probability that a clicked nodule is copied.
            Defaults to 0.5.
        factor (Sequence[float]): Range of the contrast a copy keeps, in
            [0, 1]. Defaults to (0.2, 0.6).
        scale (Sequence[float]): Range of the copies' size factor, in
            (0, 1]. Defaults to (0.6, 1.0).
        blur (Sequence[float]): Range of the Gaussian blur's standard
            deviation, pixels. Defaults to (0.0, 1.0).
        max_pastes (int): Most copies per frame. Defaults to 5.
        min_distance (float, optional): Frame pixels between a copy and any
            other point. Defaults to ``4 * radius`` (no two copies' regions
            overlap).
        tries (int): Places drawn per copy. Defaults to 20.
    """

    def __init__(self, radius: float, prob: float = 0.5,
                 factor: Sequence[float] = (0.2, 0.6),
                 scale: Sequence[float] = (0.6, 1.0),
                 blur: Sequence[float] = (0.0, 1.0), max_pastes: int = 5,
                 min_distance: float = None, tries: int = 20):
        if not radius > 0:
            raise ValueError(f'radius must be > 0, got {radius}')
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.radius = float(radius)
        self.prob = float(prob)
        self.factor = _unit_range('factor', factor, 0.0, 1.0)
        self.scale = _unit_range('scale', scale, 1e-3, 1.0)
        self.blur = _unit_range('blur', blur, 0.0, np.inf)
        if not (isinstance(max_pastes, int) and max_pastes >= 0):
            raise ValueError(f'max_pastes must be an int >= 0, got {max_pastes!r}')
        self.max_pastes = max_pastes
        self.min_distance = 4 * self.radius if min_distance is None else float(min_distance)
        if not self.min_distance >= 0:
            raise ValueError(f'min_distance must be >= 0, got {min_distance}')
        if not (isinstance(tries, int) and tries >= 1):
            raise ValueError(f'tries must be an int >= 1, got {tries!r}')
        self.tries = tries

    # -- the copies -------------------------------------------------------

    def nodules(self, img: np.ndarray, pts: np.ndarray) -> np.ndarray:
        """(P, 2R+1, 2R+1, C) float32: the nodules at ``pts`` (P, 2) as
        deviations from their ring's mean colour, weighted by the profile
        (``R = ceil(2 * radius)``; pixels outside the frame are 0)."""
        r = self.radius
        half = int(np.ceil(3 * r))  # the window holds the ring
        h, w = img.shape[:2]
        flat = img.reshape(h, w, -1).astype(np.float32)
        centre = np.rint(pts).astype(int)  # (P, 2)
        offs = np.arange(-half, half + 1)
        ys = centre[:, 1, None] + offs[None]  # (P, S)
        xs = centre[:, 0, None] + offs[None]
        inside = ((ys >= 0) & (ys < h))[:, :, None] & ((xs >= 0) & (xs < w))[:, None, :]
        win = flat[np.clip(ys, 0, h - 1)[:, :, None], np.clip(xs, 0, w - 1)[:, None, :]]
        # distance of each window pixel to the (sub-pixel) point
        dy = ys - pts[:, 1, None]
        dx = xs - pts[:, 0, None]
        d = np.hypot(dy[:, :, None], dx[:, None, :])  # (P, S, S)
        around = (ring(d, r) & inside).astype(np.float32)
        bg = np.einsum('pyx,pyxc->pc', around, win) / np.maximum(around.sum((1, 2)), 1)[:, None]
        weight = nodule_profile(d, r) * inside
        dev = ((win - bg[:, None, None]) * weight[..., None]).astype(np.float32)
        keep = int(np.ceil(2 * r))  # beyond 2r the weight is 0
        return dev[:, half - keep:half + keep + 1, half - keep:half + keep + 1]

    def shape(self, dev: np.ndarray, s: float, sigma: float) -> np.ndarray:
        """``dev`` (P, S, S, C) resized by ``s`` (odd side, centre kept)
        and blurred with a Gaussian of ``sigma`` pixels."""
        x = torch.from_numpy(np.ascontiguousarray(dev)).permute(0, 3, 1, 2)  # (P, C, S, S)
        half = (dev.shape[1] - 1) // 2
        side = 2 * max(1, int(round(half * s))) + 1
        if side != dev.shape[1]:
            x = F.interpolate(x, size=(side, side), mode='bilinear', align_corners=True)
        if sigma > 0:
            k = int(np.ceil(3 * sigma))
            g = torch.exp(-torch.arange(-k, k + 1, dtype=torch.float32)**2 / (2 * sigma**2))
            g = g / g.sum()
            c = x.shape[1]
            x = F.pad(x, (k, k, k, k))
            x = F.conv2d(x, g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
            x = F.conv2d(x, g.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
        return x.permute(0, 2, 3, 1).numpy()

    def places(self, others: np.ndarray, count: int, half: int, h: int, w: int):
        """Where ``count`` copies go: per copy the first of ``tries``
        uniform draws (the copy's window inside the frame) at least
        ``min_distance`` from ``others`` (Q, 2); a copy without one, or too
        close to an earlier copy's place, is dropped. Returns the centres
        (M, 2) float32 and which copies they belong to (M,) int."""
        if w <= 2 * half or h <= 2 * half or count == 0:
            return np.zeros((0, 2), np.float32), np.zeros(0, int)
        cand = np.stack([np.random.randint(half, w - half, size=(count, self.tries)),
                         np.random.randint(half, h - half, size=(count, self.tries))],
                        -1).astype(np.float32)  # (count, tries, 2)
        if len(others):
            d = np.linalg.norm(cand[:, :, None] - others[None, None], axis=-1).min(-1)
            ok = d >= self.min_distance
        else:
            ok = np.ones(cand.shape[:2], bool)
        found = np.flatnonzero(ok.any(1))
        first = cand[found, ok.argmax(1)[found]]
        # copies against each other: keep one unless an earlier kept one is
        # too close (at most count <= max_pastes, a handful)
        close = np.linalg.norm(first[:, None] - first[None], axis=-1) < self.min_distance
        keep = np.ones(len(first), bool)
        for i in range(1, len(first)):
            keep[i] = not (close[i, :i] & keep[:i]).any()
        return first[keep], found[keep]

    def paste(self, img: np.ndarray, dev: np.ndarray, at: np.ndarray,
              keep: np.ndarray) -> np.ndarray:
        """``img`` with ``keep`` (M,) times the deviations ``dev`` (M, S, S,
        C) added around the centres ``at`` (M, 2); a new array, same dtype
        (integers rounded and clipped)."""
        h, w = img.shape[:2]
        flat = img.reshape(h, w, -1).astype(np.float32)
        half = (dev.shape[1] - 1) // 2
        offs = np.arange(-half, half + 1)
        c = at.astype(int)
        ys = (c[:, 1, None] + offs[None])[:, :, None]  # (M, S, 1)
        xs = (c[:, 0, None] + offs[None])[:, None, :]  # (M, 1, S)
        np.add.at(flat, (ys, xs), keep[:, None, None, None] * dev)
        if np.issubdtype(img.dtype, np.integer):
            info = np.iinfo(img.dtype)
            flat = np.clip(np.rint(flat), info.min, info.max)
        return flat.reshape(img.shape).astype(img.dtype)

    # -- the transform ----------------------------------------------------

    def transform(self, results: Dict) -> Dict:
        kpts = np.asarray(results['keypoints'], np.float32).reshape(-1, 2)
        vis = np.asarray(results.get('keypoints_visible', np.ones(len(kpts)))).reshape(-1) > 0
        src = kpts[vis][np.random.rand(int(vis.sum())) < self.prob][:self.max_pastes]
        if not len(src):
            return results
        img = results['img']
        h, w = img.shape[:2]
        s = np.random.uniform(*self.scale)
        sigma = np.random.uniform(*self.blur)
        dev = self.shape(self.nodules(img, src), s, sigma)
        negatives = np.asarray(results.get('negative_keypoints', np.zeros((0, 2))),
                               np.float32).reshape(-1, 2)
        at, which = self.places(np.concatenate([kpts, negatives]), len(src),
                                (dev.shape[1] - 1) // 2, h, w)
        if not len(at):
            return results
        dev = dev[which]
        keep = np.random.uniform(*self.factor, size=len(at)).astype(np.float32)
        results['img'] = self.paste(img, dev, at, keep)
        self.add_points(results, at)
        return results

    @staticmethod
    def add_points(results: Dict, at: np.ndarray) -> None:
        """Append the centres ``at`` (M, 2) as visible keypoints and extend
        the per-instance keys present."""
        n = len(at)
        kpts = np.asarray(results['keypoints'], np.float32).reshape(-1, 1, 2)
        results['keypoints'] = np.concatenate([kpts, at.reshape(n, 1, 2).astype(np.float32)])
        vis = np.asarray(results.get('keypoints_visible', np.ones((len(kpts), 1))),
                         np.float32).reshape(len(kpts), -1)
        results['keypoints_visible'] = np.concatenate(
            [vis, np.ones((n, vis.shape[1]), np.float32)])
        for key, fill in INSTANCE_FILL.items():
            if key not in results:
                continue
            old = results[key]
            if isinstance(old, np.ndarray):
                results[key] = np.concatenate([old, np.full(n, fill, old.dtype)])
            else:
                results[key] = list(old) + [fill] * n

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(radius={self.radius}, prob={self.prob}, '
                f'factor={self.factor}, scale={self.scale}, blur={self.blur}, '
                f'max_pastes={self.max_pastes}, min_distance={self.min_distance}, '
                f'tries={self.tries})')

"""Multi-instance Gaussian heatmap codec for point-like objects."""
from typing import List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmpose.codecs.base import BaseKeypointCodec
from mmpose.registry import KEYPOINT_CODECS
from torch import Tensor

from .utils import heatmap_nms


@KEYPOINT_CODECS.register_module()
class MultiInstanceGaussianHeatmap(BaseKeypointCodec):
    """Encode every point of a frame into one Gaussian heatmap per class, and
    decode heatmaps into points with max-pooling NMS, a score threshold and
    top-k (the CenterNet decoder).

    Coordinates follow MMPose's heatmap convention: heatmap pixel ``(i, j)``
    corresponds to input-image position ``(i * sx, j * sy)`` with
    ``(sx, sy) = input_size / heatmap_size``. Centres are sub-pixel: the
    Gaussian is evaluated at the exact (not rounded) point position, and the
    decoder recovers the sub-pixel peak with a log-parabola fit, which is
    exact for an isolated Gaussian.

    Note:
        - instance number: N (one annotated point per instance)
        - keypoint (class) number: K (1 for carcinosis)
        - heatmap size: [W, H]

    Args:
        input_size (tuple): Model input size ``[w, h]``.
        heatmap_size (tuple): Heatmap size ``[W, H]``.
        sigma (float): Gaussian standard deviation in heatmap pixels.
        merge (str): How overlapping Gaussians combine: ``'max'`` (values
            stay exact peaks) or ``'sum'`` (as in the reference study; the
            result is clipped to 1). Defaults to ``'max'``.
        radius_sigmas (float): Each Gaussian is drawn in a square window of
            half-size ``ceil(radius_sigmas * sigma)`` pixels around its
            nearest pixel and is zero outside it (MMPose's
            ``generate_gaussian_heatmaps`` uses 3). Defaults to 3.
        decode_nms_kernel (int): Max-pooling NMS window (odd). Defaults to 5.
        decode_topk (int): At most this many points per frame and class.
            Defaults to 30 (the study's k).
        decode_thr (float): Peaks scoring below it are dropped. Defaults
            to 0.1.
        decode_subpixel (bool): Refine peaks to sub-pixel positions.
            Defaults to True.
        negative_radius (float, optional): Heatmap pixels around a
            confirmed negative (a reviewer's rejection) marked in the
            ``negatives`` map. Defaults to ``radius_sigmas * sigma`` (the
            extent of a click's Gaussian).

    Confirmed negatives: with ``negative_keypoints`` (R, 2) and ``dense``
    in the sample (:class:`CarcinosisDataset` gives both; MMPose's
    ``GenerateTarget`` passes them, :attr:`auxiliary_encode_keys`),
    :meth:`encode` also returns ``negatives`` (K, H, W) for a frame that has
    any (or is dense): 1 within ``negative_radius`` of each, everywhere on a
    dense frame, else 0; it is packed into ``gt_fields.negatives``, where the
    head's loss gives those pixels the full negative term. Frames without
    any carry no map (a batch without any costs nothing).
    """

    auxiliary_encode_keys = {'negative_keypoints', 'dense'}
    field_mapping_table = dict(heatmaps='heatmaps', negatives='negatives')

    def __init__(self,
                 input_size: Tuple[int, int],
                 heatmap_size: Tuple[int, int],
                 sigma: float = 2.0,
                 merge: str = 'max',
                 radius_sigmas: float = 3.0,
                 decode_nms_kernel: int = 5,
                 decode_topk: int = 30,
                 decode_thr: float = 0.1,
                 decode_subpixel: bool = True,
                 negative_radius: Optional[float] = None):
        super().__init__()
        if merge not in ('max', 'sum'):
            raise ValueError(f'merge must be "max" or "sum", got {merge!r}')
        if decode_nms_kernel % 2 != 1:
            raise ValueError('decode_nms_kernel must be odd, got '
                             f'{decode_nms_kernel}')
        if sigma <= 0:
            raise ValueError(f'sigma must be positive, got {sigma}')
        self.input_size = tuple(input_size)
        self.heatmap_size = tuple(heatmap_size)
        self.sigma = float(sigma)
        self.merge = merge
        self.radius = int(np.ceil(radius_sigmas * sigma))
        self.negative_radius = float(radius_sigmas * sigma if negative_radius is None
                                     else negative_radius)
        self.decode_nms_kernel = decode_nms_kernel
        self.decode_topk = decode_topk
        self.decode_thr = decode_thr
        self.decode_subpixel = decode_subpixel
        self.scale_factor = (np.array(input_size, dtype=np.float32) /
                             np.array(heatmap_size, dtype=np.float32))
        # encoding constants: last pixel (x, y) and the window offsets
        self._hm_max = np.array(heatmap_size, dtype=np.int64) - 1
        self._offsets = np.arange(-self.radius, self.radius + 1)
        self._inner_max = self._hm_max - self.radius  # windows fully inside
        # flat strides (x, y) and flat offsets of a (2r+1)^2 window (shifted
        # by the padding), on the map (key 0) and on the map padded by r
        self._strides, self._window_offsets = {}, {}
        for pad in (0, self.radius):
            Wp = self.heatmap_size[0] + 2 * pad
            self._strides[pad] = np.array([1, Wp])
            self._window_offsets[pad] = (self._offsets[:, None] * Wp +
                                         self._offsets[None, :] + pad * (Wp + 1))

    def encode(self,
               keypoints: np.ndarray,
               keypoints_visible: Optional[np.ndarray] = None,
               negative_keypoints: Optional[np.ndarray] = None,
               dense: Optional[bool] = None) -> dict:
        """Encode points into heatmaps.

        Args:
            keypoints (np.ndarray): Points in input-image coordinates,
                shape (N, K, 2). N may be 0.
            keypoints_visible (np.ndarray, optional): Shape (N, K); points
                with visibility <= 0 are ignored.
            negative_keypoints (np.ndarray, optional): (R, 2) confirmed
                negatives, input-image coordinates.
            dense (bool, optional): Every nodule of the frame is marked.

        Returns:
            dict: ``heatmaps`` (np.ndarray) of shape (K, H, W), float32,
            values in [0, 1]; on a frame with negative keypoints or a dense
            one, also ``negatives`` (K, H, W) float32 in {0, 1}.
        """
        out = self._encode_points(keypoints, keypoints_visible)
        if dense or (negative_keypoints is not None and len(negative_keypoints)):
            out['negatives'] = self.encode_negatives(
                negative_keypoints, bool(dense), out['heatmaps'].shape[0])
        return out

    def encode_negatives(self, negative_keypoints: Optional[np.ndarray], dense: bool,
                         num_classes: int = 1) -> np.ndarray:
        """(K, H, W) float32: 1 within :attr:`negative_radius` heatmap
        pixels of each of ``negative_keypoints`` (R, 2, input-image
        coordinates), everywhere if ``dense``."""
        W, H = self.heatmap_size
        if dense:
            return np.ones((num_classes, H, W), np.float32)
        neg = np.zeros((H, W), np.float32)
        mu = np.asarray(negative_keypoints if negative_keypoints is not None else
                        np.zeros((0, 2)), np.float32).reshape(-1, 2) / self.scale_factor
        if len(mu):
            r = int(np.ceil(self.negative_radius))
            offs = np.arange(-r, r + 1)
            c = np.round(mu).astype(np.int64)
            xs = c[:, 0, None, None] + offs[None, None, :]  # (R, 1, 2r+1)
            ys = c[:, 1, None, None] + offs[None, :, None]  # (R, 2r+1, 1)
            xs, ys = np.broadcast_arrays(xs, ys)
            d2 = (xs - mu[:, 0, None, None])**2 + (ys - mu[:, 1, None, None])**2
            ok = (d2 <= self.negative_radius**2) & (xs >= 0) & (xs < W) & (ys >= 0) & (ys < H)
            neg[ys[ok], xs[ok]] = 1.0
        return np.repeat(neg[None], num_classes, axis=0)

    def _encode_points(self, keypoints: np.ndarray,
                       keypoints_visible: Optional[np.ndarray]) -> dict:
        """The ``heatmaps`` of :meth:`encode`."""
        keypoints = np.asarray(keypoints, dtype=np.float32)
        N, K = keypoints.shape[:2]
        W, H = self.heatmap_size
        # a few whole-array operations, whatever the number of points
        # (``benchmarks/hot_path.py``: ~10x MMPose's loop per point at 30)
        mu = (keypoints / self.scale_factor).reshape(-1, 2)  # (N*K, 2)
        # NaN and inf fail these comparisons, so they are dropped too
        keep = ((mu >= 0) & (mu <= self._hm_max)).all(1)
        if keypoints_visible is not None:
            keep &= np.asarray(keypoints_visible).reshape(-1) > 0
        cls = np.tile(np.arange(K), N) if K > 1 else None
        if not keep.all():
            mu = mu[keep]
            cls = None if cls is None else cls[keep]
        r = self.radius
        centre = np.round(mu).astype(np.int64)  # (P, 2) nearest pixels
        # windows reaching past the border: draw on a map padded by r and crop
        pad = r if len(mu) and (centre.min() < r or
                                (centre > self._inner_max).any()) else 0
        Hp, Wp = H + 2 * pad, W + 2 * pad
        heatmaps = np.zeros(K * Hp * Wp, dtype=np.float32)
        if len(mu):
            # (P, 2, 2r+1) separable Gaussian factors along x and y
            d = (centre[:, :, None] + self._offsets) - mu[:, :, None]
            g = np.exp(d * d * (-0.5 / self.sigma**2)).astype(np.float32)
            vals = g[:, 1, :, None] * g[:, 0, None, :]  # (P, 2r+1, 2r+1)
            base = centre @ self._strides[pad]  # y * Wp + x
            if cls is not None:
                base += cls * (Hp * Wp)
            flat = (base[:, None, None] + self._window_offsets[pad]).ravel()
            if self.merge == 'max':
                np.maximum.at(heatmaps, flat, vals.ravel())
            else:
                heatmaps += np.bincount(flat, weights=vals.ravel(),
                                        minlength=K * Hp * Wp).astype(np.float32)
                np.minimum(heatmaps, 1.0, out=heatmaps)
        if pad:
            heatmaps = np.ascontiguousarray(
                heatmaps.reshape(K, Hp, Wp)[:, pad:pad + H, pad:pad + W])
        return dict(heatmaps=heatmaps.reshape(K, H, W))

    def decode(self, encoded: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Decode one frame's heatmaps (scores in [0, 1]) into points.

        Args:
            encoded (np.ndarray): Heatmaps of shape (K, H, W).

        Returns:
            tuple:
            - keypoints (np.ndarray): (M, K, 2) in input-image coordinates,
              ordered by decreasing score.
            - scores (np.ndarray): (M, K).
        """
        kpts, scores = self.batch_decode(torch.from_numpy(np.asarray(encoded))[None])
        return kpts[0], scores[0]

    @torch.no_grad()
    def batch_decode(self, batch_heatmaps: Tensor
                     ) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """Decode a batch of heatmaps: NMS, top-k, threshold.

        Args:
            batch_heatmaps (Tensor): Scores in [0, 1], shape (B, K, H, W).

        Returns:
            tuple:
            - batch_keypoints (List[np.ndarray]): B arrays of shape (M_b, K,
              2) in input-image coordinates. With K > 1, row m holds the
              m-th best peak of each class and rows where every class is
              below ``decode_thr`` are dropped.
            - batch_scores (List[np.ndarray]): B arrays of shape (M_b, K);
              entries below ``decode_thr`` are 0.
        """
        B = batch_heatmaps.shape[0]
        xy, scores = self.decode_tensors(batch_heatmaps.detach())
        valid = scores >= self.decode_thr
        scores = scores * valid
        # (B, k, K, ...) layout: one row per decoded instance
        xy, scores, valid = (xy.transpose(1, 2), scores.transpose(1, 2),
                             valid.transpose(1, 2).any(-1))
        xy, scores, valid = xy.cpu().numpy(), scores.cpu().numpy(), \
            valid.cpu().numpy()
        return ([xy[b][valid[b]] for b in range(B)],
                [scores[b][valid[b]] for b in range(B)])

    def decode_tensors(self, heatmaps: Tensor) -> Tuple[Tensor, Tensor]:
        """The tensor part of :meth:`batch_decode`, without the threshold:
        max-pool NMS, top-k and sub-pixel refinement, in torch operations
        only (traceable: ``tools/export_onnx.py`` puts it in the graph).

        Args:
            heatmaps (Tensor): Scores in [0, 1], shape (B, K, H, W).

        Returns:
            tuple:
            - xy (Tensor): (B, K, k, 2) peaks in input-image pixels, best first.
            - scores (Tensor): (B, K, k).
        """
        heatmaps = heatmaps.float()
        B, K, H, W = heatmaps.shape
        peaks = heatmap_nms(heatmaps, self.decode_nms_kernel)
        k = min(self.decode_topk, H * W)
        scores, idx = peaks.flatten(2).topk(k, dim=-1)  # (B, K, k)
        xy = torch.stack((idx % W, torch.div(idx, W, rounding_mode='floor')),
                         dim=-1).float()  # (B, K, k, 2)
        if self.decode_subpixel:
            xy = xy + self._subpixel_offsets(heatmaps, idx)
        return xy * xy.new_tensor(self.scale_factor), scores

    @staticmethod
    def _subpixel_offsets(heatmaps: Tensor, idx: Tensor) -> Tensor:
        """Sub-pixel peak offsets from a parabola fitted to log-scores of the
        peak and its 4 neighbours (exact for a Gaussian peak).

        Args:
            heatmaps (Tensor): (B, K, H, W) scores.
            idx (Tensor): (B, K, k) flat peak indices.

        Returns:
            Tensor: (B, K, k, 2) offsets in heatmap pixels, in [-0.5, 0.5].
        """
        B, K, H, W = heatmaps.shape
        padded = F.pad(heatmaps, (1, 1, 1, 1), mode='replicate').flatten(2)
        y, x = torch.div(idx, W, rounding_mode='floor') + 1, idx % W + 1
        Wp = W + 2

        def at(dy, dx):  # log-score of the (dy, dx) neighbours: (B, K, k)
            return padded.gather(-1, (y + dy) * Wp + (x + dx)).clamp_min(1e-10).log()

        c = at(0, 0)
        offs = []
        for lo, hi in ((at(0, -1), at(0, 1)), (at(-1, 0), at(1, 0))):
            curv = lo - 2 * c + hi
            d = torch.where(curv < -1e-6, 0.5 * (lo - hi) / curv.clamp(max=-1e-6),
                            torch.zeros_like(c))
            offs.append(d.clamp(-0.5, 0.5))
        return torch.stack(offs, dim=-1)

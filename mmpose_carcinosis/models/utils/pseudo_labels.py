"""What a pseudo label is, in one place: stage two's targets from a
teacher's heatmap (:func:`make_pseudo_targets`, heatmap pixels, used in the
model's training step), the same rule on decoded points in frame pixels
(:func:`select_pseudo_labels`; :func:`score_pseudo_labels` against dense
truth, used by ``PseudoLabelQualityHook`` and the calibration benchmark),
the count rule (:func:`threshold_for_count`, used by
``PseudoThresholdHook``), and which pseudo labels are frozen as labels
(:func:`stable_points`, used by ``FreezePseudoLabelsHook`` through the
model; :func:`frame_to_input` carries them into an augmented view). The
click radius is the model's ``semi_train_cfg.click_radius`` (frame pixels)
everywhere."""
import math
from typing import Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mmpose_carcinosis.codecs import heatmap_nms
from mmpose_carcinosis.evaluation.functional import match_pairs


def gaussian_kernel(sigma: float, radius: int) -> Tensor:
    """(1, 1, 2r+1, 2r+1) Gaussian with peak 1."""
    ax = torch.arange(-radius, radius + 1, dtype=torch.float32)
    g = torch.exp(-(ax[:, None]**2 + ax[None, :]**2) / (2 * sigma**2))
    return g[None, None]


def disk_kernel(radius: float) -> Tensor:
    """(1, 1, 2r+1, 2r+1) indicator of the disk of ``radius`` pixels."""
    r = int(math.ceil(radius))
    ax = torch.arange(-r, r + 1, dtype=torch.float32)
    return ((ax[:, None]**2 + ax[None, :]**2) <= radius**2).float()[None, None]


def near_clicks(click_target: Tensor, sigma: float, click_radius: float) -> Tensor:
    """(B, K, H, W) bool: the pixels within ``click_radius`` (heatmap
    pixels) of a click, from the clicks' Gaussian target (spread ``sigma``,
    peak 1): ``max_i exp(-d_i^2 / 2 sigma^2) > exp(-r^2 / 2 sigma^2)``."""
    return click_target > math.exp(-click_radius**2 / (2 * sigma**2))


def make_pseudo_targets(teacher_scores: Tensor, click_target: Tensor, sigma: float,
                        high_thr: float, low_thr: float, click_radius: float,
                        nms_kernel: int = 3, weight: float = 1.0,
                        max_per_frame: Optional[int] = None,
                        negatives: Optional[Tensor] = None,
                        negative_gamma: float = 0.0,
                        appearance: Optional[Tensor] = None,
                        accept: float = 0.5
                        ) -> Tuple[Tensor, Tensor, Dict[str, Tensor]]:
    """Pseudo-labelled targets from a teacher's score heatmap.

    Peaks of the teacher (max-pool NMS) scoring at least ``high_thr`` and
    farther than ``click_radius`` heatmap pixels from every click become
    Gaussians of spread ``sigma`` and height ``weight``, merged by maximum
    with the clicks' target (clicks always stay positives). Peaks in
    ``[low_thr, high_thr)`` away from clicks are ignored: a disk of
    ``click_radius`` around each is masked out of the loss. Every other
    pixel keeps the clicks' target (the loss's tail for unlabeled pixels).

    A frame with more than ``max_per_frame`` pseudo peaks is doubtful (a
    cluster of confident peaks on an artefact, a glare or a dark corner, is
    where most false pseudo labels come from): its pseudo peaks are ignored
    instead, like the band.

    With ``negative_gamma`` > 0 a pixel that is no positive weighs
    ``(1 - teacher score) ** negative_gamma`` in the loss (S2Teacher's
    teacher-weighted negatives): where the teacher sees foreground below the
    pseudo-label threshold the student is pushed to background less.
    Confirmed negatives keep the full weight.

    With ``appearance`` (the verifier, :mod:`.appearance`), peaks of the
    ignored band whose appearance score reaches ``accept`` are pseudo
    labels too (before the frame cap counts them).

    Args:
        teacher_scores (Tensor): (B, 1, H, W) scores in [0, 1].
        click_target (Tensor): (B, 1, H, W) the clicks' Gaussian target
            (max-merged, peak 1 at each click).
        sigma (float): The codec's sigma (heatmap pixels).
        high_thr, low_thr (float | Tensor): Score thresholds, low <= high
            (0-d tensors, e.g. a model's buffers, keep them on the device).
        click_radius (float): Heatmap pixels (a model's frame-pixel radius
            divided by the stride); peaks nearer a click are the click's
            own.
        nms_kernel (int): Max-pool NMS kernel.
        weight (float): Height of the pseudo Gaussians (the ramp).
        max_per_frame (int | Tensor, optional): Most pseudo peaks a frame
            may have (``None`` or negative: no limit).
        negative_gamma (float): Exponent of the teacher's weighting of the
            unlabeled pixels (0: every pixel weighs 1). Defaults to 0.
        negatives (Tensor, optional): (B, 1, H, W), > 0 on confirmed
            negative pixels (the codec's ``negatives`` map: a disk around
            each point a reviewer rejected, every pixel of a dense frame): a
            teacher peak there is never a pseudo label (nor ignored: the
            loss pushes it down).
        appearance (Tensor, optional): (B, 1, H, W) the verifier's scores
            in [0, 1] (:func:`.appearance.appearance_scores`).
        accept (float): Appearance score at which a band peak becomes a
            pseudo label. Defaults to 0.5.

    Returns:
        tuple: target (B, 1, H, W), mask (B, 1, H, W) float (0: ignored;
        in (0, 1] a pixel's loss weight) and
        statistics (pseudo and ignored peaks per frame, fraction of frames
        whose pseudo peaks were ignored; with ``appearance`` the band peaks
        it accepted per frame).
    """
    peaks = heatmap_nms(teacher_scores.float(), nms_kernel)
    far = ~near_clicks(click_target, sigma, click_radius) & (peaks > 0)
    if negatives is not None:
        far = far & ~(negatives > 0)
    pseudo = far & (peaks >= high_thr)
    ignore = far & (peaks >= low_thr) & ~pseudo
    verified = None
    if appearance is not None:
        verified = ignore & (appearance >= accept)
        pseudo, ignore = pseudo | verified, ignore & ~verified
    doubtful = torch.zeros(pseudo.shape[0], dtype=torch.bool, device=pseudo.device)
    if max_per_frame is not None:
        limit = torch.as_tensor(max_per_frame, device=pseudo.device)
        doubtful = (pseudo.flatten(1).sum(1) > limit) & (limit >= 0)
        frames = doubtful[:, None, None, None]
        ignore = ignore | (pseudo & frames)
        pseudo = pseudo & ~frames
    r = int(math.ceil(3 * sigma))
    splat = F.conv2d(pseudo.float(), gaussian_kernel(sigma, r).to(peaks), padding=r)
    target = torch.maximum(click_target.float(), weight * splat.clamp(max=1.0))
    disk = disk_kernel(click_radius).to(peaks)
    ignored = F.conv2d(ignore.float(), disk, padding=disk.shape[-1] // 2) > 0
    mask = (~(ignored & (target <= 0))).float()
    if negative_gamma:
        soft = (1 - teacher_scores.float()).clamp(0, 1) ** negative_gamma
        if negatives is not None:
            soft = torch.where(negatives > 0, torch.ones_like(soft), soft)
        mask = torch.where(target > 0, mask, mask * soft)
    stats = dict(pseudo_per_frame=pseudo.flatten(1).sum(1).float().mean(),
                 ignored_per_frame=ignore.flatten(1).sum(1).float().mean(),
                 doubtful_frames=doubtful.float().mean())
    if verified is not None:
        stats['verified_per_frame'] = verified.flatten(1).sum(1).float().mean()
    return target, mask, stats


def stable_points(img_ids: np.ndarray, points: np.ndarray, prev_ids: np.ndarray,
                  prev_points: np.ndarray, radius: float) -> np.ndarray:
    """(M,) bool: which of ``points`` (M, 2, frame pixels) of frames
    ``img_ids`` (M,) lie within ``radius`` of a point of ``prev_points``
    (Q, 2) of the same frame (``prev_ids`` (Q,)): pseudo labels two
    successive teachers agree on."""
    img_ids, prev_ids = np.asarray(img_ids).reshape(-1), np.asarray(prev_ids).reshape(-1)
    if not len(img_ids) or not len(prev_ids):
        return np.zeros(len(img_ids), bool)
    d = np.linalg.norm(np.asarray(points, np.float64).reshape(-1, 1, 2) -
                       np.asarray(prev_points, np.float64).reshape(1, -1, 2), axis=-1)
    return ((img_ids[:, None] == prev_ids[None]) & (d <= radius)).any(1)


def frame_to_input(points: np.ndarray, metainfo: dict) -> np.ndarray:
    """(N, 2) frame-pixel ``points`` of a training sample carried into its
    augmented view (input pixels): the sample's ``warp_mat`` (the affine of
    ``PointRandomAffine``) and, if it was flipped, MMPose's
    ``flip_keypoints`` at its ``input_size`` (as ``PointRandomFlip``)."""
    from mmpose.structures.keypoint import flip_keypoints

    from mmpose_carcinosis.datasets.transforms.point_random_affine import warp_points
    pts = np.asarray(points, np.float32).reshape(-1, 2)
    if 'warp_mat' not in metainfo:
        raise KeyError("frozen pseudo labels need the sample's 'warp_mat': add 'warp_mat' "
                       "to PackPoseInputs' meta_keys of the training pipeline")
    pts = warp_points(pts, np.asarray(metainfo['warp_mat'], np.float32))
    if metainfo.get('flip') and len(pts):
        flipped, _ = flip_keypoints(pts[:, None], np.ones((len(pts), 1), np.float32),
                                    image_size=tuple(metainfo['input_size']),
                                    flip_indices=[0], direction=metainfo['flip_direction'])
        pts = flipped[:, 0]
    return pts


def near(points: np.ndarray, clicks: np.ndarray, radius: float) -> np.ndarray:
    """(N,) bool: which of ``points`` (N, 2) lie within ``radius`` of any
    of ``clicks`` (M, 2)."""
    if not len(points) or not len(clicks):
        return np.zeros(len(points), bool)
    return (np.linalg.norm(points[:, None] - clicks[None], axis=-1) <= radius).any(1)


def select_pseudo_labels(points: np.ndarray, scores: np.ndarray, clicks: np.ndarray,
                         thr: float, click_radius: float, cap: Optional[int] = None
                         ) -> Tuple[np.ndarray, bool]:
    """One frame's pseudo labels among decoded predictions: the rule of
    :func:`make_pseudo_targets` in frame pixels.

    Args:
        points (np.ndarray): (M, 2) predictions, frame pixels; ``scores``
            (M,) theirs.
        clicks (np.ndarray): (K, 2) the frame's clicks.
        thr (float): Score threshold (``high_thr``).
        click_radius (float): Frame pixels; predictions nearer a click are
            the click's own.
        cap (int, optional): Most pseudo labels a frame may have (None or
            negative: no limit); a frame over it has none.

    Returns:
        tuple: ``keep`` (M,) bool, the pseudo labels; ``doubtful``: the
        frame was over the cap.
    """
    keep = (np.asarray(scores) >= thr) & ~near(points, clicks, click_radius)
    doubtful = cap is not None and cap >= 0 and int(keep.sum()) > cap
    if doubtful:
        keep[:] = False
    return keep, bool(doubtful)


def score_pseudo_labels(points: np.ndarray, scores: np.ndarray, truth: np.ndarray,
                        clicks: np.ndarray, thr: float, click_radius: float,
                        match_radius: Optional[float] = None, cap: Optional[int] = None
                        ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """One frame's pseudo labels (:func:`select_pseudo_labels`) against its
    unclicked true points: those farther than ``click_radius`` from every
    click, matched one-to-one within ``match_radius`` (default
    ``click_radius``).

    Args:
        points (np.ndarray): (M, 2) predictions; ``scores`` (M,) theirs.
        truth (np.ndarray): (N, 2) true points; ``clicks`` (K, 2).
        thr (float): Score threshold.
        click_radius, match_radius (float): Frame pixels.
        cap (int, optional): Most pseudo labels a frame may have.

    Returns:
        tuple: ``keep`` (M,) bool, the pseudo labels; ``unclicked`` (N,)
        bool; ``found`` (N,) bool, the unclicked true points a pseudo label
        matches; ``doubtful``: over the cap.
    """
    match_radius = click_radius if match_radius is None else match_radius
    keep, doubtful = select_pseudo_labels(points, scores, clicks, thr, click_radius, cap)
    unclicked = ~near(truth, clicks, click_radius)
    matched = match_pairs(points[keep], truth[unclicked], match_radius)[1]
    found = np.zeros(len(truth), bool)
    found[np.nonzero(unclicked)[0][np.asarray(matched, int)]] = True
    return keep, unclicked, found, doubtful


def threshold_for_count(scores: np.ndarray, count: float, floor: float) -> float:
    """The score of the ``round(count)``-th highest of ``scores`` (N,):
    keeping scores at or above it keeps about ``count`` of them (ties keep
    more); ``floor`` if there are fewer, 1.0 for a count under one half."""
    k = int(round(count))
    if k < 1:
        return 1.0
    scores = np.sort(np.asarray(scores, np.float64).reshape(-1))[::-1]
    return float(scores[k - 1]) if len(scores) >= k else float(floor)

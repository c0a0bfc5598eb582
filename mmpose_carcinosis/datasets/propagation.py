"""Carry labelled points to the other frames of the same video.

A nodule clicked in one frame is usually in the neighbouring frames too,
often where nobody clicked it: the laparoscope pans, and a nodule obvious in
the middle of the lit field is faint at its edge a few frames later. The
frames are registered (a global translation by phase correlation), and
each carried point is then matched locally (normalised cross-correlation of
the patch around the source point, within a small search window), which
follows local motion (breathing, moving cells) and rejects a point whose
nodule is hidden or out of view in the other frame.

Coordinates are frame pixels ``(x, y)``; images are single-channel float
arrays ``(H, W)`` (:func:`gray`).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from mmpose_carcinosis.models.utils.pseudo_labels import near


def gray(img: np.ndarray) -> np.ndarray:
    """(H, W) float32 luminance of a BGR (H, W, 3) or gray (H, W) image."""
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return img.astype(np.float32)


def videos_of(infos: Sequence[dict]) -> Tuple[List[List[dict]], int]:
    """Data infos (:func:`parse_carcinosis_annotations`' records) grouped by
    ``video_id``, each video in ``frame_id`` order (videos ordered by their
    id as text). Returns the videos and how many infos had no
    ``video_id`` (left out)."""
    videos, alone = {}, 0
    for info in infos:
        if info.get('video_id') is None:
            alone += 1
        else:
            videos.setdefault(info['video_id'], []).append(info)
    return ([sorted(videos[v], key=lambda d: d.get('frame_id') or 0)
             for v in sorted(videos, key=str)], alone)


def read_frames(infos: Sequence[dict]) -> Optional[List[np.ndarray]]:
    """The (H, W) float32 frames (:func:`gray`) of ``infos``' ``img_path``;
    None when they are not all of one size (they cannot be registered)."""
    frames = []
    for info in infos:
        img = cv2.imread(info['img_path'], cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(f'image id {info.get("img_id")}: cannot read '
                                    f'{info["img_path"]}')
        frames.append(gray(img))
    return frames if len({f.shape for f in frames}) <= 1 else None


def band_pass(img: np.ndarray, fine: float = 1.0, coarse: float = 6.0) -> np.ndarray:
    """Difference of Gaussian blurs (standard deviations in pixels): what
    is fixed to the camera (vignette, illumination) is smooth and goes."""
    return cv2.GaussianBlur(img, (0, 0), fine) - cv2.GaussianBlur(img, (0, 0), coarse)


def overlap_correlation(src: np.ndarray, dst: np.ndarray, shift: Sequence[float],
                        min_overlap: float = 0.25) -> float:
    """Pearson correlation of ``src`` moved by ``shift`` (rounded to whole
    pixels) with ``dst`` over their overlap; -1 when the overlap is below
    ``min_overlap`` of the frame."""
    h, w = src.shape
    dx, dy = (int(v) for v in np.rint(shift))
    if (h - abs(dy)) * (w - abs(dx)) < min_overlap * h * w or abs(dx) >= w or abs(dy) >= h:
        return -1.0
    a = src[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)].astype(np.float64)
    b = dst[max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)].astype(np.float64)
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else 0.0


def frame_shift(src: np.ndarray, dst: np.ndarray, candidates: int = 5) -> Tuple[np.ndarray, float]:
    """Global translation from ``src`` to ``dst`` (both (H, W) float32):
    what sits at ``p`` in ``src`` sits at ``p + shift`` in ``dst``.

    The ``candidates`` highest peaks of the phase correlation (whole
    pixels), and no shift at all, are scored by the correlation of the
    band-passed frames over their overlap (:func:`overlap_correlation`); the
    best wins. The highest peak alone is led astray by what does not move
    with the tissue (an instrument's edges, cells moving under a still
    camera).

    Returns the shift ``(dx, dy)`` in whole pixels (float64, (2, )) and its
    overlap correlation (1 for identical content, near 0 for unrelated
    frames)."""
    if src.shape != dst.shape:
        raise ValueError(f'frames of different sizes {src.shape} and {dst.shape}')
    h, w = src.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    cross = np.conj(np.fft.fft2(src * window)) * np.fft.fft2(dst * window)
    surface = np.real(np.fft.ifft2(cross / np.maximum(np.abs(cross), 1e-12)))
    # local maxima of the (circular) surface, highest first
    peak = surface == np.max(np.stack([np.roll(surface, (a, b), (0, 1)) for a in (-1, 0, 1)
                                       for b in (-1, 0, 1)]), axis=0)
    flat = np.flatnonzero(peak)
    top = flat[np.argsort(surface.ravel()[flat])[::-1][:candidates]]
    dy, dx = np.unravel_index(top, surface.shape)
    shifts = np.stack([(dx + w // 2) % w - w // 2, (dy + h // 2) % h - h // 2], 1)
    shifts = np.concatenate([shifts, np.zeros((1, 2), dtype=shifts.dtype)]).astype(np.float64)
    src_b, dst_b = band_pass(src), band_pass(dst)
    fit = np.array([overlap_correlation(src_b, dst_b, s) for s in shifts])
    best = int(np.argmax(fit))
    return shifts[best], float(fit[best])


def match_points(src: np.ndarray, dst: np.ndarray, points: np.ndarray,
                 guess: np.ndarray, half: int = 7,
                 search: int = 6) -> Tuple[np.ndarray, np.ndarray]:
    """Find each point of ``src`` in ``dst`` near its guessed place.

    The ``(2 * half + 1)`` square patch around each point of ``src`` is
    compared by normalised cross-correlation (NCC, in [-1, 1]) with every
    placement whose centre is within ``search`` pixels (each axis) of the
    guess in ``dst``, all points at once (one grouped convolution).

    Args:
        src, dst (np.ndarray): (H, W) float32 frames.
        points (np.ndarray): (N, 2) points ``(x, y)`` in ``src``.
        guess (np.ndarray): (N, 2) their guessed places in ``dst``.
        half (int): Patch half size, pixels.
        search (int): Search half size, pixels.

    Returns:
        tuple: ``matched`` (N, 2) float places in ``dst`` (the best
        placement, with the point's sub-pixel offset) and ``ncc`` (N, ):
        the best NCC, ``-1`` where the patch leaves ``src`` or no placement
        lies wholly inside ``dst``; 0 for a flat patch.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    guess = np.asarray(guess, dtype=np.float64).reshape(-1, 2)
    n = len(points)
    if n == 0:
        return np.zeros((0, 2)), np.zeros(0)
    h, w = src.shape
    size = 2 * half + 1
    at = torch.as_tensor(np.rint(points), dtype=torch.long)
    to = torch.as_tensor(np.rint(guess), dtype=torch.long)
    # float64: the window variances below are differences of large sums
    src_t = torch.as_tensor(src, dtype=torch.float64)
    dst_t = torch.as_tensor(dst, dtype=torch.float64)
    # templates (N, P, P) and their placement windows (N, P + 2s, P + 2s)
    off = torch.arange(-half, half + 1)
    inside = ((at[:, 0] >= half) & (at[:, 0] < w - half) & (at[:, 1] >= half) &
              (at[:, 1] < h - half))
    ty = (at[:, 1, None, None] + off[None, :, None]).clamp(0, h - 1)
    tx = (at[:, 0, None, None] + off[None, None, :]).clamp(0, w - 1)
    tmpl = src_t[ty, tx]
    woff = torch.arange(-half - search, half + search + 1)
    wy = to[:, 1, None, None] + woff[None, :, None]
    wx = to[:, 0, None, None] + woff[None, None, :]
    valid = ((wy >= 0) & (wy < h) & (wx >= 0) & (wx < w)).double()
    win = dst_t[wy.clamp(0, h - 1), wx.clamp(0, w - 1)] * valid
    # NCC = sum((win - mean) * (tmpl - mean)) / (|win - mean| |tmpl - mean|)
    tc = tmpl - tmpl.mean((1, 2), keepdim=True)
    t_norm = tc.flatten(1).norm(dim=1)
    num = F.conv2d(win[None], tc[:, None], groups=n)[0]  # (N, 2s + 1, 2s + 1)
    k = size * size
    s1 = F.avg_pool2d(win[:, None], size, stride=1)[:, 0] * k
    s2 = F.avg_pool2d(win[:, None] ** 2, size, stride=1)[:, 0] * k
    w_var = s2 - s1 ** 2 / k
    ncc = num / (t_norm[:, None, None] * w_var.clamp_min(0).sqrt()).clamp_min(1e-12)
    # a flat patch or window (variance at rounding level) matches nothing
    flat = ((w_var <= 1e-9 * s2 + 1e-9) |
            (t_norm ** 2 <= 1e-9 * tmpl.pow(2).flatten(1).sum(1) + 1e-9)[:, None, None])
    ncc = ncc.masked_fill(flat, 0.0)
    whole = F.avg_pool2d(valid[:, None], size, stride=1)[:, 0] > 1 - 1e-6
    ncc = ncc.masked_fill(~whole, -1.0).flatten(1)
    best, idx = ncc.max(1)
    best = torch.where(inside, best, torch.full_like(best, -1.0))
    span = 2 * search + 1
    step = torch.stack([idx % span, idx // span], 1) - search
    matched = (to + step).double().numpy() + (points - np.rint(points))
    return matched, best.clamp(-1, 1).double().numpy()


def suppress_points(points: np.ndarray, scores: np.ndarray, radius: float) -> np.ndarray:
    """Greedy non-maximum suppression of points: a point is kept unless a
    kept point with a higher score (ties: the earlier one) lies within
    ``radius`` pixels. Vectorised over the points (one step per link of the
    longest suppression chain). Returns a (N, ) bool keep mask."""
    n = len(points)
    if n == 0:
        return np.zeros(0, dtype=bool)
    order = np.lexsort((np.arange(n), -np.asarray(scores)))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    d = np.linalg.norm(points[:, None] - points[None], axis=-1)
    close = (d <= radius) & ~np.eye(n, dtype=bool)
    higher = close & (rank[None, :] < rank[:, None])  # [i, j]: j outranks i nearby
    keep = np.zeros(n, dtype=bool)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        chosen = alive & ~(higher & alive[None, :]).any(1)
        keep |= chosen
        alive &= ~chosen & ~close[:, chosen].any(1)
    return keep


def propagate_video(frames: Sequence[np.ndarray], points: Sequence[np.ndarray],
                    radius: float, negatives: Optional[Sequence[np.ndarray]] = None,
                    targets: Optional[Sequence[bool]] = None, max_gap: int = 8,
                    min_ncc: float = 0.5, half: Optional[int] = None,
                    search: Optional[int] = None) -> List[Dict[str, np.ndarray]]:
    """Carry every frame's points to the other frames of one video.

    For each pair of frames at most ``max_gap`` apart, the source frame's
    points are moved by the frames' shift (:func:`frame_shift`) and matched
    locally (:func:`match_points`). A point is kept when the NCC is at least
    ``min_ncc``, the place is inside the frame and farther than ``radius``
    from the target frame's own points and confirmed negatives. Points
    carried to one place from several frames are merged (the best NCC wins,
    :func:`suppress_points`). Carried points are not carried again.

    Args:
        frames: the video's frames in time order, (H, W) float32 each.
        points: per frame, (n_f, 2) labelled points ``(x, y)``.
        radius (float): Pixels within which two points are one nodule.
        negatives: per frame, (m_f, 2) confirmed negatives (optional).
        targets: per frame, whether points are carried to it (default all;
            e.g. False for frames already marked dense).
        max_gap (int): Most frames between a source and a target.
        min_ncc (float): Least NCC of a carried point.
        half (int, optional): Patch half size (default ``0.7 * radius``).
        search (int, optional): Search half size (default ``0.6 * radius``).

    Returns:
        list[dict]: per frame, ``points`` (M, 2) carried points, ``source``
        (M, ) index of the frame each came from, ``ncc`` (M, ).
    """
    n = len(frames)
    half = int(round(0.7 * radius)) if half is None else int(half)
    search = int(round(0.6 * radius)) if search is None else int(search)
    negatives = negatives if negatives is not None else [np.zeros((0, 2))] * n
    targets = targets if targets is not None else [True] * n
    shifts = {}
    out = []
    for i in range(n):
        found, source, score = [np.zeros((0, 2))], [np.zeros(0, dtype=np.int64)], [np.zeros(0)]
        height, width = frames[i].shape
        sources = range(max(0, i - max_gap), min(n, i + max_gap + 1)) if targets[i] else ()
        for j in sources:
            if j == i or len(points[j]) == 0:
                continue
            if (i, j) not in shifts:
                shifts[(j, i)] = frame_shift(frames[j], frames[i])[0]
                shifts[(i, j)] = -shifts[(j, i)]
            src = np.asarray(points[j], dtype=np.float64).reshape(-1, 2)
            guess = src + shifts[(j, i)]
            seen = ((guess[:, 0] >= 0) & (guess[:, 0] < width) & (guess[:, 1] >= 0) &
                    (guess[:, 1] < height))
            matched, ncc = match_points(frames[j], frames[i], src[seen], guess[seen],
                                        half, search)
            found.append(matched)
            source.append(np.full(len(matched), j, dtype=np.int64))
            score.append(ncc)
        pts, src_idx, ncc = (np.concatenate(found), np.concatenate(source),
                             np.concatenate(score))
        ok = ((ncc >= min_ncc) & (pts[:, 0] >= 0) & (pts[:, 0] < width) & (pts[:, 1] >= 0) &
              (pts[:, 1] < height) &
              ~near(pts, np.asarray(points[i], np.float64).reshape(-1, 2), radius) &
              ~near(pts, np.asarray(negatives[i], np.float64).reshape(-1, 2), radius))
        pts, src_idx, ncc = pts[ok], src_idx[ok], ncc[ok]
        keep = suppress_points(pts, ncc, radius)
        out.append(dict(points=pts[keep], source=src_idx[keep], ncc=ncc[keep]))
    return out


def confirm_in_video(frames: Sequence[np.ndarray], confident: Sequence[np.ndarray],
                     weak: Sequence[np.ndarray], known: Sequence[np.ndarray], radius: float,
                     **propagate) -> List[np.ndarray]:
    """Which weak peaks of a video a confident peak of another frame
    confirms: the confident peaks are carried (:func:`propagate_video`,
    not onto the frame's own confident peaks or ``known`` points) and a
    weak peak within ``radius`` of a carried one is confirmed.

    Args:
        frames: the video's frames in time order, (H, W) float32 each.
        confident, weak, known: per frame, (n_f, 2) points: a teacher's
            confident peaks, its weak ones (scores between the thresholds),
            and the labels it already has (clicks, frozen labels).
        radius (float): Pixels within which two points are one nodule.
        **propagate: ``max_gap``, ``min_ncc``, ``half``, ``search`` of
            :func:`propagate_video`.

    Returns:
        list[np.ndarray]: per frame, (w_f, ) bool over its weak peaks.
    """
    carried = propagate_video(frames, confident, radius, negatives=known, **propagate)
    return [near(np.asarray(w, np.float64).reshape(-1, 2), c['points'], radius)
            for w, c in zip(weak, carried)]

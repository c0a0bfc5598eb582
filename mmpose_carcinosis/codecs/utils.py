"""Tensor helpers shared by the codec (decoding, ONNX export) and stage two
(pseudo labels)."""
import torch
import torch.nn.functional as F
from torch import Tensor


def _sliding_max(x: Tensor, kernel: int, dim: int) -> Tensor:
    """Max over a centred window of odd size ``kernel`` along ``dim``
    (``-1`` or ``-2``), with values outside the tensor ignored.

    A window of ``p`` (the largest power of two not above ``kernel``) is built
    by doubling, ``m_{2s}[i] = max(m_s[i], m_s[i + s])``, and the window of
    ``kernel`` is the max of two overlapping ``p``-windows: ``log2(p) + 1``
    elementwise maxima per axis (3 for a 5-pixel window), against the
    ``kernel`` comparisons per pixel of a 2-D max-pool.
    """
    r = (kernel - 1) // 2
    pad = (r, r, 0, 0) if dim == -1 else (0, 0, r, r)
    m = F.pad(x, pad, value=float('-inf'))
    n = m.shape[dim]
    s = 1
    while 2 * s <= kernel:
        m = torch.maximum(m.narrow(dim, 0, n - s), m.narrow(dim, s, n - s))
        n -= s
        s *= 2
    size = x.shape[dim]
    if s == kernel:
        return m.narrow(dim, 0, size)
    return torch.maximum(m.narrow(dim, 0, size), m.narrow(dim, kernel - s, size))


def heatmap_nms(heatmaps: Tensor, kernel: int = 5) -> Tensor:
    """Keep the local maxima of each map, zero elsewhere.

    The result equals MMPose's ``batch_heatmap_nms`` (a ``kernel`` x
    ``kernel`` max-pool, then ``heatmap == pooled``) exactly, but the max
    filter is separable (rows, then columns) and each 1-D pass is a few
    elementwise maxima of shifted views instead of a pooling loop: ~10x
    faster on the CPU (``benchmarks/hot_path.py``). Traceable (pad, slice,
    max, where), so it exports to ONNX.

    Args:
        heatmaps (Tensor): (B, K, H, W) scores.
        kernel (int): Odd window size. Defaults to 5.

    Returns:
        Tensor: (B, K, H, W), ``heatmaps`` at local maxima, 0 elsewhere.
    """
    if kernel % 2 != 1 or kernel < 1:
        raise ValueError(f'the NMS kernel must be odd and positive, got {kernel}')
    if kernel == 1:
        return heatmaps
    pooled = _sliding_max(_sliding_max(heatmaps, kernel, -1), kernel, -2)
    return heatmaps.masked_fill(heatmaps != pooled, 0)

"""Save frames with predicted and true points drawn, during val/test."""
import os
import os.path as osp
from typing import Optional, Sequence

import cv2
import numpy as np
from mmengine.hooks import Hook
from mmpose.registry import HOOKS


def draw_points(img: np.ndarray, pred_xy: np.ndarray, pred_scores: np.ndarray,
                gt_xy: np.ndarray, radius: float = 20.) -> np.ndarray:
    """Draw true points as green rings of the matching radius and predicted
    points as filled dots coloured from blue (low score) to yellow (high),
    with the score written beside them.

    Args:
        img (np.ndarray): BGR frame (H, W, 3), uint8; not modified.
        pred_xy (np.ndarray): (M, 2) predicted points.
        pred_scores (np.ndarray): (M,) scores in [0, 1].
        gt_xy (np.ndarray): (N, 2) true points.
        radius (float): ring radius (the metric's matching radius).

    Returns:
        np.ndarray: the drawn copy.
    """
    out = img.copy()
    for x, y in np.asarray(gt_xy).reshape(-1, 2):
        cv2.circle(out, (int(round(x)), int(round(y))), int(radius),
                   (0, 220, 0), 1, cv2.LINE_AA)
    for (x, y), s in zip(np.asarray(pred_xy).reshape(-1, 2),
                         np.asarray(pred_scores).reshape(-1)):
        s = float(np.clip(s, 0, 1))
        color = (int(255 * (1 - s)), int(220 * s), int(255 * s))
        c = (int(round(x)), int(round(y)))
        cv2.circle(out, c, 3, color, -1, cv2.LINE_AA)
        cv2.putText(out, f'{s:.2f}', (c[0] + 4, c[1] - 4),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.35, color, 1, cv2.LINE_AA)
    return out


@HOOKS.register_module()
class PointVisualizationHook(Hook):
    """Write the first ``max_frames`` test (and, with ``on_val``, validation)
    frames with predicted points (dots) and true points (rings) to
    ``out_dir`` (relative paths are under the run's work dir).

    Args:
        out_dir (str): Output directory. Defaults to ``'vis'``.
        max_frames (int): How many frames to draw per run. Defaults to 8.
        radius (float): Ring radius in original pixels. Defaults to 20.
        on_val (bool): Also draw during validation. Defaults to False.
    """

    def __init__(self, out_dir: str = 'vis', max_frames: int = 8,
                 radius: float = 20., on_val: bool = False):
        self.out_dir = out_dir
        self.max_frames = max_frames
        self.radius = radius
        self.on_val = on_val
        self._count = 0

    def _reset(self, runner) -> None:
        self._count = 0

    before_test_epoch = _reset
    before_val_epoch = _reset

    def _draw(self, runner, outputs: Sequence) -> None:
        if runner.rank != 0 or self._count >= self.max_frames:
            return
        out_dir = osp.join(runner.work_dir, self.out_dir)
        os.makedirs(out_dir, exist_ok=True)
        for ds in outputs[:self.max_frames - self._count]:
            img = cv2.imread(ds.img_path)
            if img is None:
                continue
            gt = ds.gt_instances.keypoints if 'keypoints' in ds.gt_instances \
                else np.zeros((0, 1, 2))
            drawn = draw_points(img, ds.pred_instances.keypoints,
                                ds.pred_instances.keypoint_scores, gt,
                                self.radius)
            name = osp.splitext(osp.basename(ds.img_path))[0]
            cv2.imwrite(osp.join(out_dir, f'{name}.png'), drawn)
            self._count += 1

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence] = None) -> None:
        self._draw(runner, outputs)

    def after_val_iter(self, runner, batch_idx: int, data_batch=None,
                       outputs: Optional[Sequence] = None) -> None:
        if self.on_val:
            self._draw(runner, outputs)

"""Save frames with predicted and true points drawn, during val/test."""
import os
import os.path as osp
from typing import Optional, Sequence

import cv2
import numpy as np
from mmengine.hooks import Hook
from mmpose.registry import HOOKS

from mmpose_carcinosis.visualization import draw_points


@HOOKS.register_module()
class PointVisualizationHook(Hook):
    """Write the first ``max_frames`` test (and, with ``on_val``, validation)
    frames with predicted points (dots) and true points (rings) to
    ``out_dir`` (relative paths are under the run's work dir).

    Each picture keeps the frame's path relative to the dataset's image
    folder (``images/v001/00000.jpg`` -> ``<out_dir>/v001/00000.png``), so
    frames of different videos that share a file name do not overwrite
    each other. Frames that cannot be read are skipped with a warning.

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

    def _draw(self, runner, outputs: Sequence, img_root: Optional[str]) -> None:
        if runner.rank != 0 or self._count >= self.max_frames:
            return
        out_dir = osp.join(runner.work_dir, self.out_dir)
        for ds in outputs[:self.max_frames - self._count]:
            img = cv2.imread(ds.img_path)
            if img is None:
                runner.logger.warning(f'{type(self).__name__}: cannot read '
                                      f'{ds.img_path}; not drawn')
                continue
            gt = ds.gt_instances.keypoints if 'keypoints' in ds.gt_instances \
                else np.zeros((0, 1, 2))
            drawn = draw_points(img, ds.pred_instances.keypoints,
                                ds.pred_instances.keypoint_scores, gt,
                                self.radius)
            path = osp.join(out_dir, picture_name(ds.img_path, img_root))
            os.makedirs(osp.dirname(path), exist_ok=True)
            cv2.imwrite(path, drawn)
            self._count += 1

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence] = None) -> None:
        self._draw(runner, outputs, _image_root(runner.test_loop))

    def after_val_iter(self, runner, batch_idx: int, data_batch=None,
                       outputs: Optional[Sequence] = None) -> None:
        if self.on_val:
            self._draw(runner, outputs, _image_root(runner.val_loop))


def _image_root(loop) -> Optional[str]:
    """The image folder of a loop's dataset (``data_prefix['img']``)."""
    dataset = getattr(getattr(loop, 'dataloader', None), 'dataset', None)
    prefix = getattr(dataset, 'data_prefix', None) or {}
    return prefix.get('img') or None


def picture_name(img_path: str, img_root: Optional[str]) -> str:
    """The drawn picture's path relative to the output folder: the frame's
    path relative to ``img_root`` (or, for frames outside it, the path
    without its root), with a ``.png`` extension."""
    rel = None
    if img_root:
        rel = osp.relpath(osp.abspath(img_path), osp.abspath(img_root))
        if rel.startswith('..'):
            rel = None
    if rel is None:
        rel = osp.splitdrive(osp.abspath(img_path))[1].lstrip('/\\')
    return osp.splitext(rel)[0] + '.png'


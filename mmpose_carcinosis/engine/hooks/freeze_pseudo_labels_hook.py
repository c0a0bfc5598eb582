"""Easy-to-hard rounds of self-training: the pseudo labels two successive
teachers agree on are frozen as labels."""
from typing import Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import Hook
from mmpose.registry import HOOKS

from mmpose_carcinosis.models.utils.pseudo_labels import near, select_pseudo_labels

from .utils import teacher_predictions, training_frames, unwrap_model


@HOOKS.register_module()
class FreezePseudoLabelsHook(Hook):
    """Freeze the pseudo labels that two successive teachers agree on.

    With rounds of self-training (:class:`TeacherRefreshHook`), each new
    teacher is recalibrated (:class:`PseudoThresholdHook`) and its pseudo
    labels replace the last teacher's: a nodule the last teacher found and
    the new one scores a little lower is lost again. Here, at the start of
    the first epoch and of every epoch whose teacher is new (the model's
    ``frozen_version`` differs from its ``teacher_version``), after the
    calibration, the teacher predicts on the training frames (validation
    pipeline, no augmentation; every rank its share); its pseudo labels
    (:func:`select_pseudo_labels` at the model's ``high_thr``, away from
    the clicks and the frozen labels, within the frame cap, on the frame
    itself, not the padding of a fitted one) are handed to
    ``model.freeze_stable``: those within ``click_radius`` of one of the
    last teacher's become labels for the rest of training, as clicks are.
    The first teacher only leaves candidates. The model keeps the frozen
    labels and the candidates in buffers (checkpoints and resumed runs carry
    them); the hook holds no state.

    With ``video`` (frames carrying ``video_id`` and ``frame_id``), a
    teacher's weak peaks (scores between the model's ``low_thr`` and
    ``high_thr``, away from the labels) are frozen too where one of its
    confident peaks on another frame of the video, carried there
    (:func:`~mmpose_carcinosis.datasets.propagation.confirm_in_video`:
    registration and local matching), lands within ``click_radius``: a
    nodule obvious in one frame confirms its faint view in the next. Every
    rank carries its share of the videos.

    The training pipeline's ``PackPoseInputs`` must pack ``'warp_mat'``
    (the frozen labels follow each sample's affine and flip).

    Args:
        batch_size (int): Frames per teacher forward pass. Defaults to 4.
        video (dict, optional): Confirm weak peaks across each video:
            ``max_gap`` (frames), ``min_ncc``, ``half``, ``search`` of
            :func:`~mmpose_carcinosis.datasets.propagation.propagate_video`
            (``dict()``: its defaults). Defaults to None (off).
    """

    priority = 'BELOW_NORMAL'  # after PseudoThresholdHook (NORMAL) calibrates

    def __init__(self, batch_size: int = 4, video: Optional[dict] = None):
        self.batch_size = batch_size
        self.video = None if video is None else dict(video)

    def before_train(self, runner) -> None:
        meta_keys = [t.get('meta_keys', ()) for t in runner.cfg.train_dataloader.dataset.get(
            'pipeline', []) if t.get('type') == 'PackPoseInputs']
        if meta_keys and 'warp_mat' not in meta_keys[-1]:
            raise ValueError("FreezePseudoLabelsHook: the training pipeline's PackPoseInputs "
                             "must pack 'warp_mat' (meta_keys), or frozen labels cannot follow "
                             'the augmentation')

    @torch.no_grad()
    def before_train_epoch(self, runner) -> None:
        model = unwrap_model(runner)
        if int(model.frozen_version) == int(model.teacher_version):
            return
        frames = training_frames(runner)
        rank, world = get_dist_info()
        high, low, cap = model.thresholds(0)
        ids, points, weak, known = [], [], {}, {}
        floor = high if self.video is None else low
        for sample in teacher_predictions(model, frames, range(rank, len(frames), world),
                                          batch_size=self.batch_size, score_floor=floor):
            pts = np.asarray(sample.pred_instances.keypoints, np.float32).reshape(-1, 2)
            score = np.asarray(sample.pred_instances.keypoint_scores).reshape(-1)
            img_id = int(sample.img_id)
            known[img_id] = np.concatenate([
                np.asarray(sample.gt_instances.keypoints, np.float32).reshape(-1, 2),
                model.frozen(img_id)])
            keep, _ = select_pseudo_labels(pts, score, known[img_id], high, model.click_radius,
                                           cap)
            # peaks on the padding of a fitted frame are not on the frame
            h, w = sample.metainfo['ori_shape'][:2]
            inside = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
            keep &= inside
            ids.append(np.full(int(keep.sum()), img_id, np.int64))
            points.append(pts[keep])
            # weak peaks: not beside a label or one of the confident peaks
            weak[img_id] = pts[inside & (score < high) &
                               ~near(pts, np.concatenate([known[img_id], pts[keep]]),
                                     model.click_radius)]
        ids, points = self._gather(ids, points)
        frozen = model.freeze_stable(ids, points)
        confirmed = 0
        if self.video is not None:
            v_ids, v_points = self._confirm_in_videos(
                frames, ids, points, all_gather_object(weak), all_gather_object(known),
                model.click_radius, rank, world)
            confirmed = model.freeze_points(v_ids, v_points)
            runner.message_hub.update_scalar('train/frozen/video_confirmed', confirmed)
        runner.logger.info(
            f'frozen pseudo labels: {frozen} new, {len(model.frozen_img_ids)} in all '
            f'({len(model.frozen_img_ids) / max(len(frames), 1):.2f} per training frame); '
            f'{len(ids)} candidates of teacher version {int(model.teacher_version)}' +
            (f'; {confirmed} weak peaks confirmed across video frames'
             if self.video is not None else ''))
        runner.message_hub.update_scalar('train/frozen/per_frame',
                                         len(model.frozen_img_ids) / max(len(frames), 1))

    @staticmethod
    def _gather(ids, points):
        """Every rank's (ids, points) lists, concatenated over ranks."""
        gathered = all_gather_object((np.concatenate(ids or [np.zeros(0, np.int64)]),
                                      np.concatenate(points or [np.zeros((0, 2), np.float32)])))
        return (np.concatenate([g[0] for g in gathered]),
                np.concatenate([g[1] for g in gathered]).reshape(-1, 2))

    def _confirm_in_videos(self, frames, ids, points, weak_parts, known_parts, radius,
                           rank, world):
        """The weak peaks confirmed across each video (every rank its share
        of the videos), gathered: (ids (M,), points (M, 2))."""
        from mmpose_carcinosis.datasets.propagation import (confirm_in_video, read_frames,
                                                            videos_of)
        weak = {k: v for part in weak_parts for k, v in part.items()}
        known = {k: v for part in known_parts for k, v in part.items()}
        videos, _ = videos_of(frames.get_data_info(i) for i in range(len(frames)))
        out_ids, out_points = [], []
        for video in videos[rank::world]:
            images = read_frames(video)
            if images is None:  # frames of several sizes cannot be registered
                continue
            img_ids = [int(d['img_id']) for d in video]
            masks = confirm_in_video(images, [points[ids == i] for i in img_ids],
                                     [weak[i] for i in img_ids], [known[i] for i in img_ids],
                                     radius, **self.video)
            for i, mask in zip(img_ids, masks):
                out_ids.append(np.full(int(mask.sum()), i, np.int64))
                out_points.append(weak[i][mask].astype(np.float32))
        return self._gather(out_ids, out_points)

"""Easy-to-hard rounds of self-training: the pseudo labels two successive
teachers agree on are frozen as labels."""
import numpy as np
import torch
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import Hook
from mmpose.registry import HOOKS

from mmpose_carcinosis.models.utils.pseudo_labels import select_pseudo_labels

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

    The training pipeline's ``PackPoseInputs`` must pack ``'warp_mat'``
    (the frozen labels follow each sample's affine and flip).
    """

    priority = 'BELOW_NORMAL'  # after PseudoThresholdHook (NORMAL) calibrates

    def __init__(self, batch_size: int = 4):
        self.batch_size = batch_size

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
        high, _, cap = model.thresholds(0)
        ids, points = [], []
        for sample in teacher_predictions(model, frames, range(rank, len(frames), world),
                                          batch_size=self.batch_size, score_floor=high):
            pts = np.asarray(sample.pred_instances.keypoints, np.float32).reshape(-1, 2)
            score = np.asarray(sample.pred_instances.keypoint_scores).reshape(-1)
            known = np.concatenate([
                np.asarray(sample.gt_instances.keypoints, np.float32).reshape(-1, 2),
                model.frozen(sample.img_id)])
            keep, _ = select_pseudo_labels(pts, score, known, high, model.click_radius, cap)
            # peaks on the padding of a fitted frame are not on the frame
            h, w = sample.metainfo['ori_shape'][:2]
            keep &= (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
            ids.append(np.full(int(keep.sum()), int(sample.img_id), np.int64))
            points.append(pts[keep])
        gathered = all_gather_object((np.concatenate(ids or [np.zeros(0, np.int64)]),
                                      np.concatenate(points or [np.zeros((0, 2), np.float32)])))
        ids = np.concatenate([g[0] for g in gathered])
        points = np.concatenate([g[1] for g in gathered]).reshape(-1, 2)
        frozen = model.freeze_stable(ids, points)
        runner.logger.info(
            f'frozen pseudo labels: {frozen} new, {len(model.frozen_img_ids)} in all '
            f'({len(model.frozen_img_ids) / max(len(frames), 1):.2f} per training frame); '
            f'{len(ids)} candidates of teacher version {int(model.teacher_version)}')
        runner.message_hub.update_scalar('train/frozen/per_frame',
                                         len(model.frozen_img_ids) / max(len(frames), 1))

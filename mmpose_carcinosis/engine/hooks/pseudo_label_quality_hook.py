"""Precision and recall of stage two's pseudo labels on the training frames,
against their dense truth (where it exists: generated data, or a densely
annotated subset)."""
import os.path as osp
from typing import Optional

import numpy as np
import torch
from mmengine.dist import all_reduce, get_dist_info
from mmengine.hooks import Hook
from mmpose.registry import HOOKS

from mmpose_carcinosis.models.utils.pseudo_labels import score_pseudo_labels

from .utils import teacher_predictions, train_dataset_cfg, training_frames, unwrap_model


@HOOKS.register_module()
class PseudoLabelQualityHook(Hook):
    """After every ``interval`` training epochs, run the teacher of a
    :class:`PointSelfTraining` model on the training frames (test
    pipeline, no augmentation; ``model.predict_teacher``) and score its
    pseudo labels (:func:`score_pseudo_labels`: predictions at or above
    ``high_thr`` farther than the model's ``click_radius`` from every
    click). Against the frames' dense truth (``dense_ann_file``, relative to
    the training data root), matched one-to-one within ``radius``:

    - ``pseudo/precision``: matched pseudo labels / pseudo labels;
    - ``pseudo/recall``: matched / true nodules farther than ``radius``
      from every click (the unclicked ones, ``click_radius``);
    - ``pseudo/per_frame``: pseudo labels per frame;
    - ``pseudo/high_thr``: the threshold in use;
    - ``pseudo/doubtful_frames``: frames over ``max_pseudo_per_frame``.

    With cross distillation the second teacher's pseudo labels (at its own
    thresholds) are scored too, as ``pseudo_b/...``; frozen labels
    (:class:`FreezePseudoLabelsHook`), once there are any, as
    ``frozen/precision``, ``frozen/recall`` and ``frozen/per_frame``
    (the dense file's frames share the training frames' ``img_id``). Logged
    and written to
    the visualizer's scalars (percent).

    Args:
        dense_ann_file (str): e.g. ``'annotations/train_dense.json'`` (the
            generator writes it).
        radius (float, optional): Matching radius, frame pixels. Defaults
            to the model's ``click_radius``.
        interval (int): Epochs between checks. Defaults to 1.
        batch_size (int): Defaults to 4.
    """

    priority = 'LOW'

    def __init__(self, dense_ann_file: str, radius: Optional[float] = None, interval: int = 1,
                 batch_size: int = 4):
        self.dense_ann_file = dense_ann_file
        self.radius = radius
        self.interval = interval
        self.batch_size = batch_size
        self._dataset = None
        self._clicks = None

    def _build(self, runner):
        self._dataset = training_frames(runner, self.dense_ann_file)
        clicks = training_frames(runner)
        self._clicks = {clicks.get_data_info(i)['img_path']:
                        clicks.get_data_info(i)['keypoints'].reshape(-1, 2)
                        for i in range(len(clicks))}

    def before_train(self, runner) -> None:
        """Fail before the first epoch, not after it, without the dense truth."""
        path = osp.join(train_dataset_cfg(runner).get('data_root', ''), self.dense_ann_file)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'PseudoLabelQualityHook: dense truth of the training frames {path} does not '
                'exist; remove the hook from custom_hooks where there is none')

    @torch.no_grad()
    def after_train_epoch(self, runner) -> None:
        if not self.every_n_epochs(runner, self.interval):
            return
        if self._dataset is None:
            self._build(runner)
        model = unwrap_model(runner)
        for pair in range(len(model.teachers())):
            self.check(runner, model, pair)

    def check(self, runner, model, pair: int) -> None:
        """Score and log the pseudo labels of teacher ``pair`` at its
        thresholds (keys ``pseudo<suffix>/...``). Every rank scores its
        share of the frames (``rank::world_size``, as MMEngine's
        DefaultSampler shares a validation set) and the counts are summed
        over ranks: the figures do not depend on the number of processes,
        and no rank waits alone in a collective while another runs the
        teacher over the whole training set."""
        suffix = model.pair_suffixes[pair]
        high, _, cap = model.thresholds(pair)
        rank, world_size = get_dist_info()
        # matched, pseudo labels, unclicked truth, doubtful frames; frozen
        # labels matched, frozen labels (FreezePseudoLabelsHook, pair 0)
        counts = np.zeros(6)
        for sample in teacher_predictions(model, self._dataset,
                                          range(rank, len(self._dataset), world_size),
                                          self.batch_size, pair=pair):
            pts = np.asarray(sample.pred_instances.keypoints).reshape(-1, 2)
            scores = np.asarray(sample.pred_instances.keypoint_scores).reshape(-1)
            truth = np.asarray(sample.gt_instances.keypoints).reshape(-1, 2)
            clicks = self._clicks.get(sample.img_path, np.zeros((0, 2)))
            keep, unclicked, found, over = score_pseudo_labels(
                pts, scores, truth, clicks, high, model.click_radius, self.radius, cap)
            counts[:4] += (found.sum(), keep.sum(), unclicked.sum(), over)
            frozen = model.frozen(sample.img_id) if pair == 0 else np.zeros((0, 2))
            if len(frozen):
                _, _, hit, _ = score_pseudo_labels(frozen, np.ones(len(frozen)), truth, clicks,
                                                   0.0, model.click_radius, self.radius)
                counts[4:] += (hit.sum(), len(frozen))
        counts = torch.from_numpy(counts)
        all_reduce(counts, op='sum')
        tp, n_pseudo, n_truth, doubtful, frozen_tp, n_frozen = counts.tolist()
        key = f'pseudo{suffix}'
        stats = {f'{key}/precision': 100.0 * tp / max(n_pseudo, 1),
                 f'{key}/recall': 100.0 * tp / max(n_truth, 1),
                 f'{key}/per_frame': n_pseudo / max(len(self._dataset), 1),
                 f'{key}/high_thr': float(high),
                 f'{key}/doubtful_frames': int(doubtful)}
        if n_frozen:
            stats.update({'frozen/precision': 100.0 * frozen_tp / n_frozen,
                          'frozen/recall': 100.0 * frozen_tp / max(n_truth, 1),
                          'frozen/per_frame': n_frozen / max(len(self._dataset), 1)})
        for k, v in stats.items():
            runner.message_hub.update_scalar(f'train/{k}', v)
        if rank != 0:
            return
        runner.logger.info(f'pseudo labels{suffix} after epoch {runner.epoch + 1} (teacher{suffix} '
                           f'>= {high:g}, unclicked truth of '
                           f'{osp.basename(self.dense_ann_file)}): ' + ', '.join(
                               f'{k} {v:.3g}' for k, v in stats.items()))
        runner.visualizer.add_scalars(stats, step=runner.epoch + 1)

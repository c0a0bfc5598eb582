"""Rounds of self-training: the teacher replaced by the student."""
import os.path as osp

import torch
from mmengine.dist import barrier, broadcast, get_dist_info
from mmengine.hooks import Hook
from mmpose.registry import HOOKS

from mmpose_carcinosis.utils import register_safe_globals, weights_under
from .utils import unwrap_model


@HOOKS.register_module()
class TeacherRefreshHook(Hook):
    """Every ``interval`` epochs, load the student's weights into the
    teacher of a :class:`PointSelfTraining` model: the next round of
    self-training learns from the better model's pseudo labels.

    The refresh happens at the start of epochs ``interval``, ``2 *
    interval``... (after the previous epoch's validation and checkpoints),
    from the current student (``source='student'``) or from the student of
    the best validation checkpoint so far (``source='best'``, needs
    ``CheckpointHook(save_best=...)``; the current student until one
    exists). The model's ``teacher_version`` buffer counts the refreshes
    (checkpoints carry it, so a resumed run does not refresh again);
    :class:`PseudoThresholdHook` recalibrates the thresholds for the new
    teacher. Do not combine with an EMA teacher (``MeanTeacherHook``).

    Args:
        interval (int): Epochs per round.
        source (str): ``'student'`` or ``'best'``. Defaults to ``'best'``.
    """

    priority = 'ABOVE_NORMAL'  # before PseudoThresholdHook (NORMAL)

    def __init__(self, interval: int, source: str = 'best'):
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        if source not in ('student', 'best'):
            raise ValueError(f"source must be 'student' or 'best', got {source!r}")
        self.interval = interval
        self.source = source

    def before_train_epoch(self, runner) -> None:
        if runner.epoch == 0 or runner.epoch % self.interval:
            return
        model = unwrap_model(runner)
        version = runner.epoch // self.interval
        if int(model.teacher_version) >= version:
            return  # resumed after this refresh
        best = runner.message_hub.get_info('best_ckpt') if self.source == 'best' else None
        # Only rank 0 writes checkpoints, and the file system may not be
        # shared between nodes: wait until its write is done, let it read
        # the weights, and give them to every rank (a frozen teacher is
        # never synchronised by DDP; ranks with different teachers would
        # make different pseudo labels).
        barrier()
        rank, _ = get_dist_info()
        found = torch.tensor([int(rank == 0 and bool(best) and osp.isfile(best))])
        broadcast(found)
        if found.item():
            weights = model.teacher.state_dict()
            if rank == 0:
                register_safe_globals()
                state = torch.load(best, map_location='cpu', weights_only=True)['state_dict']
                weights = weights_under(state, 'student.')
            origin = f'the student of {osp.basename(best)}'
        else:
            weights = model.student.state_dict()
            origin = f'the student after epoch {runner.epoch}'
        model.teacher.load_state_dict(weights)
        for value in model.teacher.state_dict().values():
            broadcast(value)
        model.teacher_version.fill_(version)
        runner.logger.info(f'teacher refreshed from {origin} (teacher version {version})')

"""Keep the score threshold chosen on validation inside the checkpoints."""
import os.path as osp
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmpose.registry import HOOKS

from mmpose_carcinosis.utils import meta_score_thr, store_score_thr


@HOOKS.register_module()
class ScoreThresholdHook(Hook):
    """After each validation, remember the threshold with the best F1
    (``point/best_thr`` of :class:`PointLocalizationMetric`) and store it
    in the ``meta`` of every checkpoint saved from then on:
    ``meta['score_thr']`` and ``meta['score_thr_source']`` (metric key and
    epoch). ``tools/infer.py``, ``tools/export_onnx.py`` and
    :func:`mmpose_carcinosis.apis.init_point_model` apply it by default.

    The best checkpoint (``CheckpointHook(save_best=...)``) is saved right
    after validation and carries that validation's threshold (this hook
    runs before the checkpoint hook). MMEngine saves ``epoch_N.pth``
    *before* the validation of epoch N; after that validation this hook
    rewrites the file's ``meta`` (rank 0, atomically: written beside it,
    then renamed), so the last checkpoint too carries its own
    validation's threshold. ``tools/test.py CONFIG CKPT --store-thr``
    recomputes and stores it for any checkpoint. The threshold is only as
    good as the validation decoding floor allows: validate with a
    ``decode_thr`` below the useful scores.

    Args:
        key (str): The metric holding the threshold.
    """

    priority = 'NORMAL'  # before CheckpointHook (VERY_LOW)

    def __init__(self, key: str = 'point/best_thr'):
        self.key = key
        self.thr: Optional[float] = None
        self.source: Optional[str] = None

    def after_val_epoch(self, runner, metrics=None) -> None:
        if metrics and self.key in metrics:
            self.thr = float(metrics[self.key])
            self.source = f'{self.key} on validation after epoch {runner.epoch}'
            if is_main_process():
                self._restamp(runner)

    def _restamp(self, runner) -> None:
        """Store the new threshold in ``epoch_<epoch>.pth`` if the
        checkpoint hook saved it before this validation."""
        from mmengine.hooks import CheckpointHook
        hooks = [h for h in getattr(runner, 'hooks', []) if isinstance(h, CheckpointHook)]
        if not hooks:
            return
        out_dir = getattr(hooks[0], 'out_dir', None) or runner.work_dir
        path = osp.join(out_dir, f'epoch_{runner.epoch}.pth')
        if osp.isfile(path):
            store_score_thr(path, self.thr, self.source)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.thr is not None:
            checkpoint.setdefault('meta', {}).update(score_thr=self.thr,
                                                     score_thr_source=self.source)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        thr, source = meta_score_thr(checkpoint.get('meta') or {})
        if thr is not None:  # resumed: keep it until the next validation
            self.thr, self.source = thr, source

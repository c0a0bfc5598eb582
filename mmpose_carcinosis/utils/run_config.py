"""Config handling shared by tools/train.py and tools/test.py."""
import os.path as osp
from typing import Optional

from mmengine.config import Config


def load_run_config(config: str, cfg_options: Optional[dict], launcher: str,
                    work_dir: Optional[str]) -> Config:
    """Load a config the way MMPose's tools do: merge ``--cfg-options``, set
    the launcher, and default the work dir to ``./work_dirs/<config name>``.
    Without a GPU, a distributed launcher is set up for gloo on the CPU
    (:func:`setup_cpu_distributed`)."""
    from .dist import setup_cpu_distributed
    cfg = Config.fromfile(config)
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])
    setup_cpu_distributed(cfg, launcher)
    return cfg


def point_network_cfg(model_cfg):
    """The config of the network that predicts (mutable, in place): the
    model config itself, or the ``detector`` of a stage-two wrapper
    (``PointSelfTraining``), whose student and teacher it builds. Its
    ``head`` holds the decoder (``decode_thr``) and its ``test_cfg`` the
    flip test."""
    return model_cfg.detector if 'detector' in model_cfg else model_cfg


def point_network_key(model_cfg, key: str = '') -> str:
    """The ``--cfg-options`` key of ``key`` in the predicting network's
    config (:func:`point_network_cfg`): ``model.<key>`` or, in a stage-two
    wrapper, ``model.detector.<key>``."""
    path = 'model.detector' if 'detector' in model_cfg else 'model'
    return f'{path}.{key}' if key else path


def predicting_prefix(model_cfg) -> str:
    """The prefix of the predicting network's weights in a checkpoint:
    ``''`` for a one-network model, ``'<semi_test_cfg.predict_on>.'`` (the
    student by default) for a stage-two wrapper."""
    if 'detector' not in model_cfg:
        return ''
    return f"{(model_cfg.get('semi_test_cfg') or {}).get('predict_on', 'student')}."


def checkpoint_head_cfg(meta: Optional[dict]):
    """The head config of the predicting network of the run that saved a
    checkpoint (MMEngine's ``meta['cfg']``, the config text), or None when
    the checkpoint carries no readable config."""
    text = (meta or {}).get('cfg')
    if not isinstance(text, str) or not text:
        return None
    try:
        model = Config.fromstring(text, '.py').get('model')
    except Exception:  # a config of another code base: nothing to compare
        return None
    return None if model is None else point_network_cfg(model).get('head')


def check_score_activation(meta: Optional[dict], score_activation: Optional[str],
                           checkpoint: str, key: str = 'model.head.score_activation') -> None:
    """Refuse to read a checkpoint's outputs through another activation.

    A network trained with ``score_activation=None`` (plain regression,
    ``KeypointMSELoss``) outputs scores; read through a sigmoid they all
    sit near 0.5 (and a sigmoid-trained network's logits read as scores
    are not in [0, 1]). Thresholds, pseudo labels and metrics would be
    computed on the wrong scale without a sign of it.

    Args:
        meta (dict, optional): The checkpoint's ``meta`` (MMEngine's
            ``meta['cfg']``); checkpoints without a config are not checked.
        score_activation (str, optional): What the model applies
            (``PointHeatmapHead.score_activation``).
        checkpoint (str): The checkpoint's path (for the message).
        key (str): The config key that sets the activation (for the message).

    Raises:
        ValueError: naming the checkpoint, both activations and the key.
    """
    head = checkpoint_head_cfg(meta)
    if head is None or 'PointHeatmapHead' not in str(head.get('type', '')):
        return
    saved = head.get('score_activation', 'sigmoid')
    if saved != score_activation:
        loss = (head.get('loss') or {}).get('type', 'its loss')
        raise ValueError(
            f'{checkpoint} was trained with score_activation={saved!r} ({loss}), but this '
            f'model reads its outputs with score_activation={score_activation!r}: every '
            f'score would be on the wrong scale. Set {key}={saved!r} (and a loss for '
            f'that activation, e.g. {loss}) to use this checkpoint.')


def check_checkpoint_activation(model_cfg, checkpoint: str) -> None:
    """:func:`check_score_activation` of the file ``checkpoint`` (its
    ``meta``, loaded with ``weights_only=True``) against the predicting
    network of ``model_cfg`` (:func:`point_network_cfg`), before a Runner
    loads it (``tools/test.py``); other heads, and paths that are not local
    files, are not checked."""
    head = point_network_cfg(model_cfg).get('head') or {}
    if 'PointHeatmapHead' not in str(head.get('type', '')) or not osp.isfile(checkpoint):
        return
    import torch

    from .checkpoint import register_safe_globals
    register_safe_globals()
    meta = torch.load(checkpoint, map_location='cpu', weights_only=True).get('meta')
    check_score_activation(meta, head.get('score_activation', 'sigmoid'), checkpoint,
                           point_network_key(model_cfg, 'head.score_activation'))

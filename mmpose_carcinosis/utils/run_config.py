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

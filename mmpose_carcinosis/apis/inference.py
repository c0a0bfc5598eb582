"""Batched inference of a point model on frames (arrays)."""
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dataset import Compose, pseudo_collate

from ..utils import check_score_activation, meta_score_thr, point_network_key, weights_under


def point_network_config(cfg):
    """The network that predicts, as a plain model config, and the prefix of
    its weights in the checkpoint: ``cfg.model`` itself (``''``), or for a
    stage-two config (a ``PointSelfTraining`` wrapper) its ``detector``
    with the wrapper's data preprocessor and ``'<semi_test_cfg.predict_on>.'``
    (the student by default)."""
    import copy

    from mmpose_carcinosis.utils import point_network_cfg, predicting_prefix
    model = cfg.model
    net = copy.deepcopy(point_network_cfg(model))
    if 'detector' not in model:
        return net, ''
    if model.get('data_preprocessor'):
        net.data_preprocessor = copy.deepcopy(model.data_preprocessor)
    return net, predicting_prefix(model)


def load_point_weights(model, checkpoint: str, prefix: str = '') -> dict:
    """Load ``checkpoint``'s weights under ``prefix`` into ``model``,
    strictly (a checkpoint of another model is an error naming it, not a
    model left with random weights). A stage-two checkpoint (``student.*``,
    ``teacher.*``) given with a stage-one config loads its student. Loaded
    with ``weights_only=True``. Returns the checkpoint's ``meta``."""
    ckpt = torch.load(checkpoint, map_location='cpu', weights_only=True)
    state = ckpt.get('state_dict', ckpt)
    if not prefix and not any(k in state for k in model.state_dict()) and any(
            k.startswith('student.') for k in state):
        prefix = 'student.'
    weights = weights_under(state, prefix)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise ValueError(
            f'{checkpoint} does not fit the config\'s model (weights under '
            f'{prefix or "the top level"!r}): {len(missing)} missing, e.g. {missing[:3]}; '
            f'{len(unexpected)} unexpected, e.g. {unexpected[:3]}')
    return ckpt.get('meta') or {}


def default_device() -> str:
    """``'cuda'`` where a GPU is visible, else ``'cpu'``."""
    import torch
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def init_point_model(config: str, checkpoint: str, device: Optional[str] = None,
                     score_thr: Optional[float] = None, cfg_options: Optional[dict] = None):
    """MMPose's ``init_model`` plus the score threshold that travels with
    the model: ``score_thr`` if given, else the one chosen on validation and
    stored in the checkpoint (``meta.score_thr``), else the config's
    ``decode_thr``. The decoder keeps the points reaching it. ``device``:
    default ``cuda`` where a GPU is visible, else ``cpu``.

    A stage-two config and checkpoint give the network that predicts (the
    student, :func:`point_network_config`) as a plain bottom-up model, so
    inference and ONNX export treat both stages alike. Weights are loaded
    strictly (:func:`load_point_weights`), and read through the activation
    they were trained with (:func:`check_score_activation`).

    Returns:
        tuple: the model (eval mode), the threshold and where it came from.
    """
    from mmengine.config import Config
    from mmpose.apis import init_model
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    key = point_network_key(cfg.model, 'head.score_activation')
    cfg.model, prefix = point_network_config(cfg)
    cfg.model.backbone.init_cfg = None  # the checkpoint holds every weight
    model = init_model(cfg, None, device=device or default_device())
    meta = load_point_weights(model, checkpoint, prefix)
    check_score_activation(meta, model.head.score_activation, checkpoint, key)
    if meta.get('dataset_meta'):
        model.dataset_meta = meta['dataset_meta']
    model.eval()
    source = 'command line'
    if score_thr is None:
        score_thr, source = meta_score_thr(meta)
    if score_thr is None:
        score_thr, source = float(model.head.decoder.decode_thr), 'config decode_thr'
    model.head.decoder.decode_thr = float(score_thr)
    return model, float(score_thr), source


@torch.no_grad()
def inference_point_frames(model, frames: Sequence[np.ndarray], pipeline=None
                           ) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Points of a batch of frames: MMPose's ``inference_bottomup`` (test
    pipeline, ``pseudo_collate``, ``test_step``) for several frames at once.

    Args:
        model: A bottom-up point model (``init_point_model``).
        frames (Sequence[np.ndarray]): BGR uint8 frames (H, W, 3), any sizes.
        pipeline (Compose, optional): The test pipeline; built from the
            model's config if not given.

    Returns:
        list[tuple]: per frame, points (M, 2) in frame pixels and scores (M,),
        best first, above the decoder's threshold.
    """
    if pipeline is None:
        pipeline = Compose(model.cfg.test_dataloader.dataset.pipeline)
    batch = pseudo_collate([pipeline(dict(img=f, **model.dataset_meta)) for f in frames])
    out = []
    for sample in model.test_step(batch):
        pred = sample.pred_instances
        pts = np.asarray(pred.keypoints, np.float32).reshape(-1, 2)
        scores = np.asarray(pred.keypoint_scores, np.float32).reshape(-1)
        order = np.argsort(-scores, kind='stable')
        out.append((pts[order], scores[order]))
    return out

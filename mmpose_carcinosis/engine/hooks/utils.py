"""Helpers shared by the hooks."""
import copy
from typing import Iterable, Iterator, Optional

import torch
from mmengine.dataset import pseudo_collate
from mmengine.model import is_model_wrapper
from mmpose.registry import DATASETS


def unwrap_model(runner):
    """The runner's model without its distributed wrapper."""
    return runner.model.module if is_model_wrapper(runner.model) else runner.model


def train_dataset_cfg(runner):
    """The training dataset's config, inside dataset wrappers such as
    ``RepeatDataset`` (a config with ``ann_file``)."""
    train = runner.cfg.train_dataloader.dataset
    while 'ann_file' not in train and isinstance(train.get('dataset'), dict):
        train = train['dataset']
    if 'ann_file' not in train:
        raise ValueError('stage-two hooks need a training dataset with an ann_file (inside '
                         f'RepeatDataset-like wrappers); got type {train.get("type")!r}')
    return train


def training_frames(runner, ann_file: Optional[str] = None):
    """The training split's frames with ``ann_file``'s annotations (a path
    relative to the training data root; default the training split's own)
    through the validation pipeline (no augmentation): what a teacher is
    scored or calibrated on."""
    train = train_dataset_cfg(runner)
    ann_file = train['ann_file'] if ann_file is None else ann_file
    return DATASETS.build(dict(
        type=train.type, data_root=train.get('data_root', ''),
        data_prefix=train.get('data_prefix', dict(img='')), ann_file=ann_file,
        test_mode=True, pipeline=copy.deepcopy(runner.cfg.val_dataloader.dataset.pipeline)))


@torch.no_grad()
def teacher_predictions(model, dataset, indices: Iterable[int], batch_size: int = 4,
                        pair: int = 0, score_floor: Optional[float] = None) -> Iterator:
    """The data samples teacher ``pair`` of ``model`` (a
    :class:`PointSelfTraining`) predicts on ``dataset[i]`` for ``i`` in
    ``indices``, in batches of ``batch_size`` (``model.predict_teacher``,
    decoded down to ``score_floor``)."""
    indices = list(indices)
    for start in range(0, len(indices), batch_size):
        items = [dataset[i] for i in indices[start:start + batch_size]]
        data = model.data_preprocessor(pseudo_collate(items), False)
        yield from model.predict_teacher(data['inputs'], data['data_samples'], pair,
                                         score_floor)

"""The drawing hook: pictures keep the frame's relative path."""
import logging
import os.path as osp
from types import SimpleNamespace

import cv2
import numpy as np
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample

from mmpose_carcinosis.engine import PointVisualizationHook
from mmpose_carcinosis.engine.hooks.point_visualization_hook import picture_name


def _sample(path):
    ds = PoseDataSample(metainfo=dict(img_path=path))
    ds.pred_instances = InstanceData(keypoints=np.array([[[5., 5.]]]),
                                     keypoint_scores=np.array([[0.9]]))
    ds.gt_instances = InstanceData(keypoints=np.array([[[6., 5.]]]))
    return ds


def test_frames_sharing_a_basename_do_not_overwrite(tmp_path, caplog):
    root = tmp_path / 'data' / 'images'
    paths = []
    for video, value in (('v001', 40), ('v002', 200)):
        (root / video).mkdir(parents=True)
        path = str(root / video / '00000.jpg')
        cv2.imwrite(path, np.full((16, 24, 3), value, np.uint8))
        paths.append(path)
    missing = str(root / 'v003' / '00000.jpg')
    loop = SimpleNamespace(dataloader=SimpleNamespace(
        dataset=SimpleNamespace(data_prefix=dict(img=str(root) + '/'))))
    runner = SimpleNamespace(rank=0, work_dir=str(tmp_path / 'work'), test_loop=loop,
                             logger=logging.getLogger('hook-test'))
    hook = PointVisualizationHook(out_dir='vis', max_frames=8, radius=3)
    hook.before_test_epoch(runner)
    with caplog.at_level(logging.WARNING, logger='hook-test'):
        hook.after_test_iter(runner, 0, outputs=[_sample(p) for p in paths + [missing]])
    out = [tmp_path / 'work' / 'vis' / v / '00000.png' for v in ('v001', 'v002')]
    assert all(p.is_file() for p in out)
    a, b = (cv2.imread(str(p)) for p in out)
    assert a[0, 0, 0] < 100 < b[0, 0, 0]  # each picture is its own frame
    assert 'cannot read' in caplog.text and 'v003' in caplog.text


def test_picture_name():
    assert picture_name('/d/images/v1/f.jpg', '/d/images/') == osp.join('v1', 'f.png')
    # outside the image folder, or no folder known: the path without its root
    assert picture_name('/x/v1/f.jpg', '/d/images') == osp.join('x', 'v1', 'f.png')
    assert picture_name('/x/v1/f.jpeg', None) == osp.join('x', 'v1', 'f.png')


def test_score_threshold_hook_keeps_the_validated_threshold():
    from mmpose_carcinosis.engine import ScoreThresholdHook
    hook = ScoreThresholdHook()
    runner = SimpleNamespace(epoch=4)
    ckpt = dict(meta=dict(epoch=4))
    hook.before_save_checkpoint(runner, ckpt)
    assert 'score_thr' not in ckpt['meta']  # nothing validated yet
    hook.after_val_epoch(runner, {'point/best_thr': 0.07, 'point/f1': 80.0})
    hook.before_save_checkpoint(runner, ckpt)
    assert ckpt['meta']['score_thr'] == 0.07
    assert 'after epoch 4' in ckpt['meta']['score_thr_source']
    # resumed from that checkpoint: carried on until the next validation
    fresh = ScoreThresholdHook()
    fresh.after_load_checkpoint(runner, ckpt)
    later = dict(meta={})
    fresh.before_save_checkpoint(runner, later)
    assert later['meta']['score_thr'] == 0.07


def test_epoch_seed_hook_restarts_persistent_workers_unless_told_not_to():
    from types import SimpleNamespace

    from mmpose_carcinosis.engine.hooks import EpochSeedHook

    class Iterator:
        shut = 0

        def _shutdown_workers(self):
            Iterator.shut += 1

    def runner():
        loader = SimpleNamespace(num_workers=2, persistent_workers=True, _iterator=Iterator(),
                                 worker_init_fn=None)
        return SimpleNamespace(seed=0, epoch=3, train_dataloader=loader)
    r = runner()
    EpochSeedHook().before_train_epoch(r)
    assert Iterator.shut == 1 and r.train_dataloader._iterator is None
    assert r.train_dataloader.worker_init_fn.keywords == dict(seed=0, epoch=3, rank=0)
    r = runner()
    EpochSeedHook(restart_workers=False).before_train_epoch(r)
    assert Iterator.shut == 1 and r.train_dataloader._iterator is not None
    # workers not started yet: they take the epoch's seeds either way
    r = runner()
    r.train_dataloader._iterator = None
    EpochSeedHook(restart_workers=False).before_train_epoch(r)
    assert r.train_dataloader.worker_init_fn.keywords['epoch'] == 3

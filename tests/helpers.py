"""Shared helpers of the tests that run the project's tools."""
import os
import os.path as osp
import math
import subprocess

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'cragtail_hrnet-w18s_1xb4-30e_synthetic-480x288.py')


def run(args, cwd=ROOT, env=None):
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    p = subprocess.run(args, cwd=cwd, env=full_env, capture_output=True, text=True)
    assert p.returncode == 0, f'{args} failed:\n{p.stdout[-4000:]}\n{p.stderr[-6000:]}'
    return p.stdout + p.stderr


def data_options(data_root, epochs):
    # seeded: a test's model is the same on every run and machine
    opts = [f'train_cfg.max_epochs={epochs}', 'train_cfg.val_interval=1',
            'default_hooks.logger.interval=1', 'randomness.seed=0']
    for split in ('train', 'val', 'test'):
        opts += [f'{split}_dataloader.dataset.data_root={data_root}',
                 f'{split}_dataloader.batch_size=2',
                 f'{split}_dataloader.num_workers=0',
                 f'{split}_dataloader.persistent_workers=False']
    return opts


def load_script(relpath):
    """Import a script of the repository (tools/, benchmarks/) as a module."""
    import importlib.util
    name = osp.splitext(osp.basename(relpath))[0]
    spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def gaussian(h, w, x, y, sigma):
    """A click's target as the codec writes it: cut at a 3 sigma window."""
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                            torch.arange(w, dtype=torch.float32), indexing='ij')
    g = torch.exp(-((xs - x)**2 + (ys - y)**2) / (2 * sigma**2))
    r = math.ceil(3 * sigma)
    return g * (((xs - x).abs() <= r) & ((ys - y).abs() <= r))


STAGE2 = osp.join(ROOT, 'configs', 'selftrain_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py')
CROSS = osp.join(ROOT, 'configs', 'crosstrain_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py')


def stage_two_model(config=STAGE2, model=None, **semi_train):
    """The demo's stage-two model with ``semi_train_cfg`` options changed
    (``model``: other top-level model options)."""
    from mmengine.config import Config
    from mmpose.registry import MODELS
    cfg = Config.fromfile(config)
    cfg.model.semi_train_cfg.update(semi_train)
    cfg.model.update(model or {})
    return MODELS.build(cfg.model)


def cross_model(**semi_train):
    return stage_two_model(CROSS, **semi_train)


def stage_two_batch(model, n=2):
    from mmpose.structures import PoseDataSample
    from mmengine.structures import PixelData, InstanceData
    codec = model.student.head.decoder
    w, h = codec.input_size
    hw, hh = codec.heatmap_size
    samples = []
    for i in range(n):
        s = PoseDataSample(metainfo=dict(flip_indices=[0]))
        heat = torch.zeros(1, hh, hw)
        heat[0, 10 + i, 20] = 1.0
        s.gt_fields = PixelData(heatmaps=heat)
        s.gt_instances = InstanceData(keypoints=torch.tensor([[[80.0, 40.0 + 4 * i]]]))
        samples.append(s)
    return torch.randn(n, 3, h, w), samples

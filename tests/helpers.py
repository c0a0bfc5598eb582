"""Shared helpers of the tests that run the project's tools."""
import os
import os.path as osp
import subprocess

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'cragtail_hrnet-w18s_1xb4-30e_synthetic-480x288.py')


def run(args, cwd=ROOT, env=None):
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    p = subprocess.run(args, cwd=cwd, env=full_env, capture_output=True, text=True)
    assert p.returncode == 0, f'{args} failed:\n{p.stdout[-4000:]}\n{p.stderr[-6000:]}'
    return p.stdout + p.stderr


def data_options(data_root, epochs):
    opts = [f'train_cfg.max_epochs={epochs}', 'train_cfg.val_interval=1',
            'default_hooks.logger.interval=1']
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

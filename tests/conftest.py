import json
import os.path as osp
import sys

import pytest

# the shared helpers (tests/helpers.py) for test modules in every subfolder
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import helpers  # noqa: E402

import mmpose_carcinosis  # noqa: F401  (registers the plugin)
from mmpose.utils import register_all_modules  # noqa: E402

register_all_modules(init_default_scope=True)  # what MMPose's Runner does


def write_json(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f)
    return str(path)


@pytest.fixture
def ann_factory(tmp_path):
    """Write an annotation file from images and annotations lists."""
    def make(images, annotations, name='ann.json', **extra):
        return write_json(tmp_path / name, dict(images=images,
                                                annotations=annotations,
                                                **extra))
    return make


# a small generated set and the demo config trained on it for 2 epochs,
# shared by the end-to-end and export tests
@pytest.fixture(scope='session')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('e2e') / 'data') + '/'
    helpers.run([sys.executable, 'tools/make_synthetic_dataset.py', root, '--seed', '1',
         '--videos', '2', '1', '1', '--frames-per-video', '2', '--size', '480',
         '270', '--nodule-radius', '2', '8'])
    return root


@pytest.fixture(scope='session')
def trained(data_root, tmp_path_factory):
    work = str(tmp_path_factory.mktemp('work'))
    log = helpers.run([sys.executable, 'tools/train.py', helpers.CONFIG, '--work-dir', work,
               '--cfg-options', *helpers.data_options(data_root, 2)])
    return work, log

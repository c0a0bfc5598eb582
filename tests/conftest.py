import json

import pytest

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

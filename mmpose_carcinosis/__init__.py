"""mmpose-carcinosis: sparse-point carcinosis localization for MMPose.

Importing the package registers its parts into MMPose's registries; in a
config: ``custom_imports = dict(imports=['mmpose_carcinosis'])``.
"""
from .version import __version__  # noqa: F401


def _check_mmpose():
    try:
        import mmpose
    except ImportError as e:  # pragma: no cover - environment problem
        raise ImportError(
            'mmpose_carcinosis needs MMPose 1.3 (with mmcv built with ops and '
            'mmdet); on a fresh machine run `make install`') from e
    major_minor = tuple(int(v) for v in mmpose.__version__.split('.')[:2])
    if major_minor != (1, 3):
        raise ImportError(f'mmpose_carcinosis is built for MMPose 1.3.x, found '
                          f'{mmpose.__version__}')


_check_mmpose()

from . import codecs, datasets, engine, evaluation, models, visualization  # noqa: F401,E402
from .utils import register_safe_globals  # noqa: E402

register_safe_globals()

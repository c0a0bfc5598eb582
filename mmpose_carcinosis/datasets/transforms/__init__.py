from .point_random_affine import PointRandomAffine
from .point_random_flip import PointRandomFlip

__all__ = ['PointRandomAffine', 'PointRandomFlip']

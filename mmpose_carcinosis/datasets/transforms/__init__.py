from .point_random_affine import PointRandomAffine

__all__ = ['PointRandomAffine']

from .dim_clicked_nodules import DimClickedNodules
from .point_random_affine import PointRandomAffine
from .point_random_flip import PointRandomFlip

__all__ = ['DimClickedNodules', 'PointRandomAffine', 'PointRandomFlip']

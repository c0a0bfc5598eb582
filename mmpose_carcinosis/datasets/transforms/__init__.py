from .appearance_map import AppearanceMap
from .dim_clicked_nodules import DimClickedNodules
from .paste_dimmed_nodules import PasteDimmedNodules
from .point_random_affine import PointRandomAffine
from .point_random_flip import PointRandomFlip

__all__ = ['AppearanceMap', 'DimClickedNodules', 'PasteDimmedNodules', 'PointRandomAffine', 'PointRandomFlip']

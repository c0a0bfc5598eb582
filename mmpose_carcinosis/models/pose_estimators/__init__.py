from .point_cross_training import PointCrossTraining
from .point_self_training import PointSelfTraining

__all__ = ['PointCrossTraining', 'PointSelfTraining']

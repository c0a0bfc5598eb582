from .point_self_training import PointSelfTraining

__all__ = ['PointSelfTraining']

from .point_self_training import PointSelfTraining, make_pseudo_targets

__all__ = ['PointSelfTraining', 'make_pseudo_targets']

from .epoch_seed_hook import EpochSeedHook
from .point_visualization_hook import PointVisualizationHook, draw_points

__all__ = ['EpochSeedHook', 'PointVisualizationHook', 'draw_points']

from .epoch_seed_hook import EpochSeedHook
from .point_visualization_hook import PointVisualizationHook, draw_points
from .score_threshold_hook import ScoreThresholdHook

__all__ = ['EpochSeedHook', 'PointVisualizationHook', 'ScoreThresholdHook', 'draw_points']
